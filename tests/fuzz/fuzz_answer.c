/* tests/fuzz/fuzz_answer.c - the query path: parse and answer one packet
 * from a real snapshot, over UDP and over TCP, and through the handoff
 * variant the recursion path uses.
 *
 * The snapshot is built once, in LLVMFuzzerInitialize, from the demo data
 * in tests/data/sample (ip4set, ip6trie, dnset, master file) plus the
 * combined and generic fixtures of tests/data/compile, so every dataset
 * type's answer code is reachable.  The data directory is found relative
 * to the working directory (make runs from the top), or from
 * $GRIDNS_SRC when set.
 *
 * Checked beyond "no crash": every response is a packet ldns can read,
 * carries the query's ID, and fits the transport's limit (512 without
 * EDNS, the client's size within [512, our 1232] with it). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <ldns/ldns.h>
#include "resolver/answer.h"
#include "resolver/wire.h"
#include "zonesync/compile.h"
#include "zonesync/snap.h"
#include "zonesync/zimg.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define UDP_MAX 1232

static snap_env *env;
static struct answer_ctx *ctx;

static const char *const spec_fmt[] = {
	"bl.example.test:ip4set:%s/tests/data/sample/bl.example.test.ip4set",
	"bl6.example.test:ip6trie:%s/tests/data/sample/bl6.example.test.ip6trie",
	"dbl.example.test:dnset:%s/tests/data/sample/dbl.example.test.dnset",
	"route.example.test:zone:%s/tests/data/sample/route.example.test.zone",
	"cb.example.test:combined:%s/tests/data/compile/combined.txt",
	"gen.example.test:generic:%s/tests/data/compile/generic.txt",
};
#define N_SPECS (sizeof(spec_fmt) / sizeof(spec_fmt[0]))

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *src = getenv("GRIDNS_SRC") ? getenv("GRIDNS_SRC") : ".";
	char specs[N_SPECS][512];
	const char *sp[N_SPECS];
	struct compile_opts o = { .quiet = true };
	struct zimg **imgs = NULL;
	size_t n_imgs = 0;
	char dir[128];
	(void)argc;
	(void)argv;

	fz_quiet();
	for (size_t i = 0; i < N_SPECS; i++) {
		snprintf(specs[i], sizeof(specs[i]), spec_fmt[i], src);
		sp[i] = specs[i];
	}
	if (compile_specs(sp, N_SPECS, &o, &imgs, &n_imgs) != 0)
		fz_die("cannot compile the sample zones (run from the top directory "
		       "or set GRIDNS_SRC)");
	snprintf(dir, sizeof(dir), "%s/snap", fz_scratch());
	if (mkdir(dir, 0700) != 0 || snap_open(&env, dir, 0, NULL) != 0)
		fz_die("cannot create the snapshot");
	if (snap_put_zones(env, imgs, n_imgs, (int64_t)time(NULL)) != 0)
		fz_die("cannot store the sample zones");
	compile_free_all(imgs, n_imgs);
	struct answer_conf ac = { .udp_max = UDP_MAX, .minimal_any = true };
	if (answer_ctx_new(env, &ac, &ctx) != 0)
		fz_die("answer_ctx_new");
	return 0;
}

static void check(const uint8_t *q, size_t qlen, const uint8_t *resp, size_t n, size_t limit)
{
	if (n == 0)
		return;
	if (n > limit)
		fz_die("response larger than the transport allows");
	if (n < WIRE_HDR_LEN || resp[0] != q[0] || resp[1] != q[1])
		fz_die("response without the query's ID");
	ldns_pkt *p = NULL;
	ldns_status st = ldns_wire2pkt(&p, resp, n);
	if (st != LDNS_STATUS_OK) {
		fz_hex("query", q, qlen);
		fz_hex("response", resp, n);
		fprintf(stderr, "ldns: %s\n", ldns_get_errorstr_by_id(st));
		fz_die("response is not a readable DNS packet");
	}
	ldns_pkt_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t resp[WIRE_TCP_MAX];
	struct sockaddr_in peer = { .sin_family = AF_INET, .sin_port = htons(5353),
				    .sin_addr = { htonl(0x7f000001) } };
	struct wire_query wq;
	struct answer_handoff h;
	size_t limit = WIRE_UDP_MIN;

	if (answer_batch_begin(ctx) < 0)
		fz_die("snapshot unreadable");
	if (wire_parse_query(data, size, &wq) == WIRE_PARSE_OK && wq.edns && wq.edns_udp > limit)
		limit = wq.edns_udp < UDP_MAX ? wq.edns_udp : UDP_MAX;

	size_t n = answer_query(ctx, data, size, resp, sizeof(resp), ANSWER_UDP,
				(const struct sockaddr *)&peer);
	check(data, size, resp, n, limit);
	n = answer_query(ctx, data, size, resp, sizeof(resp), ANSWER_TCP,
			 (const struct sockaddr *)&peer);
	check(data, size, resp, n, WIRE_TCP_MAX);
	/* The smallest buffer a caller may pass. */
	n = answer_query(ctx, data, size, resp, WIRE_UDP_MIN, ANSWER_TCP,
			 (const struct sockaddr *)&peer);
	check(data, size, resp, n, WIRE_UDP_MIN);
	memset(&h, 0, sizeof(h));
	n = answer_query_ex(ctx, data, size, resp, sizeof(resp), ANSWER_UDP,
			    (const struct sockaddr *)&peer, &h);
	if (h.upstream && n != 0)
		fz_die("handoff with a response written");
	if (!h.upstream)
		check(data, size, resp, n, limit);
	answer_batch_end(ctx);
	return 0;
}
