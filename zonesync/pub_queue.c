/* zonesync/pub_queue.c - the transfer queue and its workers.
 *
 * `transfers.max` worker threads take jobs in arrival order: past the cap,
 * a client is accepted and waits its turn rather than being dropped (a
 * dropped secondary retries later and a fan-out turns into a retry storm,
 * users.md section 4).  Each worker owns one snapshot reader, created and
 * freed on its own thread as LMDB requires.  ZONEMD digests and watched
 * imports are jobs too, so a long one never stalls the event loop. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "common/err.h"
#include "common/log.h"
#include "zonesync/pub_int.h"

void pub_job_free(struct pub_job *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	free(j->query);
	free(j);
}

static struct pub_job *pub_queue_pop(struct pub *p)
{
	struct pub_job *j = NULL;

	pthread_mutex_lock(&p->qlock);
	while (!atomic_load(&p->stopping) && !p->qhead)
		pthread_cond_wait(&p->qcond, &p->qlock);
	if (!atomic_load(&p->stopping) && (j = p->qhead)) {
		p->qhead = j->next;
		if (!p->qhead)
			p->qtail = NULL;
		atomic_fetch_sub(&p->queued, 1);
		atomic_fetch_add(&p->active, 1);
	}
	pthread_mutex_unlock(&p->qlock);
	return j;
}

/* Hand a finished connection's descriptor to the loop thread.  If the
 * list cannot grow, the descriptor stays open until pub_free: a leak of one
 * fd under memory exhaustion beats an epoll race. */
static void pub_close_later(struct pub *p, int fd)
{
	pthread_mutex_lock(&p->close_lock);
	if (p->n_closing == p->cap_closing) {
		size_t cap = p->cap_closing ? p->cap_closing * 2 : 64;
		int *n = realloc(p->closing, cap * sizeof(*n));
		if (n) {
			p->closing = n;
			p->cap_closing = cap;
		}
	}
	if (p->n_closing < p->cap_closing)
		p->closing[p->n_closing++] = fd;
	else
		log_err("publisher: out of memory: descriptor %d stays open", fd);
	pthread_mutex_unlock(&p->close_lock);
	ev_async_send(p->loop, &p->closer);
}

void pub_queue_close_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	struct pub *p = a->data;

	pthread_mutex_lock(&p->close_lock);
	for (size_t i = 0; i < p->n_closing; i++) {
		close(p->closing[i]);
		atomic_fetch_sub(&p->tcp_open, 1);
	}
	p->n_closing = 0;
	pthread_mutex_unlock(&p->close_lock);
}

static void *pub_worker(void *arg)
{
	struct pub_worker *wk = arg;
	struct pub *p = wk->p;
	snap_rd *rd = NULL;
	struct pub_job *j;
	int r;

	if ((r = snap_rd_new(p->env, &rd)) < 0) {
		log_err("publisher: a transfer worker cannot read the database: %s; it stops",
			gn_strerror(r));
		return NULL;
	}
	while ((j = pub_queue_pop(p))) {
		switch (j->kind) {
		case PUB_J_XFR: {
			double t0 = pub_now();
			enum pub_kind k;
			histo_record_ns(&wk->wait, (uint64_t)((t0 - j->queued_at) * 1e9));
			k = pub_xfr_serve(p, rd, j);
			histo_record_ns(&wk->dur[k], (uint64_t)((pub_now() - t0) * 1e9));
			break;
		}
		case PUB_J_DIGEST:
			atomic_store(&j->z->md_queued, false);
			if ((r = pub_md_compute(p, rd, j->z)) < 0 && r != GN_ENOENT)
				log_warn("publisher: zone %s: ZONEMD not computed: %s", j->z->zc->name,
					 gn_strerror(r));
			break;
		case PUB_J_IMPORT:
			pub_watch_import(p, j->z);
			break;
		}
		if (j->fd >= 0) {
			/* FIN now; the loop thread closes the descriptor. */
			shutdown(j->fd, SHUT_RDWR);
			pub_close_later(p, j->fd);
			j->fd = -1;
		}
		pub_job_free(j);
		atomic_fetch_sub(&p->active, 1);
	}
	snap_rd_free(rd);
	return NULL;
}

int pub_queue_push(struct pub *p, struct pub_job *j)
{
	int ret = 0;

	pthread_mutex_lock(&p->qlock);
	if (atomic_load(&p->stopping)) {
		ret = GN_EBUSY;
	} else if (j->kind == PUB_J_XFR &&
		   atomic_load(&p->queued) >= (uint_fast64_t)p->conf->queue_max) {
		ret = GN_ELIMIT;
	} else {
		j->next = NULL;
		j->queued_at = pub_now();
		if (p->qtail)
			p->qtail->next = j;
		else
			p->qhead = j;
		p->qtail = j;
		atomic_fetch_add(&p->queued, 1);
		pthread_cond_signal(&p->qcond);
	}
	pthread_mutex_unlock(&p->qlock);
	return ret;
}

int pub_queue_start(struct pub *p)
{
	size_t n = (size_t)p->conf->max_transfers;
	int err;

	if (!(p->workers = calloc(n, sizeof(*p->workers))))
		return GN_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		p->workers[i].p = p;
		if ((err = pthread_create(&p->workers[i].thread, NULL, pub_worker,
					  &p->workers[i])) != 0) {
			log_err("publisher: cannot start transfer worker %zu: %s", i, strerror(err));
			return GN_EIO;
		}
		p->n_workers++;
	}
	return 0;
}

void pub_queue_stop(struct pub *p)
{
	struct pub_job *j;

	pthread_mutex_lock(&p->qlock);
	atomic_store(&p->stopping, true);
	pthread_cond_broadcast(&p->qcond);
	pthread_mutex_unlock(&p->qlock);
	/* A worker in the middle of a transfer notices at its next message;
	 * a stalled client is bounded by transfers.send-timeout-ms. */
	for (size_t i = 0; i < p->n_workers; i++)
		pthread_join(p->workers[i].thread, NULL);
	free(p->workers);
	p->workers = NULL;
	p->n_workers = 0;
	while ((j = p->qhead)) {
		p->qhead = j->next;
		pub_job_free(j);
	}
	p->qtail = NULL;
	/* The workers are gone: close what they handed back. */
	pub_queue_close_cb(p->loop, &p->closer, 0);
	free(p->closing);
	p->closing = NULL;
	p->cap_closing = 0;
}
