/* zonesync/fol_apply.c - one sync of one zone: transfer, validate, apply.
 *
 * Order of trust (docs/follower.md, "Validation"): TSIG on every message
 * and the SOA framing are checked while the transfer streams (fol_xfr.c);
 * then the serial must be newer (RFC 1982), the records must parse into an
 * image of a known format version, ZONEMD must match when present (or when
 * required), and the guards of the central database must hold (shrink, RFC
 * 5782 test points, dataset types; cdb_check).  Only then is the zone
 * written, in ONE LMDB transaction with its changeset, so a relay can serve
 * IXFR from its own journal.  Any failure writes nothing: the old zone keeps
 * serving until its expiry.
 *
 * An IXFR is applied to the records of the image we hold (emitted again
 * with xform_emit): the result is parsed back into an image, which is what
 * the snapshot stores.  A deletion of a record we do not hold means our
 * history is not the primary's: the sync falls back to AXFR.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "common/err.h"
#include "common/log.h"
#include "zonesync/cdb.h"
#include "zonesync/fol.h"
#include "zonesync/xform_parse.h"
#include "zonesync/zonemd.h"

static const char *const reason_names[FOL_R_COUNT] = {
	[FOL_OK] = "ok", [FOL_UPTODATE] = "uptodate", [FOL_R_NETWORK] = "network",
	[FOL_R_TIMEOUT] = "timeout", [FOL_R_TSIG] = "tsig", [FOL_R_REFUSED] = "refused",
	[FOL_R_TRUNCATED] = "truncated", [FOL_R_MALFORMED] = "malformed",
	[FOL_R_BACKWARDS] = "serial_backwards", [FOL_R_INCONSISTENT] = "ixfr_inconsistent",
	[FOL_R_FORMAT] = "format_version", [FOL_R_ZONEMD] = "zonemd", [FOL_R_GUARD] = "guard",
	[FOL_R_STORE] = "store",
};

const char *fol_reason_name(enum fol_reason r)
{
	return (unsigned)r < FOL_R_COUNT ? reason_names[r] : "unknown";
}

int64_t fol_expiry(const struct fol_zone *z, uint32_t soa_expire, int64_t src_expires, int64_t now)
{
	uint32_t e = z->conf->expire ? z->conf->expire : soa_expire;
	int64_t t;

	if (e == 0) /* no expire timer at all: only the source's own expiry */
		return src_expires;
	t = now + e;
	return src_expires && src_expires < t ? src_expires : t;
}

struct actx {
	struct fol *f;
	struct fol_zone *z;
	struct xform_parse *p;
	bool base_loaded;
	int64_t t_xfr, t_parse, t_check, t_write; /* ns, for the log line */
	enum fol_reason fail;
	char why[256];
};

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Load the image we hold; `as_sent`: with the expiry the primary sent
 * (the base an IXFR from that primary applies to). */
static int load_current(struct actx *a, struct zimg **out, bool as_sent)
{
	snap_rd *rd = NULL;
	int ret;

	*out = NULL;
	if ((ret = snap_rd_new(a->f->env, &rd)) < 0 || (ret = snap_rd_begin(rd)) < 0)
		goto out;
	ret = snap_load_zone(rd, a->z->conf->name, out);
	snap_rd_end(rd);
	if (ret == 0 && as_sent)
		(*out)->ts_expires = a->z->src_expires;
out:
	snap_rd_free(rd);
	return ret;
}

static int base_add(void *arg, const struct xform_rr *rr)
{
	struct actx *a = arg;
	if (a->z->stock && rr->ds == XFORM_DS_META)
		return 0; /* a stock primary's zone has no metadata */
	return xform_parse_add(a->p, rr);
}

/* First IXFR record: the parser starts from our records. */
static int base_load(struct actx *a)
{
	struct zimg *cur = NULL;
	int ret = load_current(a, &cur, true);

	if (ret < 0) {
		a->fail = FOL_R_STORE;
		snprintf(a->why, sizeof(a->why), "cannot read the zone we hold: %s", gn_strerror(ret));
		return ret;
	}
	ret = xform_emit(cur, base_add, a);
	zimg_free(cur);
	a->base_loaded = true;
	return ret;
}

