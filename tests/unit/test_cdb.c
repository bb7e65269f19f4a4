/* tests/unit/test_cdb.c - the central database: import is idempotent, a
 * change journals exactly the changed records, serials follow RFC 1982
 * through the wrap, each safety rule refuses (and --force overrides), the
 * journal is trimmed, and history that no longer leads to the zone is
 * dropped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <lmdb.h>
#include "common/dname.h"
#include "common/err.h"
#include "common/log.h"
#include "zonesync/cdb.h"
#include "zonesync/compile.h"
#include "zonesync/snap.h"
#include "zonesync/xform.h"

struct fx {
	char dir[64];
	char db[96];
	snap_env *env;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/gridns-test-cdb-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/db", f->dir);
	assert_int_equal(snap_open(&f->env, f->db, 0, NULL), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];
	snap_close(f->env);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* Write the source file and import it as zone:type. */
static int import(struct fx *f, const char *zone, const char *type, const char *text,
		  const struct cdb_opts *opts)
{
	char path[160], spec[256];
	const char *specs[1] = { spec };
	struct cdb_opts o = { .max_shrink = -1 };
	FILE *fp;

	if (opts)
		o = *opts;
	snprintf(path, sizeof(path), "%s/%s.src", f->dir, zone);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	snprintf(spec, sizeof(spec), "%s:%s:%s", zone, type, path);
	return cdb_import(f->env, specs, 1, &o);
}

static uint32_t serial_of(struct fx *f, const char *zone)
{
	snap_rd *rd;
	uint8_t k[DNAME_MAX];
	struct snap_zone z;
	int kl = dname_text_to_key(zone, strlen(zone), k);
	assert_int_equal(snap_rd_new(f->env, &rd), 0);
	assert_int_equal(snap_rd_begin(rd), 0);
	assert_int_equal(snap_rd_zone(rd, k, (size_t)kl, &z), 1);
	uint32_t s = z.serial;
	snap_rd_free(rd);
	return s;
}

static struct snap_journal_info jinfo(struct fx *f, const char *zone)
{
	struct snap_journal_info ji;
	snap_rd *rd;
	assert_int_equal(snap_rd_new(f->env, &rd), 0);
	assert_int_equal(snap_rd_begin(rd), 0);
	assert_int_equal(snap_journal_info(rd, zone, &ji), 0);
	snap_rd_free(rd);
	return ji;
}

/* The journal as text: per changeset "from>to" and its records as
 * "-owner/type" and "+owner/type" lines. */
struct jtext {
	char buf[8192];
	size_t len;
	int n;
};

