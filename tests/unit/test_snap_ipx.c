/* tests/unit/test_snap_ipx.c - the interval index of IP datasets (ipx in
 * zonesync/snap_format.h): it must answer exactly as the ip4/ip6 B-trees and
 * a plain scan of the ranges do, refuse a damaged index, stay out of the way
 * of a snapshot written without it, and go away with the dataset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <lmdb.h>
#include "common/err.h"
#include "zonesync/snap.h"
#include "zonesync/snap_format.h"
#include "zonesync/zimg.h"

struct fx {
	char dir[64];
	snap_env *env;
	snap_rd *rd;
	struct zimg *img;
};

static void fx_open(struct fx *f, unsigned flags)
{
	assert_int_equal(snap_open(&f->env, f->dir, flags, NULL), 0);
	assert_int_equal(snap_rd_new(f->env, &f->rd), 0);
}

static void fx_close(struct fx *f)
{
	snap_rd_free(f->rd);
	snap_close(f->env);
	f->rd = NULL;
	f->env = NULL;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	strcpy(f->dir, "/tmp/gridns-test-ipx-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	fx_open(f, 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];
	fx_close(f);
	zimg_free(f->img);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A dataset whose value sets answer 127.0.0.(i+1) for set i, so an answer
 * names the range it came from. */
static struct zimg_ds *add_ds(struct zimg *img, enum zimg_dstype t, uint32_t n_sets)
{
	struct zimg_ds *ds;
	assert_int_equal(zimg_add_ds(img, t, "t", &ds), 0);
	for (uint32_t i = 0; i < n_sets; i++) {
		struct zimg_val v = { .a = { 127, 0, 0, (uint8_t)(i + 1) } };
		assert_int_equal(zimg_ds_valset(ds, &v, 1), (int64_t)i);
	}
	return ds;
}

static void put(struct fx *f)
{
	assert_int_equal(zimg_finish(f->img), 0);
	assert_int_equal(snap_put_zones(f->env, &f->img, 1, 1000), 0);
}

static uint32_t dsid_of(struct fx *f, uint32_t i)
{
	struct snap_zone z;
	struct snap_ds d;
	assert_int_equal(snap_rd_zone(f->rd, f->img->key, f->img->keylen, &z), 1);
	assert_int_equal(snap_zone_ds(&z, i, &d), 0);
	return d.dsid;
}

/* The value set's answer octet (127.0.0.x), or 0 when not listed. */
static int answer_of(int r, struct snap_valset vs)
{
	struct snap_val v;
	if (r != 1)
		return r;
	assert_int_equal(snap_valset_next(&vs, &v), 1);
	return v.a[3];
}

static int naive4(const struct zimg_ds *ds, uint32_t a)
{
	for (size_t i = 0; i < ds->n_ip4; i++)
		if (ds->ip4[i].lo <= a && a <= ds->ip4[i].hi)
			return (int)ds->ip4[i].vs + 1;
	return 0;
}

static int naive6(const struct zimg_ds *ds, const uint8_t a[16])
{
	for (size_t i = 0; i < ds->n_ip6; i++)
		if (memcmp(ds->ip6[i].lo, a, 16) <= 0 && memcmp(a, ds->ip6[i].hi, 16) <= 0)
			return (int)ds->ip6[i].vs + 1;
	return 0;
}

/* Index, B-tree and scan agree on one address (the reader is active). */
static void check4(snap_rd *rd, uint32_t dsid, const struct zimg_ds *ds, uint32_t a)
{
	struct snap_valset vi, vb;
	int ri, rb;

	snap_rd_use_index(rd, false);
	rb = snap_ip4_find(rd, dsid, a, &vb);
	snap_rd_use_index(rd, true);
	ri = snap_ip4_find(rd, dsid, a, &vi);
	if (ri != rb || answer_of(ri, vi) != naive4(ds, a))
		fail_msg("address %08x: index %d (%d), B-tree %d (%d), scan %d", a, ri,
			 answer_of(ri, vi), rb, answer_of(rb, vb), naive4(ds, a));
	if (ri == 1)
		assert_ptr_equal(vi.p, vb.p);
}