static int on_record(void *arg, enum fol_xev ev, const struct xform_rr *rr)
{
	struct actx *a = arg;
	int apex_zonemd = rr->type == ZONEMD_TYPE && dname_wire_equal(rr->owner, a->z->apex);
	int ret;

	if (!a->p && !(a->p = xform_parse_new(a->z->conf->name)))
		return GN_ENOMEM;
	/* memory is bounded by what we agree to hold, not by the primary */
	if (xform_parse_count(a->p) >= a->f->conf->xfr_max_records) {
		a->fail = FOL_R_MALFORMED;
		snprintf(a->why, sizeof(a->why), "more than xfr-max-records = %u records",
			 a->f->conf->xfr_max_records);
		return GN_ELIMIT;
	}
	if (ev != FOL_X_FULL && !a->base_loaded && base_load(a) < 0)
		return GN_EIO;
	if (ev == FOL_X_DEL && apex_zonemd)
		return 0; /* we never store ZONEMD, so there is nothing to delete */
	ret = ev == FOL_X_DEL ? xform_parse_del(a->p, rr) : xform_parse_add(a->p, rr);
	if (ret == GN_EINVAL) {
		char t[DNAME_TEXT_MAX];
		if (dname_to_text(rr->owner, t, sizeof(t)) < 0)
			strcpy(t, "?");
		a->fail = FOL_R_MALFORMED;
		snprintf(a->why, sizeof(a->why), "record %.200s type %u is outside the zone",
			 t, rr->type);
	}
	return ret;
}

/* ZONEMD over what will be stored (RFC 8976 section 4). */
struct rrvec {
	struct xform_rr *v;
	size_t n, cap;
};

static int rrvec_add(void *arg, const struct xform_rr *rr)
{
	struct rrvec *r = arg;
	if (r->n == r->cap) {
		size_t nc = r->cap ? r->cap * 2 : 1024;
		struct xform_rr *nv = realloc(r->v, nc * sizeof(*nv));
		if (!nv)
			return GN_ENOMEM;
		r->v = nv;
		r->cap = nc;
	}
	r->v[r->n++] = *rr;
	return 0;
}

static enum fol_reason check_zonemd(struct actx *a, uint32_t serial)
{
	struct rrvec r = { 0 };
	const char *why = NULL;
	enum fol_reason res = FOL_OK;
	int ret;

	if (a->z->conf->zonemd == FOL_ZONEMD_IGNORE)
		return FOL_OK;
	ret = xform_parse_walk(a->p, rrvec_add, &r, a->why, sizeof(a->why));
	if (ret == GN_ENOENT) {
		res = FOL_R_INCONSISTENT;
		goto out;
	}
	if (ret < 0) {
		res = FOL_R_STORE;
		snprintf(a->why, sizeof(a->why), "out of memory checking ZONEMD");
		goto out;
	}
	ret = zonemd_verify_rrs(a->z->apex, r.v, r.n, serial, &why);
	if (ret == GN_ENOENT && a->z->conf->zonemd != FOL_ZONEMD_REQUIRE)
		goto out;
	if (ret == GN_EINVAL && a->z->conf->zonemd != FOL_ZONEMD_REQUIRE) {
		log_warn("zone %s: ZONEMD present but not verifiable (%s); accepted (zonemd = "
			 "\"verify\")", a->z->conf->name, why ? why : "unsupported");
		goto out;
	}
	if (ret != 0) {
		res = FOL_R_ZONEMD;
		snprintf(a->why, sizeof(a->why), "ZONEMD %s",
			 ret == GN_ENOENT ? "required (zonemd = \"require\") but absent"
					  : why ? why : "does not match");
	}
out:
	free(r.v);
	return res;
}

/* Push the expiry forward without rewriting the zone. */
static enum fol_reason touch(struct actx *a, int64_t now)
{
	struct fol_zone *z = a->z;
	int64_t exp = fol_expiry(z, z->soa_expire, z->src_expires, now);
	int ret = snap_touch_zone(a->f->env, z->conf->name, z->serial, now, exp);

	if (ret < 0) {
		snprintf(a->why, sizeof(a->why), "cannot update the zone's expiry: %s",
			 gn_strerror(ret));
		fol_state_from_snapshot(a->f);
		return FOL_R_STORE;
	}
	pthread_mutex_lock(&a->f->lock);
	z->expires_at = exp;
	z->last_success = now;
	pthread_mutex_unlock(&a->f->lock);
	return FOL_UPTODATE;
}