static int jcollect(void *arg, const struct snap_chg *c)
{
	struct jtext *j = arg;
	struct snap_jrr_it it = { c->recs, c->recs + c->recs_len };
	struct snap_jrr r;
	uint32_t i = 0;
	int rc;

	j->len += (size_t)snprintf(j->buf + j->len, sizeof(j->buf) - j->len, "%u>%u\n",
				   c->serial_from, c->serial_to);
	while ((rc = snap_jrr_next(&it, &r)) == 1) {
		char t[DNAME_TEXT_MAX];
		assert_true(dname_to_text(r.owner, t, sizeof(t)) > 0);
		j->len += (size_t)snprintf(j->buf + j->len, sizeof(j->buf) - j->len, "%c%s/%u\n",
					   i++ < c->n_del ? '-' : '+', t, r.type);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(i, c->n_del + c->n_add);
	j->n++;
	return 0;
}

static void journal_text(struct fx *f, const char *zone, struct jtext *j)
{
	snap_rd *rd;
	memset(j, 0, sizeof(*j));
	assert_int_equal(snap_rd_new(f->env, &rd), 0);
	assert_int_equal(snap_rd_begin(rd), 0);
	assert_int_equal(snap_journal_walk(rd, zone, jcollect, j), 0);
	snap_rd_free(rd);
}

#define SOA(s) "$SOA 600 ns1.x.test. hm.x.test. " #s " 3600 600 86400 300\n$NS 3600 ns1.x.test\n$TTL 300\n"

static void test_same_source_same_serial(void **state)
{
	struct fx *f = *state;
	const char *src = SOA(10) ":127.0.0.2:Listed $\n127.0.0.2\n10.0.0.1\n";

	assert_int_equal(import(f, "x.test", "ip4set", src, NULL), 0);
	assert_int_equal(serial_of(f, "x.test"), 10);
	assert_int_equal(import(f, "x.test", "ip4set", src, NULL), 0);
	assert_int_equal(serial_of(f, "x.test"), 10);
	assert_int_equal(jinfo(f, "x.test").depth, 0);
	/* a higher source serial over the same data is still "unchanged" */
	assert_int_equal(import(f, "x.test", "ip4set",
				SOA(11) ":127.0.0.2:Listed $\n127.0.0.2\n10.0.0.1\n", NULL), 0);
	assert_int_equal(serial_of(f, "x.test"), 10);
}

static void test_minimal_changeset(void **state)
{
	struct fx *f = *state;
	struct jtext j;

	assert_int_equal(import(f, "x.test", "ip4set",
				SOA(10) ":127.0.0.2:Listed $\n127.0.0.2\n10.0.0.1\n10.0.0.2\n", NULL), 0);
	/* source serial not higher: current + 1 */
	assert_int_equal(import(f, "x.test", "ip4set",
				SOA(10) ":127.0.0.2:Listed $\n127.0.0.2\n10.0.0.1\n10.0.0.3\n", NULL), 0);
	assert_int_equal(serial_of(f, "x.test"), 11);
	journal_text(f, "x.test", &j);
	assert_int_equal(j.n, 1);
	assert_string_equal(j.buf,
		"10>11\n"
		"-x.test/6\n-2.0.0.10.x.test/1\n-2.0.0.10.x.test/16\n"
		"+x.test/6\n+3.0.0.10.x.test/1\n+3.0.0.10.x.test/16\n");
	/* a higher source serial is taken as is; a TTL change is del + add */
	assert_int_equal(import(f, "x.test", "ip4set",
				SOA(50) "$TTL 60\n:127.0.0.2:Listed $\n127.0.0.2\n10.0.0.1\n10.0.0.3\n",
				NULL), 0);
	assert_int_equal(serial_of(f, "x.test"), 50);
	journal_text(f, "x.test", &j);
	assert_int_equal(j.n, 2);
	assert_non_null(strstr(j.buf, "11>50\n-x.test/6\n"));
	assert_non_null(strstr(j.buf, "-3.0.0.10.x.test/1\n"));
	assert_non_null(strstr(j.buf, "+3.0.0.10.x.test/1\n"));
	/* the metadata records the dataset TTL, so it changes too */
	assert_non_null(strstr(j.buf, "+_gridns.x.test/16\n"));
}

static void test_serial_arithmetic(void **state)
{
	assert_true(cdb_serial_gt(2, 1));
	assert_false(cdb_serial_gt(1, 2));
	assert_false(cdb_serial_gt(7, 7));
	assert_true(cdb_serial_gt(3, 0xfffffff0u));        /* across the wrap */
	assert_false(cdb_serial_gt(0x80000005u, 5));       /* exactly 2^31: undefined, "no" */
	assert_true(cdb_serial_gt(0x80000004u, 5));
	assert_int_equal(cdb_next_serial(5, 10), 10);
	assert_int_equal(cdb_next_serial(10, 5), 11);
	assert_int_equal(cdb_next_serial(0xfffffff0u, 3), 3);
	assert_int_equal(cdb_next_serial(0xffffffffu, 0), 1); /* 0 is skipped */
	assert_int_equal(cdb_next_serial(0xffffffffu, 0xffffffffu), 1);
}

static void test_serial_wrap_keeps_journal_order(void **state)
{
	struct fx *f = *state;
	struct jtext j;

	assert_int_equal(import(f, "x.test", "ip4set", SOA(4294967294) "127.0.0.2\n1.1.1.1\n", NULL), 0);
	assert_int_equal(import(f, "x.test", "ip4set", SOA(4294967294) "127.0.0.2\n1.1.1.2\n", NULL), 0);
	assert_int_equal(serial_of(f, "x.test"), 4294967295u);
	assert_int_equal(import(f, "x.test", "ip4set", SOA(4294967294) "127.0.0.2\n1.1.1.3\n", NULL), 0);
	assert_int_equal(serial_of(f, "x.test"), 1);
	assert_int_equal(import(f, "x.test", "ip4set", SOA(4294967294) "127.0.0.2\n1.1.1.4\n", NULL), 0);
	assert_int_equal(serial_of(f, "x.test"), 2);
	journal_text(f, "x.test", &j);
	assert_int_equal(j.n, 3);
	const char *a = strstr(j.buf, "4294967294>4294967295\n"), *b = strstr(j.buf, "4294967295>1\n"),
		   *c = strstr(j.buf, "1>2\n");
	assert_true(a && b && c && a < b && b < c);
	assert_int_equal(jinfo(f, "x.test").oldest_from, 4294967294u);
}

static const char *big_ip4 = SOA(1) ":127.0.0.2:L $\n127.0.0.2\n10.0.0.1\n10.0.0.2\n10.0.0.3\n"
			      "10.0.0.4\n10.0.0.5\n10.0.0.6\n10.0.0.7\n10.0.0.8\n10.0.0.9\n";

static void test_refuse_shrink(void **state)
{
	struct fx *f = *state;
	const char *small = SOA(2) ":127.0.0.2:L $\n127.0.0.2\n10.0.0.1\n";
	struct cdb_opts o = { .max_shrink = -1 };

	assert_int_equal(import(f, "x.test", "ip4set", big_ip4, NULL), 0);
	assert_int_equal(import(f, "x.test", "ip4set", small, NULL), GN_ELIMIT);
	assert_int_equal(serial_of(f, "x.test"), 1);
	assert_int_equal(jinfo(f, "x.test").depth, 0);
	o.max_shrink = 0.9; /* 20 -> 4 data records is an 80% drop */
	assert_int_equal(import(f, "x.test", "ip4set", small, &o), 0);
	assert_int_equal(serial_of(f, "x.test"), 2);
	assert_int_equal(import(f, "x.test", "ip4set", big_ip4, NULL), 0);
	o.max_shrink = -1;
	o.force = true;
	assert_int_equal(import(f, "x.test", "ip4set", small, &o), 0);
	assert_int_equal(jinfo(f, "x.test").depth, 3);
}

static void test_refuse_lost_test_points(void **state)
{
	struct fx *f = *state;
	struct cdb_opts force = { .max_shrink = -1, .force = true };

	assert_int_equal(import(f, "x.test", "ip4set", big_ip4, NULL), 0);
	assert_int_equal(import(f, "x.test", "ip4set",
				SOA(2) ":127.0.0.2:L $\n10.0.0.1\n10.0.0.2\n10.0.0.3\n10.0.0.4\n"
				"10.0.0.5\n10.0.0.6\n10.0.0.7\n10.0.0.8\n10.0.0.9\n", NULL), GN_ELIMIT);
	assert_int_equal(serial_of(f, "x.test"), 1);
	/* still listed through a range: fine */
	assert_int_equal(import(f, "x.test", "ip4set",
				SOA(2) ":127.0.0.2:L $\n127.0.0.0/24\n10.0.0.1\n10.0.0.2\n10.0.0.3\n"
				"10.0.0.4\n10.0.0.5\n10.0.0.6\n10.0.0.7\n10.0.0.8\n10.0.0.9\n", NULL), 0);

	assert_int_equal(import(f, "d.test", "dnset", SOA(1) "test\nspam.example\nx.example\n", NULL), 0);
	assert_int_equal(import(f, "d.test", "dnset", SOA(1) "spam.example\nx.example\ny.example\n",
				NULL), GN_ELIMIT);
	assert_int_equal(import(f, "d.test", "dnset", SOA(1) "spam.example\nx.example\ny.example\n",
				&force), 0);

	assert_int_equal(import(f, "six.test", "ip6trie", SOA(1) "::ffff:7f00:2\n2001:db8::/32\n", NULL), 0);
	assert_int_equal(import(f, "six.test", "ip6trie",
				SOA(1) "2001:db8::/32\n2001:db9::/32\n", NULL), GN_ELIMIT);
	/* a zone that never had the test point is not held to it */
	assert_int_equal(import(f, "six.test", "ip6trie",
				SOA(1) "2001:db8::/32\n2001:db9::/32\n", &force), 0);
	assert_int_equal(import(f, "six.test", "ip6trie",
				SOA(1) "2001:db8::/32\n2001:dba::/32\n", NULL), 0);
}

static void test_refuse_type_change(void **state)
{
	struct fx *f = *state;
	struct cdb_opts force = { .max_shrink = -1, .force = true };

	assert_int_equal(import(f, "x.test", "ip4set", SOA(1) "127.0.0.2\n", NULL), 0);
	assert_int_equal(import(f, "x.test", "ip4trie", SOA(1) "127.0.0.2\n10.0.0.0/8\n", NULL),
			 GN_ELIMIT);
	assert_int_equal(import(f, "x.test", "ip4trie", SOA(1) "127.0.0.2\n10.0.0.0/8\n", &force), 0);
	assert_int_equal(serial_of(f, "x.test"), 2);
}

static void test_journal_trimmed_by_depth_and_bytes(void **state)
{
	struct fx *f = *state;
	struct cdb_opts o = { .max_shrink = -1, .lim = { .max_depth = 3 } };
	char src[256];

	for (int i = 0; i < 7; i++) {
		snprintf(src, sizeof(src), SOA(100) "127.0.0.2\n10.0.0.%d\n", i + 1);
		assert_int_equal(import(f, "x.test", "ip4set", src, &o), 0);
	}
	assert_int_equal(serial_of(f, "x.test"), 106);
	struct snap_journal_info ji = jinfo(f, "x.test");
	assert_int_equal(ji.depth, 3);
	assert_int_equal(ji.oldest_from, 103);
	/* a byte limit below one changeset keeps none: followers take AXFR */
	o.lim.max_depth = 0;
	o.lim.max_bytes = 64;
	assert_int_equal(import(f, "x.test", "ip4set", SOA(100) "127.0.0.2\n10.0.0.99\n", &o), 0);
	assert_int_equal(jinfo(f, "x.test").depth, 0);
	o.lim.max_bytes = 0;
	assert_int_equal(import(f, "x.test", "ip4set", SOA(100) "127.0.0.2\n10.0.0.98\n", &o), 0);
	assert_int_equal(jinfo(f, "x.test").depth, 1);
}

static void test_history_dropped_on_plain_replace(void **state)
{
	struct fx *f = *state;
	struct compile_opts co = { .quiet = true };
	char path[128], spec[200];
	const char *specs[1] = { spec };
	struct zimg *img;

	assert_int_equal(import(f, "x.test", "ip4set", SOA(1) "127.0.0.2\n10.0.0.1\n", NULL), 0);
	assert_int_equal(import(f, "x.test", "ip4set", SOA(1) "127.0.0.2\n10.0.0.2\n", NULL), 0);
	assert_int_equal(jinfo(f, "x.test").depth, 1);
	/* `load` replaces the zone without a changeset: the journal no longer
	 * leads to what is stored, so it must go */
	snprintf(path, sizeof(path), "%s/x.test.src", f->dir);
	snprintf(spec, sizeof(spec), "x.test:ip4set:%s", path);
	assert_int_equal(compile_zone(specs, 1, &co, &img), 0);
	assert_int_equal(snap_put_zones(f->env, &img, 1, 0), 0);
	assert_int_equal(jinfo(f, "x.test").depth, 0);
	zimg_free(img);
}

static void test_changeset_must_start_at_stored_serial(void **state)
{
	struct fx *f = *state;
	struct compile_opts co = { .quiet = true };
	char path[128], spec[200];
	const char *specs[1] = { spec };
	uint8_t recs[64];
	struct zimg *img;

	assert_int_equal(import(f, "x.test", "ip4set", SOA(7) "127.0.0.2\n", NULL), 0);
	snprintf(path, sizeof(path), "%s/x.test.src", f->dir);
	snprintf(spec, sizeof(spec), "x.test:ip4set:%s", path);
	assert_int_equal(compile_zone(specs, 1, &co, &img), 0);
	img->soa.serial = 9;
	/* one record: owner "x" (\1x\0), type A, ttl 1, rdlen 0 */
	memcpy(recs, "\3\1x\0\0\1\0\0\0\1\0\0", 12);
	struct snap_chg c = { .serial_from = 8, .serial_to = 9, .n_del = 1, .recs = recs,
			      .recs_len = 12 };
	const struct snap_chg *cp = &c;
	assert_int_equal(snap_put_zones_journaled(f->env, &img, &cp, 1, 0, NULL), GN_EBUSY);
	c.serial_from = 7;
	c.recs_len = 11; /* truncated record: refused */
	assert_int_equal(snap_put_zones_journaled(f->env, &img, &cp, 1, 0, NULL), GN_EINVAL);
	assert_int_equal(serial_of(f, "x.test"), 7);
	c.recs_len = 12;
	assert_int_equal(snap_put_zones_journaled(f->env, &img, &cp, 1, 0, NULL), 0);
	assert_int_equal(serial_of(f, "x.test"), 9);
	zimg_free(img);
}

static void test_diff_writes_nothing(void **state)
{
	struct fx *f = *state;
	struct cdb_opts o = { .max_shrink = -1, .dry_run = true };
	char *buf = NULL;
	size_t len = 0;

	assert_int_equal(import(f, "x.test", "ip4set", SOA(3) "127.0.0.2\n10.0.0.1\n", NULL), 0);
	o.out = open_memstream(&buf, &len);
	assert_int_equal(import(f, "x.test", "ip4set", SOA(3) "127.0.0.2\n10.0.0.5\n", &o), 0);
	fclose(o.out);
	assert_non_null(strstr(buf, "; zone x.test: serial 3 -> 4, 1 deleted, 1 added"));
	assert_non_null(strstr(buf, "\n-1.0.0.10.x.test.\t300\tIN\tA\t127.0.0.2\n"));
	assert_non_null(strstr(buf, "\n+5.0.0.10.x.test.\t300\tIN\tA\t127.0.0.2\n"));
	assert_non_null(strstr(buf, "\n-x.test.\t600\tIN\tSOA\tns1.x.test. hm.x.test. 3 "));
	assert_non_null(strstr(buf, "\n+x.test.\t600\tIN\tSOA\tns1.x.test. hm.x.test. 4 "));
	assert_int_equal(serial_of(f, "x.test"), 3);
	assert_int_equal(jinfo(f, "x.test").depth, 0);
	free(buf);
}

static void test_default_soa(void **state)
{
	struct fx *f = *state;
	assert_int_equal(import(f, "n.test", "dnset", "$NS 60 ns1.n.test\nspam.example\n", NULL), 0);
	assert_int_equal(serial_of(f, "n.test"), 1);
	assert_int_equal(import(f, "n.test", "dnset", "$NS 60 ns1.n.test\nspam2.example\n", NULL), 0);
	assert_int_equal(serial_of(f, "n.test"), 2);
	assert_int_equal(jinfo(f, "n.test").depth, 1);
}

/* A snapshot written before the journal existed (no "journal" database)
 * must still open read-only, for the resolver, with an empty journal. */
static void test_readonly_snapshot_without_journal(void **state)
{
	struct fx *f = *state;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	snap_rd *rd;
	struct snap_journal_info ji;
	struct zimg *img;

	assert_int_equal(import(f, "x.test", "ip4set", SOA(1) "127.0.0.2\n", NULL), 0);
	assert_int_equal(import(f, "x.test", "ip4set", SOA(1) "127.0.0.2\n10.0.0.1\n", NULL), 0);
	snap_close(f->env);
	f->env = NULL;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
	assert_int_equal(mdb_env_open(env, f->db, 0, 0644), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "journal", 0, &dbi), 0);
	assert_int_equal(mdb_drop(txn, dbi, 1), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);

	assert_int_equal(snap_open(&f->env, f->db, SNAP_RDONLY, NULL), 0);
	assert_int_equal(snap_rd_new(f->env, &rd), 0);
	assert_int_equal(snap_rd_begin(rd), 0);
	assert_int_equal(snap_journal_info(rd, "x.test", &ji), 0);
	assert_int_equal(ji.depth, 0);
	assert_int_equal(snap_load_zone(rd, "x.test", &img), 0);
	assert_int_equal(img->soa.serial, 2);
	zimg_free(img);
	snap_rd_free(rd);
}