static void check6(snap_rd *rd, uint32_t dsid, const struct zimg_ds *ds, const uint8_t a[16])
{
	struct snap_valset vi, vb;
	int ri, rb;

	snap_rd_use_index(rd, false);
	rb = snap_ip6_find(rd, dsid, a, &vb);
	snap_rd_use_index(rd, true);
	ri = snap_ip6_find(rd, dsid, a, &vi);
	if (ri != rb || answer_of(ri, vi) != naive6(ds, a))
		fail_msg("address %02x%02x..%02x%02x: index %d, B-tree %d, scan %d", a[0], a[1],
			 a[14], a[15], ri, rb, naive6(ds, a));
	if (ri == 1)
		assert_ptr_equal(vi.p, vb.p);
}

/* Every range end, its neighbours, the address space's ends and every
 * bucket boundary of a 16-bit table. */
static void check4_edges(snap_rd *rd, uint32_t dsid, const struct zimg_ds *ds)
{
	check4(rd, dsid, ds, 0);
	check4(rd, dsid, ds, 1);
	check4(rd, dsid, ds, 0xfffffffeu);
	check4(rd, dsid, ds, 0xffffffffu);
	for (size_t i = 0; i < ds->n_ip4; i++) {
		uint32_t lo = ds->ip4[i].lo, hi = ds->ip4[i].hi;
		check4(rd, dsid, ds, lo - 1);
		check4(rd, dsid, ds, lo);
		check4(rd, dsid, ds, lo + (hi - lo) / 2);
		check4(rd, dsid, ds, hi);
		check4(rd, dsid, ds, hi + 1);
	}
	for (uint32_t b = 0; b < 65536; b += 97) {
		check4(rd, dsid, ds, b << 16);
		check4(rd, dsid, ds, (b << 16) - 1);
	}
}

static void add4(struct zimg_ds *ds, uint32_t lo, uint32_t hi, uint32_t vs)
{
	assert_int_equal(zimg_ds_add_ip4(ds, lo, hi, vs), 0);
}

static void test_ipx_ip4_edges(void **state)
{
	struct fx *f = *state;
	struct zimg_ds *ds[5];

	f->img = zimg_new("edges.example");
	assert_non_null(f->img);
	/* 0: both ends of the space, adjacent ranges, ranges spanning buckets
	 *    (20 ranges: 4-bit table) */
	ds[0] = add_ds(f->img, ZDS_IP4SET, 4);
	add4(ds[0], 0, 0, 0);
	add4(ds[0], 5, 9, 1);
	add4(ds[0], 10, 10, 2);           /* adjacent to the one before */
	add4(ds[0], 11, 20, 3);           /* and again */
	add4(ds[0], 0x20000000u, 0x5fffffffu, 0); /* buckets 2..5 */
	add4(ds[0], 0x60000000u, 0x60000000u, 1); /* starts a bucket */
	add4(ds[0], 0x7fffffffu, 0x80000000u, 2); /* across a bucket edge */
	for (uint32_t i = 0; i < 12; i++)
		add4(ds[0], 0x90000000u + i * 0x100, 0x90000000u + i * 0x100 + 7, i % 4);
	add4(ds[0], 0xfffffff0u, 0xffffffffu, 3);
	/* 1: one range */
	ds[1] = add_ds(f->img, ZDS_IP4SET, 1);
	add4(ds[1], 0x01020304u, 0x01020304u, 0);
	/* 2: nothing */
	ds[2] = add_ds(f->img, ZDS_IP4TRIE, 1);
	/* 3: 300 ranges in 10.0.0.0/16, 8-bit table: 255 buckets empty */
	ds[3] = add_ds(f->img, ZDS_IP4SET, 3);
	for (uint32_t i = 0; i < 300; i++)
		add4(ds[3], 0x0a000000u + i * 200, 0x0a000000u + i * 200 + i % 7, i % 3);
	/* 4: one range covering everything */
	ds[4] = add_ds(f->img, ZDS_IP4SET, 1);
	add4(ds[4], 0, 0xffffffffu, 0);
	put(f);

	assert_int_equal(snap_rd_begin(f->rd), 0);
	for (uint32_t d = 0; d < 5; d++)
		check4_edges(f->rd, dsid_of(f, d), ds[d]);
	/* spot checks of what the comparisons rely on */
	{
		struct snap_valset vs;
		uint32_t id = dsid_of(f, 0);
		assert_int_equal(answer_of(snap_ip4_find(f->rd, id, 0x40000000u, &vs), vs), 1);
		assert_int_equal(answer_of(snap_ip4_find(f->rd, id, 10, &vs), vs), 3);
		assert_int_equal(snap_ip4_find(f->rd, id, 21, &vs), 0);
		assert_int_equal(snap_ip4_find(f->rd, dsid_of(f, 2), 0x01020304u, &vs), 0);
		assert_int_equal(snap_ip4_find(f->rd, dsid_of(f, 3), 0x0b000000u, &vs), 0);
	}
	snap_rd_end(f->rd);
}