static int count_data(void *arg, const struct xform_rr *rr)
{
	if (rr->ds >= 0)
		(*(size_t *)arg)++;
	return 0;
}

/* Data records (datasets only: no SOA, NS or metadata), as the central
 * database's shrink guard counts them. */
static size_t data_records(const struct zimg *img)
{
	size_t n = 0;
	if (xform_emit(img, count_data, &n) != 0)
		return 0;
	return n;
}

/* One SOA record in the journal encoding (snap.h: u8 owner length, owner,
 * u16 type, u32 ttl, u16 rdlen, rdata). */
static void soa_put(struct strbuf *b, const struct zimg *img)
{
	uint8_t rec[1 + DNAME_MAX + 8 + 2 * DNAME_MAX + 20], *p = rec;
	int ol = dname_key_to_wire(img->key, img->keylen, rec + 1);
	int ml = dname_wire_len(img->soa.mname), rl = dname_wire_len(img->soa.rname);
	const uint32_t v[5] = { img->soa.serial, img->soa.refresh, img->soa.retry,
				img->soa.expire, img->soa.minimum };
	size_t rdlen = (size_t)(ml + rl + 20);

	if (ol < 1 || ml < 1 || rl < 1) {
		b->err = GN_EINVAL;
		return;
	}
	rec[0] = (uint8_t)ol;
	p = rec + 1 + ol;
	*p++ = 0;
	*p++ = 6;
	for (int i = 3; i >= 0; i--)
		*p++ = (uint8_t)(img->soa.ttl >> (8 * i));
	*p++ = (uint8_t)(rdlen >> 8);
	*p++ = (uint8_t)rdlen;
	memcpy(p, img->soa.mname, (size_t)ml);
	p += ml;
	memcpy(p, img->soa.rname, (size_t)rl);
	p += rl;
	for (int k = 0; k < 5; k++)
		for (int i = 3; i >= 0; i--)
			*p++ = (uint8_t)(v[k] >> (8 * i));
	strbuf_add(b, (const char *)rec, (size_t)(p - rec));
}

