/* zonesync/cdb.h - the central distribution database (publisher side).
 *
 * The database is a snapshot environment (snap.h: the same LMDB layout the
 * nodes use, so the publisher serves from the same code) plus the journal
 * of changesets by serial.  An import compiles the sources, puts the new
 * image and the current one in transfer form (xform.h), and diffs them:
 * the minimal changeset is what an IXFR will carry.  Zone, serial and
 * changeset are written in ONE transaction; an unchanged source writes
 * nothing and makes no new serial.
 *
 * Safety: an import is refused (nothing written, GN_ELIMIT) when a zone
 *  - loses more than max_shrink of its data records (a feed replaced by a
 *    "misuse" notice would otherwise un-list everything, users.md section 1),
 *  - loses an RFC 5782 test entry it had (127.0.0.2, ::ffff:7f00:2, "test"),
 *  - changes dataset types (ip4set -> dnset and the like);
 * unless force is set.  docs/distribution.md has the details and numbers.
 *
 * Not thread-safe per call; LMDB serialises writers between processes.
 */
#pragma once
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "common/strbuf.h"
#include "zonesync/snap.h"
#include "zonesync/zimg.h"

#define CDB_DEFAULT_MAX_SHRINK 0.5

struct cdb_opts {
	bool force;             /* import despite safety refusals */
	bool strict;            /* compile: any bad source line is fatal */
	double max_shrink;      /* refuse losing more than this fraction; <0 = default */
	struct snap_journal_limits lim;
	bool dry_run;           /* compute and print, write nothing (`diff`) */
	FILE *out;              /* dry_run: the changesets are printed here */
	int64_t now;            /* import time; 0 = time(NULL) (tests pin it) */
};

/* RFC 1982: is serial a greater than serial b? */
bool cdb_serial_gt(uint32_t a, uint32_t b);
/* The serial after `cur` for a source that says `src`: src when it is
 * greater than cur in serial arithmetic, else cur + 1; 0 is skipped (many
 * tools read serial 0 as "unset"). */
uint32_t cdb_next_serial(uint32_t cur, uint32_t src);

/* What an import would do to one zone. */
struct cdb_plan {
	const char *zone;       /* the new image's name (not owned) */
	bool is_new;            /* no current zone: stored whole, no changeset */
	bool changed;
	uint32_t serial_from, serial_to;
	size_t old_data, new_data; /* data records (datasets only, no SOA/NS/_gridns) */
	uint32_t n_del, n_add;  /* changeset records, the two SOAs included */
	struct strbuf recs;     /* the changeset records, journal encoding */
	char refusal[1024];     /* first reason to refuse, "" when none */
};

/* Give an image without $SOA a default one (mname = first NS or the apex,
 * rname hostmaster.<zone>, 3600/600/604800/2100, serial 0): a zone transfer
 * needs a SOA.  No-op when it has one. */
int cdb_default_soa(struct zimg *img);

/* Diff `old` (NULL: new zone) against `img`, decide the serial and check
 * the safety rules.  Sets img->soa.serial to the serial the zone will have
 * (the current one when unchanged).  0 or <0; refusals are not errors, they
 * are reported in p->refusal.  Free with cdb_plan_free. */
int cdb_plan_zone(struct zimg *old, struct zimg *img, const struct cdb_opts *o,
		  struct cdb_plan *p);
void cdb_plan_free(struct cdb_plan *p);
/* The safety rules alone (cdb_check.c): fills p->refusal when one fails. */
void cdb_check(const struct zimg *old, const struct zimg *img, const struct cdb_opts *o,
	       struct cdb_plan *p);

/* Print a changeset as "-"/"+" master-file lines (SOAs first). */
int cdb_print_records(FILE *out, const uint8_t *recs, size_t len, uint32_t n_del);

/* import / diff: compile specs (argv-style ZONE:TYPE:FILE[,FILE]), plan
 * every zone, and unless o->dry_run write all changed zones in one
 * transaction.  0 (written, unchanged, or printed), GN_ELIMIT (refused,
 * nothing written), or another <0 error.  With dry_run, env may be NULL
 * (no database yet: every zone is new). */
int cdb_import(snap_env *env, const char *const *specs, size_t n, const struct cdb_opts *o);

/* import --watch (cdb_watch.c): import every zone of specs, then poll its
 * source files every `interval` seconds and re-import a zone whose files
 * changed and then held still for one poll.  Failures and refusals are
 * logged and the old zone kept; the loop goes on until *stop is set (by a
 * signal handler).  0 when stopped, <0 on a bad spec or no memory. */
int cdb_watch(snap_env *env, const char *const *specs, size_t n, const struct cdb_opts *o,
	      unsigned interval, volatile sig_atomic_t *stop);

/* `status`: one line per zone.  `journal`: the zone's changesets, with
 * their records when verbose.  0 or <0 (GN_ENOENT: no such zone). */
int cdb_status(snap_env *env, FILE *out, int64_t now);
int cdb_journal_print(snap_env *env, const char *zone, bool verbose, FILE *out);
