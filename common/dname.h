/* common/dname.h - domain names in the three forms gridns uses.
 *
 *  wire: RFC 1035 uncompressed wire form, length-prefixed labels ending with
 *        the zero root label.  At most DNAME_MAX (255) octets.
 *  key:  the lookup key stored in snapshots: labels in REVERSE order (TLD
 *        first), each as a length octet followed by the label LOWERCASED, with
 *        no terminator.  The root is the empty key.  The key of an ancestor
 *        is a byte prefix of the key of every descendant, which is what makes
 *        closest-encloser and "anything below this name?" one cursor seek.
 *  text: presentation form, "a.example.com" (trailing dot optional on input,
 *        never emitted except for the root "."); \. and \DDD escapes accepted.
 *
 * All functions are pure, allocate nothing and are safe on any thread.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

#define DNAME_MAX 255
#define DNAME_LABEL_MAX 63
#define DNAME_TEXT_MAX 1024 /* worst case with \DDD escapes */

/* Text -> wire.  Returns the wire length (>=1) or GN_EINVAL. */
int dname_from_text(const char *text, size_t len, uint8_t wire[DNAME_MAX]);
/* Wire -> text (no trailing dot; root is ".").  Returns length or GN_ERANGE. */
int dname_to_text(const uint8_t *wire, char *buf, size_t cap);
/* Length of a well-formed wire name (including the root octet). */
int dname_wire_len(const uint8_t *wire);
/* Number of labels, not counting the root. */
int dname_labels(const uint8_t *wire);
/* Wire -> key (lowercased, reversed).  Returns key length (0 for root). */
int dname_wire_to_key(const uint8_t *wire, uint8_t key[DNAME_MAX]);
/* Key -> wire.  Returns the wire length or GN_EINVAL. */
int dname_key_to_wire(const uint8_t *key, size_t keylen, uint8_t wire[DNAME_MAX]);
/* Text -> key in one step.  Returns key length or GN_EINVAL. */
int dname_text_to_key(const char *text, size_t len, uint8_t key[DNAME_MAX]);
/* Key length of the parent of `key` (strip the last, most specific label);
 * returns -1 for the root key. */
int dname_key_parent(const uint8_t *key, size_t keylen);
/* Number of labels in a key. */
int dname_key_labels(const uint8_t *key, size_t keylen);
/* Case-insensitive equality of two wire names. */
int dname_wire_equal(const uint8_t *a, const uint8_t *b);
/* Lowercase an ASCII octet. */
static inline uint8_t dname_lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}
/* dname_lower of eight octets at once (any byte order: lanes are
 * independent).  Bit 7 of each lane of `up` is set for exactly the octets
 * in 'A'..'Z' (below 0x80, >= 'A', not > 'Z'); the additions cannot carry
 * between lanes because bit 7 is masked off first. */
static inline uint64_t dname_lower8(uint64_t x)
{
	const uint64_t lo7 = 0x7f7f7f7f7f7f7f7full, hi = 0x8080808080808080ull;
	uint64_t h = x & lo7;
	uint64_t ge_a = h + 0x3f3f3f3f3f3f3f3full; /* 0x80 - 'A' */
	uint64_t gt_z = h + 0x2525252525252525ull; /* 0x80 - 'Z' - 1 */
	uint64_t up = ge_a & ~gt_z & ~x & hi;
	return x | (up >> 2);
}