/* Parse, check and write the received version. */
static enum fol_reason commit(struct actx *a, const struct fol_primary *prim, uint32_t serial,
			      int64_t now)
{
	struct fol_zone *z = a->z;
	struct zimg *img = NULL, *old = NULL;
	struct cdb_opts o = { .max_shrink = z->conf->max_shrink };
	struct cdb_plan plan;
	struct snap_journal_limits lim = { .max_depth = a->f->conf->jdepth };
	const struct snap_chg *chgp = NULL;
	struct snap_chg chg;
	enum fol_reason r = FOL_OK;
	int64_t src_exp, t0;
	char src[128];
	int ret;

	memset(&plan, 0, sizeof(plan));
	strbuf_init(&plan.recs);
	t0 = mono_ns();
	if ((r = check_zonemd(a, serial)) != FOL_OK)
		goto out;
	ret = xform_parse_finish(a->p, &img, a->why, sizeof(a->why));
	a->t_parse = mono_ns() - t0;
	if (ret < 0) {
		r = ret == GN_ENOENT ? FOL_R_INCONSISTENT : ret == GN_EFORMAT ? FOL_R_FORMAT
			: FOL_R_MALFORMED;
		goto out;
	}
	if (!img->soa.present || img->soa.serial != serial) {
		r = FOL_R_MALFORMED;
		snprintf(a->why, sizeof(a->why), "the zone's SOA does not carry serial %u", serial);
		goto out;
	}
	/* The stored image carries the expiry it was given (our freshness
	 * bound, which a relay passes on as expires=), and so does the new one:
	 * the changeset then tells a relay's followers the new bound too. */
	src_exp = img->ts_expires;
	img->ts_expires = fol_expiry(z, img->soa.expire, src_exp, now);
	if (z->have_zone && (ret = load_current(a, &old, false)) < 0 && ret != GN_ENOENT) {
		r = FOL_R_STORE;
		snprintf(a->why, sizeof(a->why), "cannot read the zone we hold: %s", gn_strerror(ret));
		goto out;
	}
	/* The guards of the central database compare old and new.  A first
	 * transfer (or a zone dropped meanwhile) has nothing to compare with:
	 * no guard, no journal.  A relay also needs the changeset it will
	 * serve as IXFR (cdb_plan_zone diffs old and new); a node needs only
	 * the data record counts. */
	t0 = mono_ns();
	ret = 0;
	if (old && a->f->relay) {
		ret = cdb_plan_zone(old, img, &o, &plan);
	} else if (old) {
		plan.old_data = data_records(old);
		plan.new_data = data_records(img);
		plan.serial_from = old->soa.serial;
		cdb_check(old, img, &o, &plan);
	}
	a->t_check = mono_ns() - t0;
	if (ret < 0) {
		r = FOL_R_STORE;
		snprintf(a->why, sizeof(a->why), "cannot compute the change: %s", gn_strerror(ret));
		goto out;
	}
	if (plan.refusal[0] && z->conf->guard) {
		r = FOL_R_GUARD;
		snprintf(a->why, sizeof(a->why), "%.200s (guard = false accepts)",
			 plan.refusal);
		goto out;
	}
	snprintf(src, sizeof(src), "transfer from %s", prim->text);
	free(img->source);
	img->source = strdup(src);
	if (old && a->f->relay && !plan.changed) {
		/* Only the serial moved (the plan kept the old one): store the
		 * primary's serial, journaled as the SOA change alone. */
		img->soa.serial = serial;
		strbuf_reset(&plan.recs);
		soa_put(&plan.recs, old);
		soa_put(&plan.recs, img);
		if (plan.recs.err) {
			r = FOL_R_STORE;
			snprintf(a->why, sizeof(a->why), "out of memory");
			goto out;
		}
		plan.serial_from = old->soa.serial;
		plan.serial_to = serial;
		plan.n_del = plan.n_add = 1;
		plan.changed = true;
	}
	/* Only a relay serves IXFR from its journal; a node would keep
	 * history nobody asks for. */
	if (old && plan.changed && a->f->relay) {
		chg = (struct snap_chg){ .serial_from = plan.serial_from, .serial_to = plan.serial_to,
					 .time = now, .n_del = plan.n_del, .n_add = plan.n_add,
					 .recs = (const uint8_t *)plan.recs.p, .recs_len = plan.recs.len };
		chgp = &chg;
	}
	t0 = mono_ns();
	ret = snap_put_zones_journaled(a->f->env, &img, &chgp, 1, now, &lim);
	a->t_write = mono_ns() - t0;
	histo_record_ns(&z->apply, (uint64_t)a->t_write);
	if (ret < 0) {
		r = FOL_R_STORE;
		snprintf(a->why, sizeof(a->why), "snapshot write failed: %s", gn_strerror(ret));
		goto out;
	}
	pthread_mutex_lock(&a->f->lock);
	z->have_zone = true;
	z->serial = img->soa.serial;
	z->soa_refresh = img->soa.refresh;
	z->soa_retry = img->soa.retry;
	z->soa_expire = img->soa.expire;
	z->expires_at = img->ts_expires;
	z->src_expires = src_exp;
	z->stock = !xform_parse_had_meta(a->p);
	z->last_success = now;
	pthread_mutex_unlock(&a->f->lock);
out:
	cdb_plan_free(&plan);
	zimg_free(img);
	zimg_free(old);
	return r;
}

/* One exchange with one primary. */
static enum fol_reason one(struct fol *f, struct fol_zone *z, const struct fol_primary *prim,
			   enum fol_kind kind, bool *changed, char *why, size_t why_cap)
{
	struct actx a = { .f = f, .z = z };
	struct fol_xfr_req q = {
		.apex = z->apex, .kind = kind, .serial = z->serial, .prim = prim,
		.timeout_s = f->conf->xfr_timeout, .cb = on_record, .arg = &a,
	};
	struct fol_xfr_res res;
	int64_t now = time(NULL);
	enum fol_reason r;

	int64_t t0 = mono_ns();