/* ---- property: the journaled changeset turns zone A into zone B --------- */

struct rset {
	char **v;   /* "owner|type|ttl|rdata" as bytes, length-prefixed */
	size_t n, cap;
};

static char *rs_key(const uint8_t *owner, uint8_t olen, uint16_t type, uint32_t ttl,
		    const uint8_t *rd, uint16_t rdlen)
{
	size_t n = 2 + olen + 2 + 4 + rdlen;
	char *k = malloc(n);
	assert_non_null(k);
	k[0] = (char)(n >> 8);
	k[1] = (char)n;
	memcpy(k + 2, owner, olen);
	memcpy(k + 2 + olen, &type, 2);
	memcpy(k + 4 + olen, &ttl, 4);
	memcpy(k + 8 + olen, rd, rdlen);
	return k;
}

static size_t rs_len(const char *k)
{
	return (size_t)((uint8_t)k[0] << 8 | (uint8_t)k[1]);
}

static int rs_cmp(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	size_t lx = rs_len(x), ly = rs_len(y);
	int c = memcmp(x + 2, y + 2, (lx < ly ? lx : ly) - 2);
	return c ? c : (lx > ly) - (lx < ly);
}

static void rs_add(struct rset *s, char *k)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		assert_non_null(s->v);
	}
	s->v[s->n++] = k;
}