static int cmp32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static void test_ipx_ip4_random(void **state)
{
	struct fx *f = *state;
	struct zimg_ds *ds;
	uint64_t seed = 0x9e3779b97f4a7c15u;
	uint32_t *pt, n = 0, prev_hi = 0, id;
	const uint32_t want = 6000;

	f->img = zimg_new("rand4.example");
	assert_non_null(f->img);
	ds = add_ds(f->img, ZDS_IP4SET, 50);
	pt = malloc(2 * want * sizeof(*pt));
	assert_non_null(pt);
	for (uint32_t i = 0; i < 2 * want; i++)
		pt[i] = (uint32_t)rnd(&seed);
	/* sorted distinct points, paired into ranges; some singletons, some
	 * adjacent to the range before */
	qsort(pt, 2 * want, sizeof(*pt), cmp32);
	for (uint32_t i = 0; i + 1 < 2 * want; i += 2) {
		uint32_t lo = pt[i], hi = pt[i + 1], r = (uint32_t)rnd(&seed);
		if (lo == hi || (n && lo <= prev_hi))
			continue;
		if (r % 4 == 0)
			hi = lo;
		else if (r % 4 == 1 && n && prev_hi + 1 < lo)
			lo = prev_hi + 1;
		add4(ds, lo, hi, (r >> 8) % 50);
		prev_hi = hi;
		n++;
	}
	free(pt);
	assert_true(n > 4000);
	put(f);

	assert_int_equal(snap_rd_begin(f->rd), 0);
	id = dsid_of(f, 0);
	check4_edges(f->rd, id, ds);
	for (int i = 0; i < 20000; i++)
		check4(f->rd, id, ds, (uint32_t)rnd(&seed));
	for (int i = 0; i < 5000; i++) {
		const struct zimg_ip4 *r = &ds->ip4[rnd(&seed) % ds->n_ip4];
		check4(f->rd, id, ds, r->lo + (uint32_t)(rnd(&seed) % ((uint64_t)r->hi - r->lo + 1)));
	}
	snap_rd_end(f->rd);
}

static void set6(uint8_t a[16], uint64_t hi, uint64_t lo)
{
	for (int i = 0; i < 8; i++) {
		a[i] = (uint8_t)(hi >> (56 - 8 * i));
		a[8 + i] = (uint8_t)(lo >> (56 - 8 * i));
	}
}

static void add6(struct zimg_ds *ds, uint64_t lh, uint64_t ll, uint64_t hh, uint64_t hl,
		 uint32_t vs)
{
	uint8_t lo[16], hi[16];
	set6(lo, lh, ll);
	set6(hi, hh, hl);
	assert_int_equal(zimg_ds_add_ip6(ds, lo, hi, vs), 0);
}

/* a - 1 and a + 1 over 128 bits */
static void step6(uint8_t out[16], const uint8_t a[16], int up)
{
	int i = 15;
	memcpy(out, a, 16);
	while (i >= 0) {
		out[i] = (uint8_t)(out[i] + (up ? 1 : 0xff));
		if (out[i] != (up ? 0 : 0xff))
			break;
		i--;
	}
}

