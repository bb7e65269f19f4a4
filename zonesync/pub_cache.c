/* zonesync/pub_cache.c - one packed AXFR stream per zone, shared.
 *
 * Loading and packing a zone costs about a second and the zone's size in
 * memory per million entries; 200 followers asking for the same serial at
 * once (a fan-out after a NOTIFY) must not cost that 200 times.  The first
 * transfer of a serial packs it; transfers of that serial that arrive while
 * it packs wait for it, later ones reuse it.  Only the newest serial is
 * kept: a stream still being sent when a newer one replaces it is freed by
 * its last user (reference count under the zone's md_lock). */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "common/err.h"
#include "common/log.h"
#include "zonesync/pub_int.h"

void pub_stream_free(struct pub_stream *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->msg[i]);
	free(s->msg);
	free(s->len);
	free(s);
}

void pub_stream_append(struct pub_stream *s, const uint8_t *msg, size_t len, int *err)
{
	uint8_t *m;

	if (*err)
		return;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		uint8_t **nm = realloc(s->msg, cap * sizeof(*nm));
		uint16_t *nl;
		if (!nm) {
			*err = GN_ENOMEM;
			return;
		}
		s->msg = nm;
		if (!(nl = realloc(s->len, cap * sizeof(*nl)))) {
			*err = GN_ENOMEM;
			return;
		}
		s->len = nl;
		s->cap = cap;
	}
	if (!(m = malloc(len))) {
		*err = GN_ENOMEM;
		return;
	}
	memcpy(m, msg, len);
	s->msg[s->n] = m;
	s->len[s->n] = (uint16_t)len;
	s->n++;
	s->bytes += len;
}

/* The stored serial, read cheaply. */
static int pub_cur_serial(snap_rd *rd, struct pub_zone *z, uint32_t *serial)
{
	struct snap_zone sz;
	int r;

	if ((r = snap_rd_begin(rd)) < 0)
		return r;
	r = snap_rd_zone(rd, z->key, z->keylen, &sz);
	if (r == 1 && sz.has_soa)
		*serial = sz.serial;
	snap_rd_end(rd);
	return r < 0 ? r : r == 1 && sz.has_soa ? 0 : GN_ENOENT;
}

int pub_stream_get(struct pub *p, snap_rd *rd, struct pub_zone *z, struct pub_stream **out)
{
	struct pub_stream *s = NULL, *old = NULL;
	uint32_t serial = 0;
	int r;

	*out = NULL;
	if ((r = pub_cur_serial(rd, z, &serial)) < 0)
		return r;
	pthread_mutex_lock(&z->md_lock);
	/* Wait (bounded) for a build in progress: it is most likely ours. */
	for (int i = 0; i < 600 && z->building && !(z->stream && z->stream->serial == serial); i++) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&z->stream_cond, &z->md_lock, &ts);
	}
	if (z->stream && z->stream->serial == serial) {
		z->stream->refs++;
		*out = z->stream;
		pthread_mutex_unlock(&z->md_lock);
		return 0;
	}
	z->building = true;
	pthread_mutex_unlock(&z->md_lock);

	if (!(s = calloc(1, sizeof(*s))))
		r = GN_ENOMEM;
	else
		r = pub_stream_build(p, rd, z, s);

	pthread_mutex_lock(&z->md_lock);
	z->building = false;
	if (r == 0) {
		s->refs = 2; /* the cache's and ours */
		old = z->stream;
		z->stream = s;
		if (old && --old->refs > 0)
			old = NULL; /* its last user frees it */
		*out = s;
		s = NULL;
	}
	pthread_cond_broadcast(&z->stream_cond);
	pthread_mutex_unlock(&z->md_lock);
	pub_stream_free(old);
	pub_stream_free(s);
	return r;
}

void pub_stream_put(struct pub_zone *z, struct pub_stream *s)
{
	bool last;

	if (!s)
		return;
	pthread_mutex_lock(&z->md_lock);
	last = --s->refs == 0;
	pthread_mutex_unlock(&z->md_lock);
	if (last)
		pub_stream_free(s);
}

void pub_stream_drop(struct pub_zone *z)
{
	struct pub_stream *s;

	pthread_mutex_lock(&z->md_lock);
	s = z->stream;
	z->stream = NULL;
	if (s && --s->refs > 0)
		s = NULL;
	pthread_mutex_unlock(&z->md_lock);
	pub_stream_free(s);
}
