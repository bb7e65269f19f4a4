/* resolver/zonetab.c - build and search the table of local (sub)zones. */
#include <stdlib.h>
#include <string.h>
#include "common/err.h"
#include "common/log.h"
#include "resolver/wire.h"
#include "resolver/zonetab.h"

struct build {
	struct zonetab *zt;
	size_t cap_zones, cap_nodes;
	size_t zone_first_node;  /* nodes of the zone being added start here */
};

static void zone_clear(struct zt_zone *z)
{
	free(z->name);
	free(z->ns);
	free(z->ds);
	free(z->tmpl);
}

void zonetab_free(struct zonetab *zt)
{
	if (!zt)
		return;
	for (size_t i = 0; i < zt->n_zones; i++)
		zone_clear(&zt->zones[i]);
	for (size_t i = 0; i < zt->n_nodes; i++)
		free(zt->nodes[i].ds);
	free(zt->zones);
	free(zt->nodes);
	memset(zt, 0, sizeof(*zt));
}

/* Copy a wire name from the map; a malformed one is corrupt data. */
static int copy_name(uint8_t dst[DNAME_MAX], const uint8_t *src)
{
	size_t n = src ? wire_name_len_in(src, src + DNAME_MAX) : 0;
	if (n == 0)
		return GN_ECORRUPT;
	memcpy(dst, src, n);
	return 0;
}

/* Node for (zone, full key): found or appended.  Returns its index or <0. */
static long node_get(struct build *b, uint32_t zone, const uint8_t *key, size_t keylen, bool apex)
{
	struct zonetab *zt = b->zt;

	/* Only the current zone's nodes can match: a rebuild stays linear in
	 * the number of zones. */
	for (size_t i = b->zone_first_node; i < zt->n_nodes; i++) {
		struct zt_node *n = &zt->nodes[i];
		if (n->zone == zone && n->keylen == keylen && memcmp(n->key, key, keylen) == 0)
			return (long)i;
	}
	if (zt->n_nodes == b->cap_nodes) {
		size_t nc = b->cap_nodes ? b->cap_nodes * 2 : 16;
		struct zt_node *nn = realloc(zt->nodes, nc * sizeof(*nn));
		if (!nn)
			return GN_ENOMEM;
		zt->nodes = nn;
		b->cap_nodes = nc;
	}
	struct zt_node *n = &zt->nodes[zt->n_nodes];
	memset(n, 0, sizeof(*n));
	memcpy(n->key, key, keylen);
	n->keylen = (uint8_t)keylen;
	n->zone = zone;
	n->apex = apex;
	return (long)zt->n_nodes++;
}

static int node_add_ds(struct zt_node *n, uint32_t ds)
{
	for (uint32_t i = 0; i < n->n_ds; i++)
		if (n->ds[i] == ds)
			return 0; /* "$DATASET t @ @" attaches once */
	uint32_t *nd = realloc(n->ds, (n->n_ds + 1) * sizeof(*nd));
	if (!nd)
		return GN_ENOMEM;
	n->ds = nd;
	n->ds[n->n_ds++] = ds;
	return 0;
}

static int add_zone_ds(struct build *b, uint32_t zi, const struct snap_zone *sz)
{
	struct zt_zone *z = &b->zt->zones[zi];
	uint8_t full[DNAME_MAX + 1];
	int ret = 0;

	if (sz->n_ds) {
		z->ds = calloc(sz->n_ds, sizeof(*z->ds));
		if (!z->ds)
			return GN_ENOMEM;
	}
	for (uint32_t i = 0; i < sz->n_ds; i++) {
		struct snap_ds d;
		if ((ret = snap_zone_ds(sz, i, &d)) < 0)
			goto out;
		z->ds[i].dsid = d.dsid;
		z->ds[i].type = d.type;
		z->ds[i].ttl = d.ttl;
		z->n_ds = i + 1;
		const uint8_t *s = d.subs;
		for (uint32_t k = 0; k < d.n_subs; k++) {
			size_t sl = *s++;
			if (z->keylen + sl > DNAME_MAX) {
				ret = GN_ECORRUPT;
				goto out;
			}
			memcpy(full, z->key, z->keylen);
			memcpy(full + z->keylen, s, sl);
			s += sl;
			long ni = node_get(b, zi, full, z->keylen + sl, sl == 0);
			if (ni < 0) {
				ret = (int)ni;
				goto out;
			}
			if ((ret = node_add_ds(&b->zt->nodes[ni], i)) < 0)
				goto out;
		}
	}
out:
	return ret;
}