	if (fol_xfr_run(&q, &res) < 0) {
		r = FOL_R_STORE;
		snprintf(why, why_cap, "out of memory");
		goto out;
	}
	a.t_xfr = mono_ns() - t0;
	if (res.skew_seen) {
		char who[ADDR_TEXT_MAX + 16];
		snprintf(who, sizeof(who), "primary %s", prim->text);
		fol_skew_note(f, fol_skew_peer_of(f, prim), who, res.skew, res.badtime, now);
	}
	pthread_mutex_lock(&f->lock);
	z->bytes += res.bytes;
	if (res.reason == FOL_OK || res.uptodate) {
		z->primary_serial = res.serial;
		z->primary_serial_known = true;
	}
	pthread_mutex_unlock(&f->lock);
	if (res.reason != FOL_OK) {
		r = a.fail != FOL_OK ? a.fail : res.reason;
		snprintf(why, why_cap, "%s", a.why[0] ? a.why : res.why);
		goto out;
	}
	if (z->have_zone && cdb_serial_gt(z->serial, res.serial)) {
		r = FOL_R_BACKWARDS;
		snprintf(why, why_cap, "the primary's serial %u is older than ours (%u); keeping ours",
			 res.serial, z->serial);
		goto out;
	}
	if (z->have_zone && (res.uptodate || res.serial == z->serial)) {
		r = touch(&a, now);
		snprintf(why, why_cap, "%s", a.why);
		goto out;
	}
	if (!a.p) {
		r = FOL_R_MALFORMED;
		snprintf(why, why_cap, "the primary sent no zone");
		goto out;
	}
	r = commit(&a, prim, res.serial, now);
	snprintf(why, why_cap, "%s", a.why);
	if (r == FOL_OK)
		snprintf(why, why_cap, "%llu octets; transfer %.3f s, parse %.3f s, checks %.3f s, "
			 "write %.3f s", (unsigned long long)res.bytes, a.t_xfr / 1e9,
			 a.t_parse / 1e9, a.t_check / 1e9, a.t_write / 1e9);
	if (r == FOL_OK)
		*changed = true;
out:
	xform_parse_free(a.p);
	return r;
}

/* IXFR failures that an AXFR from the same primary can cure; a zone that
 * vanished from the snapshot meanwhile (dropped) is fetched whole at once. */
static bool axfr_cures(const struct fol_zone *z, enum fol_reason r)
{
	return r == FOL_R_REFUSED || r == FOL_R_TRUNCATED || r == FOL_R_MALFORMED ||
	       r == FOL_R_INCONSISTENT || (r == FOL_R_STORE && !z->have_zone);
}

enum fol_reason fol_apply_sync(struct fol *f, struct fol_zone *z, bool *changed)
{
	enum fol_reason r = FOL_R_NETWORK;
	char why[300] = "";

	*changed = false;
	pthread_mutex_lock(&f->lock);
	z->last_attempt = time(NULL);
	pthread_mutex_unlock(&f->lock);
	for (size_t i = 0; i < z->conf->n_prim; i++) {
		const struct fol_primary *prim = &z->conf->prim[i];
		enum fol_kind kind = z->have_zone ? FOL_K_IXFR : FOL_K_AXFR;
		for (int attempt = 0; attempt < 2; attempt++) {
			r = one(f, z, prim, kind, changed, why, sizeof(why));
			pthread_mutex_lock(&f->lock);
			z->xfr[kind][r]++;
			if (r != FOL_OK && r != FOL_UPTODATE) {
				z->failures[r]++;
				snprintf(z->last_error, sizeof(z->last_error), "%s: %s: %.150s", prim->text,
					 fol_reason_name(r), why);
			}
			pthread_mutex_unlock(&f->lock);
			if (r == FOL_OK || r == FOL_UPTODATE) {
				if (r == FOL_OK)
					log_info("zone %s: serial %u from %s by %s (%s)",
						 z->conf->name, z->serial, prim->text,
						 kind == FOL_K_IXFR ? "IXFR" : "AXFR", why);
				return r;
			}
			log_warn("zone %s: primary %s: %s refused (%s): %s%s", z->conf->name,
				 prim->text, kind == FOL_K_IXFR ? "IXFR" : "AXFR", fol_reason_name(r),
				 why, kind == FOL_K_IXFR && axfr_cures(z, r) ? "; trying AXFR" : "");
			if (kind != FOL_K_IXFR || !axfr_cures(z, r))
				break;
			kind = FOL_K_AXFR;
		}
	}
	return r;
}
