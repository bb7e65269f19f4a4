/* zonesync/fol_metrics.c - freshness as a metric: the follower's /metrics
 * exposition, and `gridns-zonesync status --snapshot DIR` for a person.
 *
 * Per zone: the serial we serve and the one the primary last advertised
 * (a gap that persists is replication stalled), the time of the last
 * successful sync and the seconds left before the zone expires (when the
 * resolver stops answering from it), transfers by kind and result, bytes,
 * and the apply time.  For the snapshot as a whole: the LMDB map, file,
 * free list, reader table and free disk (snap_env_metrics_write), the
 * figures that warn before a write fails with map full or ENOSPC.
 * docs/follower.md has the alert rules built on them.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "common/err.h"
#include "common/log.h"
#include "zonesync/fol.h"
#include "zonesync/pub.h"

static const char *const kind_names[FOL_K_COUNT] = { "axfr", "ixfr" };

static void header(struct strbuf *o, const char *name, const char *type, const char *help)
{
	strbuf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void zlabel(struct strbuf *o, const char *name, const struct fol_zone *z)
{
	strbuf_printf(o, "%s{zone=\"", name);
	histo_escape_label(o, z->conf->name);
	strbuf_add(o, "\"", 1);
}

static void plabel(struct strbuf *o, const char *name, const struct fol_peer *p)
{
	strbuf_printf(o, "%s{primary=\"", name);
	histo_escape_label(o, p->text);
	strbuf_add(o, "\"}", 2);
}

/* Per configured primary (and "other" NOTIFY senders): atomics, no lock.
 * The gauge is the LAST skew seen, not the largest since start: an alert
 * on it clears once NTP is fixed, where a maximum would fire until the
 * next restart; the counter keeps the history.  A primary no signed
 * message came from yet has no gauge series (0 would claim a measurement). */
static void skew_render(struct fol *f, struct strbuf *o)
{
	header(o, "gridns_sync_tsig_clock_skew_seconds", "gauge",
	       "Clock difference |primary - ours| in the last TSIG from it that showed one "
	       "(valid, or failed on time alone).");
	for (size_t i = 0; i < f->n_peers; i++) {
		const struct fol_peer *p = &f->peers[i];
		if (!atomic_load_explicit(&p->seen, memory_order_relaxed))
			continue;
		plabel(o, "gridns_sync_tsig_clock_skew_seconds", p);
		strbuf_printf(o, " %lld\n",
			      (long long)atomic_load_explicit(&p->skew, memory_order_relaxed));
	}
	header(o, "gridns_sync_tsig_clock_skew_warnings_total", "counter",
	       "TSIGs from this primary past tsig.skew-warn, BADTIME included.");
	for (size_t i = 0; i < f->n_peers; i++) {
		plabel(o, "gridns_sync_tsig_clock_skew_warnings_total", &f->peers[i]);
		strbuf_printf(o, " %llu\n", (unsigned long long)atomic_load_explicit(
					      &f->peers[i].warnings, memory_order_relaxed));
	}
}

