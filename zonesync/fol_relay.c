/* zonesync/fol_relay.c - the relay: a follower whose snapshot is also served
 * downstream by the embedded publisher (pub.h), on the follower's own loop.
 *
 * The publisher reads the same LMDB environment the follower writes: AXFR
 * from the zones, IXFR from the journal that fol_apply.c writes with every
 * change, and NOTIFY downstream as soon as the worker reports a new serial
 * (pub_zone_changed), so a change crosses a relay without waiting for the
 * publisher's serial poll.  The publisher's settings are the `publisher`
 * group of the relay's config file (docs/follower.md, "Relay").
 */
#include <stdlib.h>
#include <string.h>
#include "common/err.h"
#include "common/log.h"
#include "zonesync/fol.h"
#include "zonesync/pub.h"

int fol_relay_conf(struct fol_conf *c, struct strbuf *errs)
{
	struct pub_conf *pc = calloc(1, sizeof(*pc));
	int ret;

	if (!pc || pub_conf_init(pc) < 0) {
		free(pc);
		return GN_ENOMEM;
	}
	c->pub_conf = pc;
	/* the publisher serves the relay's snapshot: that is its db unless
	 * the file says otherwise (and then it must be the same) */
	if (c->snapshot) {
		free(pc->db);
		if (!(pc->db = strdup(c->snapshot)))
			return GN_ENOMEM;
	}
	ret = pub_conf_load(pc, c->path, "publisher", errs);
	/* the publisher serves what the follower writes, nothing else */
	if (c->snapshot && pc->db && strcmp(pc->db, c->snapshot) != 0) {
		strbuf_printf(errs, "%s: publisher.db (\"%s\") must be the relay's snapshot (\"%s\")\n",
			      c->path, pc->db, c->snapshot);
		return GN_EINVAL;
	}
	for (size_t i = 0; i < pc->n_zones; i++) {
		if (!pc->zones[i].name)
			continue;
		bool found = false;
		for (size_t k = 0; k < c->n_zones && !found; k++)
			found = strcmp(c->zones[k].name, pc->zones[i].name) == 0;
		if (!found) {
			strbuf_printf(errs, "%s:%d: publisher zone %s is not followed (not in zones)\n",
				      c->path, pc->zones[i].line, pc->zones[i].name);
			ret = GN_EINVAL;
		}
	}
	return ret;
}

void fol_relay_conf_free(struct fol_conf *c)
{
	if (c->pub_conf) {
		pub_conf_deinit(c->pub_conf);
		free(c->pub_conf);
		c->pub_conf = NULL;
	}
}

int fol_relay_start(struct fol *f)
{
	int ret = pub_new(f->loop, f->conf->pub_conf, f->env, (struct pub **)&f->pub);
	if (ret < 0)
		log_err("relay: the publisher did not start: %s", gn_strerror(ret));
	return ret;
}

void fol_relay_stop(struct fol *f)
{
	if (f->pub) {
		pub_free(f->pub);
		f->pub = NULL;
	}
}
