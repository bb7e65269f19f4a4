/* resolver/health_heal.c - the healing ladder: restart the failing worker
 * loop, reopen the snapshot, recreate the tier contexts, and exit for the
 * supervisor when nothing helped (docs/health.md, "Healing"). */
#include <stdio.h>
#include <string.h>
#include "common/log.h"
#include "resolver/health_int.h"
#include "resolver/server.h"

static void health_count(struct health *h, enum health_action a)
{
	pthread_mutex_lock(&h->lock);
	h->t.heal[a]++;
	if (a != HEALTH_A_EXIT)
		h->t.heal_attempts++;
	pthread_mutex_unlock(&h->lock);
}

/* Restart the workers that fail (by their own check), or all of them when
 * the canaries fail but no worker can be blamed (SO_REUSEPORT spreads the
 * canaries, so a timeout does not say which worker dropped it). */
static void heal_restart_workers(struct health *h, bool all, enum health_action a)
{
	unsigned nw = server_workers(h->srv), n_blamed = 0;

	for (unsigned i = 0; !all && i < nw; i++) {
		bool blamed = false;
		pthread_mutex_lock(&h->lock);
		for (size_t k = 0; k < h->t.n; k++)
			/* Down, or failing on its way down: the canaries
			 * often time out a round before the heartbeat tells. */
			if (h->t.v[k].worker == (int)i && (!h->t.v[k].up || h->t.v[k].streak > 0))
				blamed = true;
		pthread_mutex_unlock(&h->lock);
		if (!blamed)
			continue;
		n_blamed++;
		log_warn("health: healing: restarting worker %u", i);
		(void)server_restart_worker(h->srv, i, HEALTH_JOIN_MS);
	}
	if (!n_blamed) {
		log_warn("health: healing: restarting all %u workers%s", nw,
			 a == HEALTH_A_RESTART_TIERS ? " (fresh tier contexts)" : "");
		for (unsigned i = 0; i < nw; i++)
			(void)server_restart_worker(h->srv, i, HEALTH_JOIN_MS);
	}
	health_count(h, a);
}

static void heal_reopen(struct health *h)
{
	log_warn("health: healing: reopening the snapshot");
	/* Our reader goes first: the main thread closes the env it reads. */
	snap_rd_free(h->rd);
	h->rd = NULL;
	h->rd_env = NULL;
	atomic_store(&h->reopen_pending, true);
	atomic_store(&h->request, HEALTH_REQ_REOPEN);
	health_count(h, HEALTH_A_REOPEN_SNAPSHOT);
}

/* One step of the ladder per call, then `rise` rounds to let it show. */
void health_heal(struct health *h)
{
	bool fault, data, upstream;
	unsigned attempts;

	pthread_mutex_lock(&h->lock);
	fault = health_table_down_class(&h->t, HEALTH_FAULT);
	/* A missing snapshot is main's to retry (run() does, with back-off);
	 * reopening cannot conjure one. */
	data = false;
	for (size_t k = 0; k < h->t.n; k++)
		if (!h->t.v[k].up && h->t.v[k].cls == HEALTH_DATA &&
		    strcmp(h->t.v[k].name, "snapshot") != 0)
			data = true;
	upstream = health_table_down_class(&h->t, HEALTH_UPSTREAM);
	if (!fault)
		h->t.heal_attempts = 0;
	attempts = h->t.heal_attempts;
	pthread_mutex_unlock(&h->lock);
	if (!data)
		h->data_heal_done = false;
	if (!upstream)
		h->up_heal_done = 0;
	if (h->heal_wait > 0) {
		h->heal_wait--;
		return;
	}
	if (atomic_load(&h->reopen_pending))
		return;
	if (fault) {
		if (h->c.max_heal && attempts >= h->c.max_heal) {
			log_err("health: still faulty after %u heal attempts (%s); exiting with "
				"status %d so that the supervisor restarts gridns-resolver",
				attempts, h->status, HEALTH_EXIT_CODE);
			health_count(h, HEALTH_A_EXIT);
			atomic_store(&h->request, HEALTH_REQ_EXIT);
			return;
		}
		switch (attempts % 3) {
		case 0: heal_restart_workers(h, false, HEALTH_A_RESTART_WORKER); break;
		case 1: heal_reopen(h); break;
		default: heal_restart_workers(h, true, HEALTH_A_RESTART_TIERS); break;
		}
	} else if (data && !h->data_heal_done) {
		/* Wrong data is the publisher's to fix; a stale handle on a
		 * replaced snapshot is ours, and reopening costs little. */
		h->data_heal_done = true;
		heal_reopen(h);
	} else if (upstream && !h->up_heal_done) {
		/* A libunbound context can stay stuck after a network change
		 * (users.md section 2); fresh contexts are worth one try. */
		h->up_heal_done = 1;
		heal_restart_workers(h, true, HEALTH_A_RESTART_TIERS);
	} else {
		return;
	}
	h->heal_wait = h->c.rise;
}