static void rs_sort(struct rset *s)
{
	size_t w = 0;
	qsort(s->v, s->n, sizeof(*s->v), rs_cmp);
	for (size_t i = 0; i < s->n; i++) {
		if (w && rs_cmp(&s->v[w - 1], &s->v[i]) == 0) {
			free(s->v[i]);
			continue;
		}
		s->v[w++] = s->v[i];
	}
	s->n = w;
}

static bool rs_has(const struct rset *s, char *k)
{
	return s->n && bsearch(&k, s->v, s->n, sizeof(*s->v), rs_cmp) != NULL;
}

static void rs_free(struct rset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static int rs_collect(void *arg, const struct xform_rr *rr)
{
	if (rr->type != 6)
		rs_add(arg, rs_key(rr->owner, rr->owner_len, rr->type, rr->ttl, rr->rdata, rr->rdlen));
	return 0;
}

/* The stored zone's records (no SOA) as a sorted set. */
static void zone_set(struct fx *f, const char *zone, struct rset *s)
{
	snap_rd *rd;
	struct zimg *img;
	assert_int_equal(snap_rd_new(f->env, &rd), 0);
	assert_int_equal(snap_rd_begin(rd), 0);
	assert_int_equal(snap_load_zone(rd, zone, &img), 0);
	assert_int_equal(xform_emit(img, rs_collect, s), 0);
	zimg_free(img);
	snap_rd_free(rd);
	rs_sort(s);
}

struct last_chg {
	struct rset del, add;
	uint32_t to;
};

static int last_collect(void *arg, const struct snap_chg *c)
{
	struct last_chg *l = arg;
	struct snap_jrr_it it = { c->recs, c->recs + c->recs_len };
	struct snap_jrr r;
	uint32_t i = 0;
	rs_free(&l->del);
	rs_free(&l->add);
	l->to = c->serial_to;
	while (snap_jrr_next(&it, &r) == 1) {
		char *k = rs_key(r.owner, r.owner_len, r.type, r.ttl, r.rdata, r.rdlen);
		if (r.type == 6)
			free(k);
		else
			rs_add(i < c->n_del ? &l->del : &l->add, k);
		i++;
	}
	return 0;
}

static void random_source(char *buf, size_t cap, unsigned *seed, bool dnset)
{
	size_t o = (size_t)snprintf(buf, cap, SOA(1) ":127.0.0.2:a $\n%s\n", dnset ? "test" : "127.0.0.2");
	int n = 20 + rand_r(seed) % 40;
	for (int i = 0; i < n && o + 64 < cap; i++) {
		int r = rand_r(seed);
		const char *val = r & 1 ? "" : " :3:b $";
		if (dnset)
			o += (size_t)snprintf(buf + o, cap - o, "%s%c%d.example%s\n",
					      r & 2 ? "." : r & 4 ? "!" : "", 'a' + (r >> 3) % 4,
					      (r >> 5) % 8, val);
		else if (r & 2)
			o += (size_t)snprintf(buf + o, cap - o, "10.%d.%d.0/%d%s\n", (r >> 3) % 4,
					      (r >> 5) % 8, 22 + (r >> 8) % 10, val);
		else
			o += (size_t)snprintf(buf + o, cap - o, "%s10.%d.%d.%d%s\n", r & 4 ? "!" : "",
					      (r >> 3) % 4, (r >> 5) % 8, (r >> 8) % 256, val);
	}
}

static void test_changeset_applies_exactly(void **state)
{
	struct fx *f = *state;
	struct cdb_opts force = { .max_shrink = -1, .force = true };
	static char src[8192];
	unsigned seed = 12345;
	int changed = 0;

	for (int round = 0; round < 40; round++) {
		bool dn = round % 2;
		const char *zone = dn ? "d.test" : "x.test";
		struct rset a = { 0 }, b = { 0 };
		struct last_chg l = { { 0 }, { 0 }, 0 };
		snap_rd *rd;
		uint32_t before;

		random_source(src, sizeof(src), &seed, dn);
		assert_int_equal(import(f, zone, dn ? "dnset" : "ip4set", src, &force), 0);
		zone_set(f, zone, &a);
		before = serial_of(f, zone);
		random_source(src, sizeof(src), &seed, dn);
		assert_int_equal(import(f, zone, dn ? "dnset" : "ip4set", src, &force), 0);
		zone_set(f, zone, &b);
		assert_int_equal(snap_rd_new(f->env, &rd), 0);
		assert_int_equal(snap_rd_begin(rd), 0);
		assert_int_equal(snap_journal_walk(rd, zone, last_collect, &l), 0);
		snap_rd_free(rd);
		if (serial_of(f, zone) == before) {
			/* unchanged: same records */
			assert_int_equal(a.n, b.n);
			for (size_t i = 0; i < a.n; i++)
				assert_int_equal(rs_cmp(&a.v[i], &b.v[i]), 0);
		} else {
			changed++;
			assert_true(l.del.n + l.add.n > 0);
			assert_int_equal(l.to, serial_of(f, zone));
			/* minimal: every deletion was in A and is not in B, every
			 * addition is in B and was not in A ... */
			for (size_t i = 0; i < l.del.n; i++)
				assert_true(rs_has(&a, l.del.v[i]) && !rs_has(&b, l.del.v[i]));
			for (size_t i = 0; i < l.add.n; i++)
				assert_true(rs_has(&b, l.add.v[i]) && !rs_has(&a, l.add.v[i]));
			/* ... and complete: |B| = |A| - |del| + |add| */
			assert_int_equal(b.n, a.n - l.del.n + l.add.n);
		}
		rs_free(&a);
		rs_free(&b);
		rs_free(&l.del);
		rs_free(&l.add);
	}
	assert_true(changed >= 30);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_same_source_same_serial, setup, teardown),
		cmocka_unit_test_setup_teardown(test_minimal_changeset, setup, teardown),
		cmocka_unit_test(test_serial_arithmetic),
		cmocka_unit_test_setup_teardown(test_serial_wrap_keeps_journal_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_shrink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_lost_test_points, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_type_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_trimmed_by_depth_and_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_dropped_on_plain_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changeset_must_start_at_stored_serial, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diff_writes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_default_soa, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_snapshot_without_journal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changeset_applies_exactly, setup, teardown),
	};
	log_init("test_cdb", LOG_LVL_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
