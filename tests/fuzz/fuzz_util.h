/* tests/fuzz/fuzz_util.h - helpers shared by the libFuzzer targets: a private
 * scratch directory, writing an input to a file for the compilers (which
 * only read files), and deriving a query from a fuzzed packet so that a
 * response-handling target reaches past the "does it answer my question"
 * check.  Static functions; each target includes this once. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common/log.h"
#include "resolver/wire.h"

/* Abort with a message: a harness problem must never look like a pass. */
static inline void fz_die(const char *what)
{
	fprintf(stderr, "fuzz harness: %s\n", what);
	abort();
}

static char fz_dir[64];

/* rm -r of the scratch directory at exit, so a long run leaves nothing. */
static inline void fz_cleanup(void)
{
	char cmd[128];
	if (!fz_dir[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fz_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz harness: could not remove %s\n", fz_dir);
}

/* A private directory, on tmpfs when there is one: the dataset targets write
 * every input to a file, and a disk would make that the bottleneck. */
static inline const char *fz_scratch(void)
{
	if (fz_dir[0])
		return fz_dir;
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(fz_dir, sizeof(fz_dir), "%s/gridns-fuzz-XXXXXX", base);
	if (!mkdtemp(fz_dir))
		fz_die("mkdtemp failed");
	atexit(fz_cleanup);
	return fz_dir;
}

/* Write data[0..n) to `path`, replacing it. */
static inline void fz_write(const char *path, const uint8_t *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		fz_die("cannot create scratch file");
	if (n && fwrite(data, 1, n, f) != n)
		fz_die("cannot write scratch file");
	if (fclose(f) != 0)
		fz_die("cannot close scratch file");
}

/* Errors only: bad input is the normal case here and logging every line
 * of it would cost more than the code under test. */
static inline void fz_quiet(void)
{
	log_init("fuzz", LOG_LVL_ERR);
}

/* The question of packet pkt[0..len) as a query, when it has one: the
 * packet is copied to `buf` (len <= cap) with QR cleared and parsed as a
 * query, so q's pointers point into buf.  Returns false when the packet
 * has no parsable question. */
static inline bool fz_query_of(const uint8_t *pkt, size_t len, uint8_t *buf, size_t cap,
			struct wire_query *q)
{
	if (len > cap || len < WIRE_HDR_LEN)
		return false;
	memcpy(buf, pkt, len);
	buf[2] &= 0x7f;
	return wire_parse_query(buf, len, q) == WIRE_PARSE_OK && q->has_question;
}

/* Swap the case of every letter in the labels of the well-formed wire
 * name `name` (length octets untouched), as a 0x20-randomizing client
 * would send it. */
static inline void fz_flip_case(uint8_t *name)
{
	while (*name) {
		uint8_t n = *name++;
		for (uint8_t i = 0; i < n; i++, name++)
			if ((*name | 0x20) >= 'a' && (*name | 0x20) <= 'z')
				*name ^= 0x20;
	}
}

/* Hex of buf[0..n) on stderr, to explain a failed check. */
static inline void fz_hex(const char *what, const uint8_t *buf, size_t n)
{
	fprintf(stderr, "%s (%zu octets):", what, n);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "%s%02x", i % 32 ? " " : "\n  ", buf[i]);
	fprintf(stderr, "\n");
}

/* Skip a possibly compressed name at *off in pkt[0..len); pointers must
 * point backwards (so a walk always ends).  Returns false when malformed. */
static inline bool fz_skip_name(const uint8_t *pkt, size_t len, size_t *off)
{
	size_t o = *off, end = 0, hops = 0;
	for (;;) {
		if (o >= len)
			return false;
		uint8_t c = pkt[o];
		if ((c & 0xc0) == 0xc0) {
			if (o + 1 >= len || ++hops > 127)
				return false;
			size_t to = (size_t)(c & 0x3f) << 8 | pkt[o + 1];
			if (!end)
				end = o + 2;
			if (to >= o)
				return false;
			o = to;
		} else if (c & 0xc0) {
			return false;
		} else if (c == 0) {
			*off = end ? end : o + 1;
			return true;
		} else {
			o += c + 1u;
		}
	}
}

/* Structural check of a DNS message: the header counts match the records,
 * every name and RDLENGTH stays inside, nothing is left over.  Says nothing
 * about the RDATA contents (the cache passes them through verbatim). */
static inline bool fz_walk(const uint8_t *pkt, size_t len)
{
	size_t off = WIRE_HDR_LEN;
	if (len < WIRE_HDR_LEN)
		return false;
	unsigned qd = (unsigned)(pkt[4] << 8 | pkt[5]);
	unsigned rr = (unsigned)(pkt[6] << 8 | pkt[7]) + (unsigned)(pkt[8] << 8 | pkt[9]) +
		      (unsigned)(pkt[10] << 8 | pkt[11]);
	for (unsigned i = 0; i < qd; i++) {
		if (!fz_skip_name(pkt, len, &off) || off + 4 > len)
			return false;
		off += 4;
	}
	for (unsigned i = 0; i < rr; i++) {
		if (!fz_skip_name(pkt, len, &off) || off + 10 > len)
			return false;
		size_t rdlen = (size_t)(pkt[off + 8] << 8 | pkt[off + 9]);
		off += 10 + rdlen;
		if (off > len)
			return false;
	}
	return off == len;
}
