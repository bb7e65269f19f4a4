/* tests/fuzz/fuzz_cache.c - cache_store() of a hostile upstream packet, then
 * cache_lookup() of its question, fresh and past expiry (serve-stale).
 *
 * The first input octet picks the client's flags (CD, DO, case, store
 * flags, clock step); the rest is the packet, whose own question is used
 * so the fuzzer reaches the record walk and the TTL bookkeeping.  One cache
 * lives for the whole run with a small byte bound, so entries are replaced
 * and evicted across inputs as in a long-running worker.  Checked: a hit
 * fits `cap`, carries the client's ID, and is a well-formed message
 * (counts, names, RDLENGTHs; cache_store validates that much and passes
 * RDATA through verbatim, so a TXT string running past its RDATA is the
 * tier's business, not a cache bug). */
#include <stdint.h>
#include <string.h>
#include "common/err.h"
#include "resolver/cache.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cache *cache;
static uint64_t now_ms = 1000000;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct cache_conf cc;
	(void)argc;
	(void)argv;
	fz_quiet();
	cache_conf_default(&cc);
	cc.max_bytes = 64 * 1024;
	cc.serve_stale = true;
	cc.prefetch = true;
	if (cache_new(&cc, &cache) != 0)
		fz_die("cache_new");
	return 0;
}

static void check_hit(int n, size_t cap, const uint8_t *out, uint16_t id)
{
	if (n <= 0)
		return;
	if ((size_t)n > cap)
		fz_die("hit larger than cap");
	if ((out[0] << 8 | out[1]) != id)
		fz_die("hit without the client's ID");
	if (!fz_walk(out, (size_t)n)) {
		fz_hex("answer", out, (size_t)n);
		fz_die("cached answer is not a well-formed DNS message");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t qbuf[WIRE_TCP_MAX], out[WIRE_TCP_MAX];
	struct wire_query wq;
	struct cache_result res;

	if (size < 1)
		return 0;
	uint8_t ctl = data[0];
	if (!fz_query_of(data + 1, size - 1, qbuf, sizeof(qbuf), &wq))
		return 0;
	struct cache_query cq = {
		.qname = wq.qname, .qname_len = wq.qname_len,
		.qtype = wq.qtype, .qclass = wq.qclass, .id = 0x1234,
		.flags = (uint16_t)(WIRE_F_RD | ((ctl & 0x01) ? WIRE_F_CD : 0)
				    | ((ctl & 0x02) ? WIRE_F_AD : 0)),
		.do_bit = (ctl & 0x04) != 0,
	};
	int r = cache_store(cache, &cq, data + 1, size - 1,
			    (ctl & 0x08) ? CACHE_STORE_NO_STALE : 0, now_ms);
	if (r != 0 && r != CACHE_NOT_CACHED && r != GN_EINVAL && r != GN_ENOMEM)
		fz_die("cache_store: undocumented result");

	/* Ask again as a different client would: another ID, maybe another
	 * case, into a buffer that is sometimes too small. */
	if (ctl & 0x10)
		fz_flip_case(qbuf + WIRE_HDR_LEN);
	cq.id = 0x5678;
	size_t cap = (ctl & 0x20) ? WIRE_UDP_MIN : sizeof(out);
	int n = cache_lookup(cache, &cq, 0, now_ms, out, cap, &res);
	check_hit(n, cap, out, cq.id);
	if (n > 0)
		(void)cache_should_refresh(cache, &res.ref, now_ms);

	/* Past every TTL but within stale-max-age: the stale path. */
	n = cache_lookup(cache, &cq, CACHE_LOOKUP_STALE, now_ms + 3600 * 1000 * 24ull,
			 out, cap, &res);
	check_hit(n, cap, out, cq.id);
	if (ctl & 0x40)
		now_ms += 1000 * (uint64_t)(ctl & 0x3f);
	return 0;
}