static void check6_ends(snap_rd *rd, uint32_t dsid, const struct zimg_ds *ds)
{
	uint8_t a[16];
	memset(a, 0, 16);
	check6(rd, dsid, ds, a);
	memset(a, 0xff, 16);
	check6(rd, dsid, ds, a);
	for (size_t i = 0; i < ds->n_ip6; i++) {
		check6(rd, dsid, ds, ds->ip6[i].lo);
		check6(rd, dsid, ds, ds->ip6[i].hi);
		step6(a, ds->ip6[i].lo, 0);
		check6(rd, dsid, ds, a);
		step6(a, ds->ip6[i].hi, 1);
		check6(rd, dsid, ds, a);
	}
}

static void test_ipx_ip6(void **state)
{
	struct fx *f = *state;
	struct zimg_ds *ds[2];
	uint64_t seed = 0x2545f4914f6cdd1du, h = 0x2001000000000000u;
	uint8_t a[16];

	f->img = zimg_new("six.example");
	assert_non_null(f->img);
	ds[0] = add_ds(f->img, ZDS_IP6TRIE, 3);
	add6(ds[0], 0, 0, 0, 0, 0);                               /* :: */
	add6(ds[0], 0, 1, 0, ~0ull, 1);                           /* adjacent */
	add6(ds[0], 0x20010db800000000u, 0, 0x20010db8ffffffffu, ~0ull, 2);
	add6(ds[0], 0x20010db900000000u, 5, 0x20010db900000000u, 5, 0); /* halves differ */
	add6(ds[0], 0x3000000000000000u, 0, 0x8fffffffffffffffu, ~0ull, 1); /* buckets */
	add6(ds[0], ~0ull, ~0ull - 3, ~0ull, ~0ull, 2);
	/* 3000 random ranges: 11-bit table */
	ds[1] = add_ds(f->img, ZDS_IP6TSET, 7);
	for (uint32_t i = 0; i < 3000; i++) {
		uint64_t r = rnd(&seed), lo_l = rnd(&seed) >> 1;
		h += 1 + (r % 3 == 0 ? 0 : (r >> 40)); /* some share their first half */
		add6(ds[1], h, lo_l, h, r % 5 ? lo_l : lo_l + (r >> 50), (uint32_t)(r % 7));
		h += r % 2;
	}
	put(f);

	assert_int_equal(snap_rd_begin(f->rd), 0);
	for (uint32_t d = 0; d < 2; d++) {
		uint32_t id = dsid_of(f, d);
		check6_ends(f->rd, id, ds[d]);
		for (int i = 0; i < 10000; i++) {
			const struct zimg_ip6 *r = &ds[d]->ip6[rnd(&seed) % ds[d]->n_ip6];
			memcpy(a, r->lo, 16);
			a[15] ^= (uint8_t)rnd(&seed);
			if (i % 3 == 0)
				set6(a, rnd(&seed), rnd(&seed));
			check6(f->rd, id, ds[d], a);
		}
	}
	snap_rd_end(f->rd);
}

/* ---- raw access to the environment, as another program or damage would
 * leave it (the snapshot must be closed: one process, one open). */

struct raw {
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
};

static void raw_open(struct raw *r, const char *dir, const char *db)
{
	assert_int_equal(mdb_env_create(&r->env), 0);
	assert_int_equal(mdb_env_set_maxdbs(r->env, SNAP_MAXDBS), 0);
	assert_int_equal(mdb_env_set_mapsize(r->env, SNAP_DEFAULT_MAP_SIZE), 0);
	assert_int_equal(mdb_env_open(r->env, dir, 0, 0644), 0);
	assert_int_equal(mdb_txn_begin(r->env, NULL, 0, &r->txn), 0);
	assert_int_equal(mdb_dbi_open(r->txn, db, 0, &r->dbi), 0);
}

static void raw_close(struct raw *r)
{
	assert_int_equal(mdb_txn_commit(r->txn), 0);
	mdb_env_close(r->env);
}

