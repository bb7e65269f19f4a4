/* zonesync/cdb_import.c - `import` and `diff` against the central database.
 *
 * Order matters for safety: every source is compiled and every zone planned
 * and checked BEFORE anything is written, and all changed zones are then
 * written in one transaction.  A bad source, a refusal or an error in any
 * zone leaves every zone as it was.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "common/err.h"
#include "common/log.h"
#include "zonesync/cdb.h"
#include "zonesync/compile.h"
#include "zonesync/dump.h"

int cdb_print_records(FILE *out, const uint8_t *recs, size_t len, uint32_t n_del)
{
	struct snap_jrr_it it = { recs, recs + len };
	struct snap_jrr r;
	uint32_t i = 0;
	int ret;

	while ((ret = snap_jrr_next(&it, &r)) == 1) {
		struct xform_rr x = {
			.owner = r.owner, .owner_len = r.owner_len, .type = r.type,
			.rclass = XFORM_CLASS_IN, .ttl = r.ttl, .rdlen = r.rdlen,
			.rdata = r.rdata, .ds = 0,
		};
		if ((ret = dump_rr(out, i++ < n_del ? "-" : "+", &x)) < 0)
			return ret;
	}
	return ret;
}

static int print_plan(FILE *out, const struct cdb_plan *p, const struct cdb_opts *o)
{
	if (p->is_new)
		fprintf(out, "; zone %s: new, serial %u, %zu data record(s) "
			"(stored whole, no changeset: followers take it by AXFR)\n",
			p->zone, p->serial_to, p->new_data);
	else if (!p->changed)
		fprintf(out, "; zone %s: unchanged at serial %u\n", p->zone, p->serial_to);
	else
		fprintf(out, "; zone %s: serial %u -> %u, %u deleted, %u added "
			"(data records %zu -> %zu)\n", p->zone, p->serial_from, p->serial_to,
			p->n_del - 1, p->n_add - 1, p->old_data, p->new_data);
	if (p->refusal[0])
		fprintf(out, "; import would refuse%s: %s\n", o->force ? " without --force" : "",
			p->refusal);
	if (p->changed && !p->is_new)
		return cdb_print_records(out, (const uint8_t *)p->recs.p, p->recs.len, p->n_del);
	return 0;
}

/* The current images of the zones (NULL where a zone is new). */
static int load_current(snap_env *env, struct zimg **imgs, size_t n, struct zimg **old)
{
	snap_rd *rd = NULL;
	int ret;

	if (!env) /* diff before the database exists: every zone is new */
		return 0;
	if ((ret = snap_rd_new(env, &rd)) < 0 || (ret = snap_rd_begin(rd)) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		ret = snap_load_zone(rd, imgs[i]->name, &old[i]);
		if (ret == GN_ENOENT)
			ret = 0;
		if (ret < 0) {
			log_err("zone %s: cannot read the current zone from the database: %s",
				imgs[i]->name, gn_strerror(ret));
			goto out;
		}
	}
out:
	snap_rd_free(rd);
	return ret;
}

static int write_changed(snap_env *env, struct zimg **imgs, struct cdb_plan *plans, size_t n,
			 const struct cdb_opts *o, int64_t now)
{
	struct zimg **w = calloc(n ? n : 1, sizeof(*w));
	struct snap_chg *chg = calloc(n ? n : 1, sizeof(*chg));
	const struct snap_chg **cp = calloc(n ? n : 1, sizeof(*cp));
	size_t k = 0;
	int ret = GN_ENOMEM;

	if (!w || !chg || !cp)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct cdb_plan *p = &plans[i];
		if (!p->changed)
			continue;
		w[k] = imgs[i];
		cp[k] = NULL;
		if (!p->is_new) {
			chg[k] = (struct snap_chg){
				.serial_from = p->serial_from, .serial_to = p->serial_to,
				.time = now, .n_del = p->n_del, .n_add = p->n_add,
				.recs = (const uint8_t *)p->recs.p, .recs_len = p->recs.len,
			};
			cp[k] = &chg[k];
		}
		k++;
	}
	ret = k ? snap_put_zones_journaled(env, w, cp, k, now, &o->lim) : 0;
out:
	free(w);
	free(chg);
	free(cp);
	return ret;
}

int cdb_import(snap_env *env, const char *const *specs, size_t n, const struct cdb_opts *o)
{
	struct compile_opts co = { .strict = o->strict };
	struct zimg **imgs = NULL, **old = NULL;
	struct cdb_plan *plans = NULL;
	int64_t now = o->now ? o->now : (int64_t)time(NULL);
	size_t nz = 0, refused = 0;
	int ret;

	if ((ret = compile_specs(specs, n, &co, &imgs, &nz)) < 0)
		goto out;
	ret = GN_ENOMEM;
	if (!(old = calloc(nz ? nz : 1, sizeof(*old))) ||
	    !(plans = calloc(nz ? nz : 1, sizeof(*plans))))
		goto out;
	for (size_t i = 0; i < nz; i++)
		strbuf_init(&plans[i].recs);
	if ((ret = load_current(env, imgs, nz, old)) < 0)
		goto out;
	for (size_t i = 0; i < nz; i++) {
		if ((ret = cdb_plan_zone(old[i], imgs[i], o, &plans[i])) < 0) {
			log_err("zone %s: cannot compute the changeset: %s", imgs[i]->name,
				gn_strerror(ret));
			goto out;
		}
		if (plans[i].refusal[0] && plans[i].changed)
			refused++;
	}
	if (o->dry_run) {
		ret = 0;
		for (size_t i = 0; i < nz && ret == 0; i++)
			ret = print_plan(o->out ? o->out : stdout, &plans[i], o);
		goto out;
	}
	for (size_t i = 0; i < nz; i++) {
		const struct cdb_plan *p = &plans[i];
		if (!p->refusal[0])
			continue;
		if (o->force)
			log_warn("zone %s: importing despite: %s (--force)", p->zone, p->refusal);
		else
			log_err("zone %s: import refused, serial stays %u: %s; check the source, "
				"or use --force if the change is intended", p->zone, p->serial_from,
				p->refusal);
	}
	if (refused && !o->force) {
		log_err("nothing written: %zu zone(s) refused", refused);
		ret = GN_ELIMIT;
		goto out;
	}
	if ((ret = write_changed(env, imgs, plans, nz, o, now)) < 0)
		goto out;
	for (size_t i = 0; i < nz; i++) {
		const struct cdb_plan *p = &plans[i];
		if (p->is_new)
			log_info("imported %s: new zone, serial %u, %zu data record(s)", p->zone,
				 p->serial_to, p->new_data);
		else if (!p->changed)
			log_info("%s: unchanged at serial %u", p->zone, p->serial_to);
		else
			log_info("imported %s: serial %u -> %u, %u record(s) deleted, %u added",
				 p->zone, p->serial_from, p->serial_to, p->n_del - 1, p->n_add - 1);
	}
out:
	for (size_t i = 0; plans && i < nz; i++)
		cdb_plan_free(&plans[i]);
	free(plans);
	for (size_t i = 0; old && i < nz; i++)
		zimg_free(old[i]);
	free(old);
	compile_free_all(imgs, nz);
	return ret;
}