static int zone_cb(void *arg, const struct snap_zone *sz)
{
	struct build *b = arg;
	struct zonetab *zt = b->zt;
	struct zt_zone *z;
	int ret = 0;

	if (zt->n_zones == b->cap_zones) {
		size_t nc = b->cap_zones ? b->cap_zones * 2 : 8;
		struct zt_zone *nz = realloc(zt->zones, nc * sizeof(*nz));
		if (!nz)
			return GN_ENOMEM;
		zt->zones = nz;
		b->cap_zones = nc;
	}
	z = &zt->zones[zt->n_zones];
	memset(z, 0, sizeof(*z));
	zt->n_zones++; /* counted now so zonetab_free releases partial state */
	if (sz->keylen > DNAME_MAX - 1)
		return GN_ECORRUPT;
	memcpy(z->key, sz->key, sz->keylen);
	z->keylen = sz->keylen;
	if (dname_key_to_wire(z->key, z->keylen, z->apex) < 0)
		return GN_ECORRUPT;
	z->name = malloc((size_t)sz->name_len + 1);
	if (!z->name)
		return GN_ENOMEM;
	memcpy(z->name, sz->name, sz->name_len);
	z->name[sz->name_len] = 0;
	z->has_soa = sz->has_soa;
	z->soa_ttl = sz->soa_ttl;
	z->serial = sz->serial;
	z->refresh = sz->refresh;
	z->retry = sz->retry;
	z->expire = sz->expire;
	z->minimum = sz->minimum;
	if (z->has_soa && ((ret = copy_name(z->mname, sz->mname)) < 0 ||
			   (ret = copy_name(z->rname, sz->rname)) < 0))
		return ret;
	z->ns_ttl = sz->ns_ttl;
	if (sz->n_ns) {
		z->ns = calloc(sz->n_ns, sizeof(*z->ns));
		if (!z->ns)
			return GN_ENOMEM;
		for (uint32_t i = 0; i < sz->n_ns; i++) {
			const uint8_t *w;
			if ((ret = snap_zone_ns(sz, i, &w)) < 0 || (ret = copy_name(z->ns[i], w)) < 0)
				return ret;
			z->n_ns = i + 1;
		}
	}
	z->ts_expires = sz->ts_expires;
	z->loaded = sz->loaded;
	b->zone_first_node = zt->n_nodes;
	/* The apex node exists even with no dataset at "@": SOA/NS live there. */
	long ni = node_get(b, (uint32_t)(zt->n_zones - 1), z->key, z->keylen, true);
	if (ni < 0)
		return (int)ni;
	return add_zone_ds(b, (uint32_t)(zt->n_zones - 1), sz);
}

static int node_cmp(const void *a, const void *b)
{
	const struct zt_node *x = a, *y = b;
	size_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
	int c = memcmp(x->key, y->key, n);
	if (c)
		return c;
	if (x->keylen != y->keylen)
		return x->keylen < y->keylen ? -1 : 1;
	/* Same point claimed twice (a combined subzone that is also a zone of
	 * its own): the zone's own apex sorts first and wins. */
	return (int)y->apex - (int)x->apex;
}

int zonetab_build(struct zonetab *out, snap_rd *rd)
{
	struct build b = { out, 0, 0, 0 };
	int ret;

	memset(out, 0, sizeof(*out));
	ret = snap_rd_zones(rd, zone_cb, &b);
	if (ret < 0)
		goto out;
	qsort(out->nodes, out->n_nodes, sizeof(*out->nodes), node_cmp);
	/* Drop duplicate points, keeping the first (apex-preferring) one. */
	size_t w = 0;
	for (size_t i = 0; i < out->n_nodes; i++) {
		struct zt_node *n = &out->nodes[i];
		if (w && out->nodes[w - 1].keylen == n->keylen &&
		    memcmp(out->nodes[w - 1].key, n->key, n->keylen) == 0) {
			free(n->ds);
			continue;
		}
		out->nodes[w++] = *n;
		int nl = dname_key_labels(n->key, n->keylen);
		if (nl > out->max_labels)
			out->max_labels = nl;
	}
	out->n_nodes = w;
	out->version = snap_rd_version(rd);
	out->built = true;
	ret = 0;
out:
	if (ret < 0)
		zonetab_free(out);
	return ret;
}

static const struct zt_node *find_exact(const struct zonetab *zt, const uint8_t *key, size_t keylen)
{
	size_t lo = 0, hi = zt->n_nodes;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct zt_node *n = &zt->nodes[mid];
		size_t m = n->keylen < keylen ? n->keylen : keylen;
		int c = memcmp(n->key, key, m);
		if (c == 0 && n->keylen != keylen)
			c = n->keylen < keylen ? -1 : 1;
		if (c == 0)
			return n;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct zt_node *zonetab_match(const struct zonetab *zt, const uint8_t *key,
				    size_t keylen, size_t *rel_off)
{
	size_t ends[128];
	int nl = 0;

	/* Label boundaries of the key: prefix lengths 0 (root), l1, l1+l2 ...
	 * Only the first max_labels can name a node: a DNSBL query's address
	 * labels below the zone are never walked. */
	ends[nl++] = 0;
	for (size_t i = 0; i < keylen && nl < 128 && nl <= zt->max_labels; i += key[i] + 1u)
		ends[nl++] = i + key[i] + 1u;
	for (int i = nl - 1; i >= 0; i--) {
		const struct zt_node *n = find_exact(zt, key, ends[i]);
		if (n) {
			*rel_off = ends[i];
			return n;
		}
	}
	return NULL;
}