static size_t raw_entries(const char *dir, const char *db, size_t *overflow_pages)
{
	struct raw r;
	MDB_stat st;
	raw_open(&r, dir, db);
	assert_int_equal(mdb_stat(r.txn, r.dbi, &st), 0);
	raw_close(&r);
	if (overflow_pages)
		*overflow_pages = st.ms_overflow_pages;
	return st.ms_entries;
}

/* Rewrite the ipx value of (dsid, 4) through `edit`. */
static void raw_edit(const char *dir, uint32_t dsid, void (*edit)(uint8_t *, size_t *))
{
	uint8_t key[5] = { (uint8_t)(dsid >> 24), (uint8_t)(dsid >> 16), (uint8_t)(dsid >> 8),
			   (uint8_t)dsid, 4 }, *copy;
	MDB_val k = { 5, key }, v;
	struct raw r;
	size_t n;

	raw_open(&r, dir, SNAP_DB_IPX);
	assert_int_equal(mdb_get(r.txn, r.dbi, &k, &v), 0);
	n = v.mv_size;
	copy = malloc(n);
	assert_non_null(copy);
	memcpy(copy, v.mv_data, n);
	edit(copy, &n);
	v.mv_size = n;
	v.mv_data = copy;
	assert_int_equal(mdb_put(r.txn, r.dbi, &k, &v, 0), 0);
	raw_close(&r);
	free(copy);
}

static void edit_magic(uint8_t *p, size_t *n) { p[0] ^= 0xff; }
static void edit_size(uint8_t *p, size_t *n) { *n -= 4; }
static void edit_version(uint8_t *p, size_t *n) { p[4] ^= 0x40; }
/* top[1] beyond n: only the lookups of bucket 0 and 1 can notice */
static void edit_bucket(uint8_t *p, size_t *n) { memset(p + 16 + 4, 0xee, 4); }

/* A zone of one ip4 dataset with 300 ranges (8-bit table, 4 ranges a bucket). */
static uint32_t put_plain(struct fx *f)
{
	struct zimg_ds *ds;
	uint32_t id;

	f->img = zimg_new("plain.example");
	assert_non_null(f->img);
	ds = add_ds(f->img, ZDS_IP4SET, 1);
	for (uint32_t i = 0; i < 300; i++)
		add4(ds, i << 22 | 0x10, i << 22 | 0x20, 0);
	put(f);
	assert_int_equal(snap_rd_begin(f->rd), 0);
	id = dsid_of(f, 0);
	snap_rd_end(f->rd);
	return id;
}

static int find_after_edit(struct fx *f, uint32_t id, void (*edit)(uint8_t *, size_t *),
			   uint32_t addr)
{
	struct snap_valset vs;
	int r;

	fx_close(f);
	raw_edit(f->dir, id, edit);
	fx_open(f, SNAP_RDONLY);
	assert_int_equal(snap_rd_begin(f->rd), 0);
	r = snap_ip4_find(f->rd, id, addr, &vs);
	snap_rd_end(f->rd);
	return r;
}

static void test_ipx_damaged(void **state)
{
	struct fx *f = *state;
	uint32_t id = put_plain(f);

	/* a later layout under the same key: the B-tree answers */
	assert_int_equal(find_after_edit(f, id, edit_version, 0x05000015u), 1);
	assert_int_equal(find_after_edit(f, id, edit_version, 0x05000021u), 0); /* restored */
	assert_int_equal(find_after_edit(f, id, edit_bucket, 0x40000015u), 1); /* bucket 64 */
	assert_int_equal(find_after_edit(f, id, edit_bucket, 0x00000015u), GN_ECORRUPT);
	assert_int_equal(find_after_edit(f, id, edit_magic, 0x05000015u), GN_ECORRUPT);
	/* the B-trees still hold the data: switching the index off answers */
	{
		struct snap_valset vs;
		assert_int_equal(snap_rd_begin(f->rd), 0);
		snap_rd_use_index(f->rd, false);
		assert_int_equal(snap_ip4_find(f->rd, id, 0x05000015u, &vs), 1);
		snap_rd_end(f->rd);
	}
	assert_int_equal(find_after_edit(f, id, edit_magic, 0x05000015u), 1); /* restored */
	assert_int_equal(find_after_edit(f, id, edit_size, 0x05000015u), GN_ECORRUPT);
}