void fol_metrics_render(void *arg, struct strbuf *o)
{
	struct fol *f = arg;
	int64_t now = time(NULL);

	pthread_mutex_lock(&f->lock);
	header(o, "gridns_zone_serial", "gauge", "SOA serial of the zone in the node snapshot.");
	for (size_t i = 0; i < f->n_zones; i++)
		if (f->zones[i].have_zone) {
			zlabel(o, "gridns_zone_serial", &f->zones[i]);
			strbuf_printf(o, "} %" PRIu32 "\n", f->zones[i].serial);
		}
	header(o, "gridns_zone_primary_serial", "gauge",
	       "SOA serial the primary last advertised.");
	for (size_t i = 0; i < f->n_zones; i++)
		if (f->zones[i].primary_serial_known) {
			zlabel(o, "gridns_zone_primary_serial", &f->zones[i]);
			strbuf_printf(o, "} %" PRIu32 "\n", f->zones[i].primary_serial);
		}
	header(o, "gridns_zone_last_sync_timestamp_seconds", "gauge",
	       "Unix time of the last successful sync (transfer or refresh without change).");
	for (size_t i = 0; i < f->n_zones; i++) {
		zlabel(o, "gridns_zone_last_sync_timestamp_seconds", &f->zones[i]);
		strbuf_printf(o, "} %lld\n", (long long)f->zones[i].last_success);
	}
	header(o, "gridns_zone_last_sync_age_seconds", "gauge",
	       "Seconds since the last successful sync; -1 before the first.");
	for (size_t i = 0; i < f->n_zones; i++) {
		const struct fol_zone *z = &f->zones[i];
		zlabel(o, "gridns_zone_last_sync_age_seconds", z);
		strbuf_printf(o, "} %lld\n", z->last_success ? (long long)(now - z->last_success) : -1LL);
	}
	header(o, "gridns_zone_expire_seconds", "gauge",
	       "Seconds until the zone expires on this node (negative: expired, not served).");
	for (size_t i = 0; i < f->n_zones; i++) {
		const struct fol_zone *z = &f->zones[i];
		if (!z->have_zone || !z->expires_at)
			continue;
		zlabel(o, "gridns_zone_expire_seconds", z);
		strbuf_printf(o, "} %lld\n", (long long)(z->expires_at - now));
	}
	header(o, "gridns_sync_transfers_total", "counter",
	       "Transfers by kind and result (ok, uptodate, or the failure reason).");
	for (size_t i = 0; i < f->n_zones; i++)
		for (int k = 0; k < FOL_K_COUNT; k++)
			for (int r = 0; r < FOL_R_COUNT; r++) {
				const struct fol_zone *z = &f->zones[i];
				if (!z->xfr[k][r] && r > FOL_UPTODATE)
					continue;
				zlabel(o, "gridns_sync_transfers_total", z);
				strbuf_printf(o, ",kind=\"%s\",result=\"%s\"} %" PRIu64 "\n",
					      kind_names[k], fol_reason_name(r), z->xfr[k][r]);
			}
	header(o, "gridns_sync_failures_total", "counter",
	       "Failed syncs by reason; the old zone kept serving.");
	for (size_t i = 0; i < f->n_zones; i++)
		for (int r = FOL_R_NETWORK; r < FOL_R_COUNT; r++) {
			zlabel(o, "gridns_sync_failures_total", &f->zones[i]);
			strbuf_printf(o, ",reason=\"%s\"} %" PRIu64 "\n", fol_reason_name(r),
				      f->zones[i].failures[r]);
		}
	header(o, "gridns_sync_bytes_total", "counter", "Octets received in transfers.");
	for (size_t i = 0; i < f->n_zones; i++) {
		zlabel(o, "gridns_sync_bytes_total", &f->zones[i]);
		strbuf_printf(o, "} %" PRIu64 "\n", f->zones[i].bytes);
	}
	pthread_mutex_unlock(&f->lock);
	histo_write_header(o, "gridns_sync_apply_duration_seconds",
			   "Time to write a transferred zone into the snapshot (one transaction).");
	for (size_t i = 0; i < f->n_zones; i++) {
		struct histo_snap s;
		struct strbuf l;
		memset(&s, 0, sizeof(s));
		histo_add_to(&s, &f->zones[i].apply);
		strbuf_init(&l);
		strbuf_add(&l, "zone=\"", 6);
		histo_escape_label(&l, f->zones[i].conf->name);
		strbuf_add(&l, "\"", 1);
		histo_write_series(o, "gridns_sync_apply_duration_seconds", l.p ? l.p : "", &s);
		strbuf_free(&l);
	}
	skew_render(f, o);
	snap_env_metrics_write(f->env, o);
	header(o, "gridns_snapshot_stale_readers_cleared_total", "counter",
	       "Reader slots of dead processes freed by the follower's periodic reader check.");
	strbuf_printf(o, "gridns_snapshot_stale_readers_cleared_total %llu\n",
		      (unsigned long long)atomic_load_explicit(&f->readers_cleared,
							       memory_order_relaxed));
	if (f->pub)
		pub_metrics_render(f->pub, o);
}

/* ---- status ------------------------------------------------------------- */

struct st_arg {
	FILE *out, *state;
	int64_t now;
};

/* The state line of `zone`, or zeros. */
static void st_lookup(FILE *fp, const char *zone, long long *ls, long long *la, char *ps,
		      size_t pcap)
{
	char line[1024], name[300], p[32];
	long long a, b, e;

	*ls = *la = 0;
	snprintf(ps, pcap, "-");
	if (!fp)
		return;
	rewind(fp);
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "zone %299s last_success=%lld last_attempt=%lld primary_serial=%31s "
			   "src_expires=%lld", name, &a, &b, p, &e) == 5 && strcmp(name, zone) == 0) {
			*ls = a;
			*la = b;
			snprintf(ps, pcap, "%s", p);
		}
}

static int st_zone(void *arg, const struct snap_zone *z)
{
	struct st_arg *s = arg;
	char name[300], ps[32], age[32] = "-", try_age[32] = "-", exp[48] = "never";
	long long ls, la;

	snprintf(name, sizeof(name), "%.*s", (int)z->name_len, z->name);
	st_lookup(s->state, name, &ls, &la, ps, sizeof(ps));
	if (ls)
		snprintf(age, sizeof(age), "%llds", (long long)(s->now - ls));
	if (la)
		snprintf(try_age, sizeof(try_age), "%llds", (long long)(s->now - la));
	if (z->ts_expires)
		snprintf(exp, sizeof(exp), "%s%llds", s->now >= z->ts_expires ? "EXPIRED " : "in ",
			 (long long)(s->now >= z->ts_expires ? s->now - z->ts_expires
							     : z->ts_expires - s->now));
	fprintf(s->out, "%-32s %10u %10s %10s %10s  %s\n", name, z->serial, ps, age, try_age, exp);
	return 0;
}

int fol_status_print(const char *snapshot, const char *state_file, FILE *out)
{
	struct snap_opts so = { 0 };
	struct st_arg s = { .out = out, .now = time(NULL) };
	snap_env *env = NULL;
	snap_rd *rd = NULL;
	char path[4096];
	int ret;

	if (!state_file) {
		snprintf(path, sizeof(path), "%s/follower.state", snapshot);
		state_file = path;
	}
	s.state = fopen(state_file, "r");
	if ((ret = snap_open(&env, snapshot, SNAP_RDONLY, &so)) < 0 ||
	    (ret = snap_rd_new(env, &rd)) < 0 || (ret = snap_rd_begin(rd)) < 0)
		goto out;
	fprintf(out, "%-32s %10s %10s %10s %10s  %s\n", "ZONE", "SERIAL", "PRIMARY", "SYNC-AGE",
		"TRY-AGE", "EXPIRES");
	ret = snap_rd_zones(rd, st_zone, &s);
out:
	if (s.state)
		fclose(s.state);
	snap_rd_free(rd);
	snap_close(env);
	return ret;
}
