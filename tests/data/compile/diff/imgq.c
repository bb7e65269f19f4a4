/* tests/data/compile/diff/imgq.c - compile specs with zonesync/compile.h and
 * print what the image answers for each query after "--" (IPv4/IPv6 address
 * or dnset name), rendering the stored template like the resolver does.
 * ALL=1 also prints the whole image.  Helper for run.sh, not built by make. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "zonesync/compile.h"
#include "common/err.h"
static void pv(const struct zimg_ds *ds, uint32_t vs, const char *subj) {
	const struct zimg_valset *s = &ds->valsets[vs];
	for (uint32_t i = 0; i < s->count; i++) {
		const struct zimg_val *v = &ds->vals[s->first + i];
		printf("  A %u.%u.%u.%u", v->a[0], v->a[1], v->a[2], v->a[3]);
		if (v->has_txt) {
			printf(" TXT \"");
			for (uint16_t k = 0; k < v->txt_len; k++) {
				if (v->txt[k] == '$') {
					if (k + 1 < v->txt_len && v->txt[k+1] == '$') { putchar('$'); k++; }
					else fputs(subj, stdout);
				} else putchar(v->txt[k]);
			}
			printf("\"");
		}
		printf("\n");
	}
}
int main(int argc, char **argv) {
	struct compile_opts o = { 0 };
	struct zimg *img;
	int n = 0;
	while (n + 1 < argc && strcmp(argv[n + 1], "--")) n++;
	int ret = compile_zone((const char *const *)argv + 1, n, &o, &img);
	if (ret < 0) { printf("ERR %s\n", gn_strerror(ret)); return 1; }
	printf("zone %s errors %zu soa %d serial %u ttl %u ns %u nsttl %u ts %lld/%lld\n", img->name, img->n_errors, img->soa.present, img->soa.serial, img->soa.ttl, img->n_ns, img->ns_ttl, (long long)img->ts_generated, (long long)img->ts_expires);
	for (uint32_t d = 0; d < img->n_ds; d++) {
		struct zimg_ds *ds = img->ds[d];
		printf("ds %s type %d ttl %u subs %u ip4 %zu ip6 %zu dom %zu rr %zu src %zu\n", ds->label, ds->type, ds->ttl, ds->n_subs, ds->n_ip4, ds->n_ip6, ds->n_dom, ds->n_rr, ds->n_source_entries);
		if (getenv("ALL")) {
			for (size_t i = 0; i < ds->n_ip4; i++) { printf(" %u.%u.%u.%u-%u.%u.%u.%u vs %u\n", ds->ip4[i].lo>>24, ds->ip4[i].lo>>16&255, ds->ip4[i].lo>>8&255, ds->ip4[i].lo&255, ds->ip4[i].hi>>24, ds->ip4[i].hi>>16&255, ds->ip4[i].hi>>8&255, ds->ip4[i].hi&255, ds->ip4[i].vs); pv(ds, ds->ip4[i].vs, "$");}
			for (size_t i = 0; i < ds->n_dom; i++) { char t[1100]; uint8_t w[256]; dname_key_to_wire(ds->dom[i].key, ds->dom[i].keylen, w); dname_to_text(w, t, sizeof t); printf(" dom %s exact %d wild %d\n", t, (int)ds->dom[i].vs_exact, (int)ds->dom[i].vs_wild); if (ds->dom[i].vs_exact < ds->n_valsets) pv(ds, ds->dom[i].vs_exact, "$"); if (ds->dom[i].vs_wild < ds->n_valsets) pv(ds, ds->dom[i].vs_wild, "$");}
			for (size_t i = 0; i < ds->n_ip6; i++) { char a[64], b[64]; inet_ntop(AF_INET6, ds->ip6[i].lo, a, 64); inet_ntop(AF_INET6, ds->ip6[i].hi, b, 64); printf(" %s - %s vs %u\n", a, b, ds->ip6[i].vs); pv(ds, ds->ip6[i].vs, "$"); }
			for (size_t i = 0; i < ds->n_rr; i++) { char t[1100]; uint8_t w[256]; dname_key_to_wire(ds->rr[i].key, ds->rr[i].keylen, w); dname_to_text(w, t, sizeof t); printf(" rr %s type %u ttl %u rdlen %u\n", t, ds->rr[i].type, ds->rr[i].ttl, ds->rr[i].rdlen); }
		}
		/* queries after -- */
		for (int a = n + 2; a < argc; a++) {
			if (ds->n_ip6 && strchr(argv[a], ':')) {
				uint8_t x6[16]; inet_pton(AF_INET6, argv[a], x6);
				size_t lo = 0, hi = ds->n_ip6;
				while (lo < hi) { size_t m = (lo + hi) / 2; if (memcmp(ds->ip6[m].hi, x6, 16) < 0) lo = m + 1; else hi = m; }
				char t6[64]; inet_ntop(AF_INET6, x6, t6, 64);
				printf("Q %s|", argv[a]);
				if (lo < ds->n_ip6 && memcmp(ds->ip6[lo].lo, x6, 16) <= 0) { printf("\n"); pv(ds, ds->ip6[lo].vs, t6); } else printf(" NX\n");
				continue;
			}
			if (ds->n_dom) {
				uint8_t k[256]; int kl = dname_text_to_key(argv[a], strlen(argv[a]), k);
				printf("Q %s|", argv[a]);
				uint32_t vs = ZIMG_NONE; int ml = kl, first = 1;
				for (int l = kl; l >= 0; ) {
					for (size_t i = 0; i < ds->n_dom; i++) if (ds->dom[i].keylen == l && !memcmp(ds->dom[i].key, k, l)) {
						uint32_t v = first ? ds->dom[i].vs_exact : ZIMG_NONE;
						if (v == ZIMG_NONE && !first) v = ds->dom[i].vs_wild;
						if (v != ZIMG_NONE) { vs = v; ml = l; }
						break;
					}
					if (vs != ZIMG_NONE) break;
					if (first) { first = 0; l = dname_key_parent(k, kl); if (l < 0) break; continue; }
					if (l == 0) break;
					l = dname_key_parent(k, l);
				}
				if (vs == ZIMG_NONE || vs == ZIMG_EXCL) { printf(" NX\n"); continue; }
				uint8_t w[256]; char t[1100]; dname_key_to_wire(k, ml, w); dname_to_text(w, t, sizeof t);
				printf("\n"); pv(ds, vs, t); continue;
			}
			if (ds->n_ip4 == 0) continue;
			struct in_addr in; inet_pton(AF_INET, argv[a], &in); uint32_t x = ntohl(in.s_addr);
			size_t lo = 0, hi = ds->n_ip4;
			while (lo < hi) { size_t m = (lo + hi) / 2; if (ds->ip4[m].hi < x) lo = m + 1; else hi = m; }
			printf("Q %s|", argv[a]);
			if (lo < ds->n_ip4 && ds->ip4[lo].lo <= x) { printf("\n"); pv(ds, ds->ip4[lo].vs, argv[a]); } else printf(" NX\n");
		}
	}
	zimg_free(img);
	return 0;
}