/* A snapshot written before the index existed: no ipx database at all
 * (read-only open), or the database but no key for a dataset. */
static void test_ipx_absent(void **state)
{
	struct fx *f = *state;
	uint32_t id = put_plain(f);
	struct snap_valset vs;
	struct raw r;

	fx_close(f);
	raw_open(&r, f->dir, SNAP_DB_IPX);
	assert_int_equal(mdb_drop(r.txn, r.dbi, 1), 0);
	raw_close(&r);

	fx_open(f, SNAP_RDONLY);
	assert_int_equal(snap_rd_begin(f->rd), 0);
	assert_int_equal(snap_ip4_find(f->rd, id, 0x05000015u, &vs), 1);
	assert_int_equal(snap_ip4_find(f->rd, id, 0x05000021u, &vs), 0);
	check4_edges(f->rd, id, f->img->ds[0]);
	snap_rd_end(f->rd);
	fx_close(f);

	/* a writer creates the database; the old dataset stays on the B-tree,
	 * a zone written now gets its index */
	fx_open(f, 0);
	assert_int_equal(snap_rd_begin(f->rd), 0);
	assert_int_equal(snap_ip4_find(f->rd, id, 0x05000015u, &vs), 1);
	check4_edges(f->rd, id, f->img->ds[0]);
	snap_rd_end(f->rd);
	fx_close(f);
	assert_int_equal(raw_entries(f->dir, SNAP_DB_IPX, NULL), 0);
	fx_open(f, 0);
	{
		struct zimg *img = zimg_new("new.example");
		assert_non_null(img);
		add4(add_ds(img, ZDS_IP4SET, 1), 7, 8, 0);
		assert_int_equal(zimg_finish(img), 0);
		assert_int_equal(snap_put_zones(f->env, &img, 1, 1000), 0);
		zimg_free(img);
	}
	fx_close(f);
	assert_int_equal(raw_entries(f->dir, SNAP_DB_IPX, NULL), 1);
	fx_open(f, 0);
}

/* Replacing a zone deletes its old index with its old ranges, in the same
 * transaction: the database holds one index per IP dataset, however often
 * the zone is replaced. */
static void test_ipx_replace_no_growth(void **state)
{
	struct fx *f = *state;
	struct zimg *six;
	struct zimg_ds *ds;
	size_t ov1, ov2;
	uint8_t lo[16] = { 0x20, 1 }, hi[16] = { 0x20, 1, 0xff };

	put_plain(f);
	six = zimg_new("six.example");
	assert_non_null(six);
	ds = add_ds(six, ZDS_IP6TRIE, 1);
	assert_int_equal(zimg_ds_add_ip6(ds, lo, hi, 0), 0);
	assert_int_equal(zimg_finish(six), 0);
	assert_int_equal(snap_put_zones(f->env, &six, 1, 1000), 0);
	fx_close(f);
	assert_int_equal(raw_entries(f->dir, SNAP_DB_IPX, &ov1), 2);
	fx_open(f, 0);
	for (int i = 0; i < 40; i++) {
		struct zimg *both[2] = { f->img, six };
		assert_int_equal(snap_put_zones(f->env, both, 2, 1000 + i), 0);
	}
	fx_close(f);
	assert_int_equal(raw_entries(f->dir, SNAP_DB_IPX, &ov2), 2);
	assert_int_equal(ov1, ov2);
	fx_open(f, 0);
	assert_int_equal(snap_drop_zone(f->env, "plain.example"), 0);
	assert_int_equal(snap_drop_zone(f->env, "six.example"), 0);
	fx_close(f);
	assert_int_equal(raw_entries(f->dir, SNAP_DB_IPX, NULL), 0);
	fx_open(f, 0);
	zimg_free(six);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ipx_ip4_edges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipx_ip4_random, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipx_ip6, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipx_damaged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipx_absent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipx_replace_no_growth, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
