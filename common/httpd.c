/* common/httpd.c - /metrics and /health over libmicrohttpd (see httpd.h).
 *
 * libmicrohttpd runs in its external-select (epoll) mode inside ONE thread of
 * ours, so every callback runs on that thread: the owner's render code never
 * races itself, and stopping is a join, not a guess.
 *
 * Slow clients.  MHD's own timeout only measures inactivity, so a client
 * that sends one byte every few seconds would keep a slot for ever, and
 * conn_limit of them would lock /metrics and /health out (a slowloris).  We
 * therefore give every request an absolute deadline: the connection is
 * tracked from MHD's "started" notification (or from the end of the previous
 * request on a kept-alive connection) and shut down by httpd_reap once the
 * deadline passes with no answer sent.  Tracking lives in a table sized to
 * the connection limit and only this thread touches it (MHD calls the
 * notifications from inside MHD_run, and httpd_reap runs between two
 * MHD_run calls), so there is no lock.  A slot holds a connection only
 * between the "started" and "closed" notifications, and MHD closes a socket
 * only after "closed", so httpd_reap never shuts down a descriptor that MHD
 * has closed (and the kernel may have reused).
 *
 * Many addresses.  The deadline alone lets an attacker on a few addresses
 * who reconnects as soon as he is cut take the slots back every deadline_s,
 * so a scrape would only get in during a short gap.  MHD is therefore given
 * a few spare slots above conn_limit: a newcomer is accepted even when
 * conn_limit connections are open, and then the oldest connection that owes
 * its client nothing (no request delivered, or an answer already sent) and
 * has waited for its request for over HTTPD_GIVE_WAY_MS gives way
 * (httpd_make_room), as on DNS TCP (resolver/server_tcp.c).  A real client
 * sends its request in one round trip, so it is never the one to go; a
 * dribbler's slot is recycled after HTTPD_GIVE_WAY_MS instead of
 * deadline_s.  When none is old enough yet, the newcomer keeps its spare
 * slot and the reaper makes room as soon as one is: refusing it would hand
 * the endpoint to whoever reconnects fastest.  MHD's own limit, the spares
 * included, still bounds the sockets; beyond it newcomers wait in the listen
 * queue, as before. */
#include <errno.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "common/err.h"
#include "common/httpd.h"
#include "common/log.h"

/* Defaults of struct httpd_opts (documented in docs/security.md). */
#define HTTPD_CONN_LIMIT 32
#define HTTPD_IDLE_S 10
#define HTTPD_DEADLINE_S 10
/* Over conn_limit, a connection that has waited this long for its request
 * gives way to a newcomer: a request takes one round trip, so only a
 * dribbler or a client on a path slower than a second loses its slot. */
#define HTTPD_GIVE_WAY_MS 1000
/* MHD's limit is conn_limit plus a quarter of it: enough spares that
 * newcomers are accepted while the oldest connections give way, few enough
 * that the socket bound stays close to conn_limit. */
#define HTTPD_SPARE_DIV 4
/* MHD's messages (one per refused or failed connection) and our own cuts are
 * triggered by clients: at most this many lines a second, then a count. */
#define HTTPD_LOG_PER_S 10

/* One tracked connection (see "Slow clients" above). */
struct httpd_conn {
	struct MHD_Connection *c; /* NULL: the slot is free */
	int64_t deadline_ms;      /* CLOCK_MONOTONIC; shut down after it */
	int64_t since_ms;         /* waiting for its request since (opened, or previous answer sent) */
	bool busy;                /* a request delivered, its answer not yet sent */
	bool cut;                 /* already shut down, MHD has yet to close it */
};

struct httpd {
	struct MHD_Daemon *d;
	httpd_render_fn render;
	httpd_health_fn health;
	void *arg;
	pthread_t thread;
	bool started;
	atomic_bool stop;
	int wake;               /* eventfd: httpd_free interrupts poll */
	struct httpd_conn *conns; /* MHD's limit of slots, httpd thread only */
	unsigned nconns;
	unsigned limit;         /* conn_limit: above it the oldest unfinished gives way */
	unsigned deadline_s;
	/* Connections we shut down, httpd thread only (rendered by it too). */
	uint64_t cut_deadline;  /* no complete request and answer in deadline_s */
	uint64_t cut_evicted;   /* gave way to a newcomer over conn_limit */
	int64_t log_second;     /* the second the log limiter is counting */
	unsigned log_lines;     /* lines written in log_second */
	unsigned log_dropped;   /* lines suppressed since the last one written */
	char name[64];
	char health_type[64];
	char addr_text[ADDR_TEXT_MAX];
};

static int64_t httpd_now_ms(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC cannot fail with a valid pointer; a zero keeps the
	 * deadlines finite should it ever do so. */
	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Once a second is over, say how many client-triggered warnings it
 * swallowed.  Called on the httpd thread, or on the owner's before it starts
 * / after it is joined. */
static void httpd_log_tick(struct httpd *h, int64_t sec)
{
	if (sec == h->log_second)
		return;
	if (h->log_dropped)
		log_warn("%s http: %u more messages like the above suppressed", h->name,
			 h->log_dropped);
	h->log_second = sec;
	h->log_lines = 0;
	h->log_dropped = 0;
}

/* Whether one more client-triggered warning may be written now. */
static bool httpd_log_ok(struct httpd *h)
{
	httpd_log_tick(h, httpd_now_ms() / 1000);
	if (h->log_lines >= HTTPD_LOG_PER_S) {
		h->log_dropped++;
		return false;
	}
	h->log_lines++;
	return true;
}

static void httpd_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct httpd *h = cls;
	char buf[512];
	size_t n;

	if (!httpd_log_ok(h))
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	log_warn("%s http: %s", h->name, buf);
}

/* Shut one connection's socket down: MHD sees the end of the stream on its
 * next round and closes the connection itself, with its own bookkeeping
 * (slot count, per-address count, the "closed" notification). */
static void httpd_cut(struct httpd *h, struct httpd_conn *t, const char *why)
{
	const union MHD_ConnectionInfo *fd, *peer;
	char who[ADDR_TEXT_MAX] = "?";

	t->cut = true;
	fd = MHD_get_connection_info(t->c, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!fd || shutdown(fd->connect_fd, SHUT_RDWR) != 0) {
		/* ENOTCONN: the client reset it and MHD closes it on its next
		 * round; anything else is left to MHD's idle timeout. */
		if (httpd_log_ok(h))
			log_warn("%s http: cannot cut a connection (%s): %s", h->name, why,
				 fd ? strerror(errno) : "no descriptor");
		return;
	}
	if (!httpd_log_ok(h))
		return;
	peer = MHD_get_connection_info(t->c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (peer && peer->client_addr &&
	    addr_format(peer->client_addr, who, sizeof(who)) < 0)
		snprintf(who, sizeof(who), "?");
	log_warn("%s http: closed the connection from %s: %s (a slowloris, or a client "
		 "on a very slow path: a scrape takes well under a second)", h->name, who, why);
}

/* Over conn_limit (a newcomer took a spare slot): shut down the oldest
 * connections that owe their clients nothing and have waited over
 * HTTPD_GIVE_WAY_MS for their request, until conn_limit are left.  Returns
 * the milliseconds until the oldest such connection is old enough when
 * still over the limit, or -1 when there is nothing to wait for (at or
 * under the limit, or every connection is being answered). */
static int64_t httpd_make_room(struct httpd *h, int64_t now)
{
	char why[96];

	for (;;) {
		struct httpd_conn *old = NULL;
		unsigned live = 0, i;

		for (i = 0; i < h->nconns; i++) {
			struct httpd_conn *t = &h->conns[i];

			if (!t->c || t->cut)
				continue; /* free, or already on its way out */
			live++;
			if (!t->busy && (!old || t->since_ms < old->since_ms))
				old = t;
		}
		if (live <= h->limit || !old)
			return -1;
		if (now - old->since_ms < HTTPD_GIVE_WAY_MS)
			return HTTPD_GIVE_WAY_MS - (now - old->since_ms);
		snprintf(why, sizeof(why),
			 "gave way to a new client: no complete request in %d ms while all "
			 "%u slots were taken", HTTPD_GIVE_WAY_MS, h->limit);
		h->cut_evicted++;
		httpd_cut(h, old, why);
	}
}

/* MHD_OPTION_NOTIFY_CONNECTION: a connection starts its first request's
 * deadline, or gives its slot back. */
static void httpd_notify(void *cls, struct MHD_Connection *c, void **ctx,
			 enum MHD_ConnectionNotificationCode toe)
{
	struct httpd *h = cls;
	struct httpd_conn *t = *ctx;
	int64_t now;
	unsigned i;

	if (toe != MHD_CONNECTION_NOTIFY_STARTED) {
		if (t)
			t->c = NULL;
		*ctx = NULL;
		return;
	}
	for (i = 0; i < h->nconns && h->conns[i].c; i++)
		;
	if (i == h->nconns) {
		/* MHD holds more connections than the limit it was given (the
		 * table has one slot per connection MHD may hold): refuse this
		 * one rather than let it escape the deadline. */
		struct httpd_conn spare = { .c = c };
		httpd_cut(h, &spare, "more connections than the limit");
		return;
	}
	now = httpd_now_ms();
	t = &h->conns[i];
	t->c = c;
	t->cut = false;
	t->busy = false;
	t->since_ms = now;
	t->deadline_ms = now + (int64_t)h->deadline_s * 1000;
	*ctx = t;
	/* At once, so that a newcomer does not wait for the reaper's round
	 * when an old dribbler can give way now.  The wait it returns when
	 * none can yet is the reaper's: it runs right after this MHD_run and
	 * sleeps no longer than that. */
	(void)httpd_make_room(h, now);
}

/* MHD_OPTION_NOTIFY_COMPLETED: the answer is sent; on a kept-alive
 * connection the next request gets a deadline of its own. */
static void httpd_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			    enum MHD_RequestTerminationCode toe)
{
	struct httpd *h = cls;
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct httpd_conn *t = info ? info->socket_context : NULL;

	(void)con_cls;
	(void)toe;
	if (t && !t->cut) {
		int64_t now = httpd_now_ms();

		t->busy = false;
		t->since_ms = now;
		t->deadline_ms = now + (int64_t)h->deadline_s * 1000;
	}
}

/* Cut every connection past its deadline, and make room over the limit;
 * returns the milliseconds until the next deadline or the next connection
 * that may give way, at most `cap`, so that poll wakes up for it. */
static int httpd_reap(struct httpd *h, int cap)
{
	int64_t now = httpd_now_ms(), next = cap, room;
	char why[64];
	unsigned i;

	httpd_log_tick(h, now / 1000); /* the suppressed count, even if all goes quiet */
	for (i = 0; i < h->nconns; i++) {
		struct httpd_conn *t = &h->conns[i];

		if (!t->c || t->cut)
			continue;
		if (t->deadline_ms <= now) {
			snprintf(why, sizeof(why), "no complete request and answer in %u s",
				 h->deadline_s);
			h->cut_deadline++;
			httpd_cut(h, t, why);
		} else if (t->deadline_ms - now < next) {
			next = t->deadline_ms - now;
		}
	}
	room = httpd_make_room(h, now);
	if (room >= 0 && room < next)
		next = room;
	return (int)next;
}

static enum MHD_Result httpd_reply(struct MHD_Connection *conn, unsigned status, const char *ctype,
				   char *body, size_t len, bool owned)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, body,
					    owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!r) {
		if (owned)
			free(body);
		return MHD_NO;
	}
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) == MHD_NO ||
	    (status == MHD_HTTP_METHOD_NOT_ALLOWED &&
	     MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD") == MHD_NO)) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* The endpoint's own family, after the owner's exposition: every daemon
 * serving /metrics through here exports it without code of its own. */
static void httpd_render_own(const struct httpd *h, struct strbuf *b)
{
	strbuf_printf(b,
		      "# HELP gridns_http_connections_cut_total HTTP connections of /metrics "
		      "and /health closed on the client (deadline: no complete request and "
		      "answer in time; evicted: gave way to a new client over the limit)\n"
		      "# TYPE gridns_http_connections_cut_total counter\n"
		      "gridns_http_connections_cut_total{reason=\"deadline\"} %llu\n"
		      "gridns_http_connections_cut_total{reason=\"evicted\"} %llu\n",
		      (unsigned long long)h->cut_deadline, (unsigned long long)h->cut_evicted);
}

static enum MHD_Result httpd_handler(void *cls, struct MHD_Connection *conn, const char *url,
				     const char *method, const char *version,
				     const char *upload_data, size_t *upload_size, void **con_cls)
{
	static const char text[] = "text/plain; charset=utf-8";
	static char ok[] = "ok\n", notfound[] = "not found: try /metrics or /health\n",
		    notallowed[] = "method not allowed\n", oom[] = "out of memory\n";
	struct httpd *h = cls;
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct httpd_conn *t = info ? info->socket_context : NULL;
	struct strbuf b;
	unsigned status = MHD_HTTP_OK;
	const char *ctype = "text/plain; version=0.0.4; charset=utf-8";

	/* MHD calls us once the request's headers are in: from now on the
	 * connection is owed an answer and never gives way to a newcomer
	 * (httpd_completed makes it eligible again once the answer is sent). */
	if (t)
		t->busy = true;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return httpd_reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, text, notallowed,
				   sizeof(notallowed) - 1, false);
	strbuf_init(&b);
	if (strcmp(url, "/health") == 0) {
		/* 503 tells a load balancer to stop sending us work. */
		int bad = h->health ? h->health(h->arg, &b) : 0;
		if (!bad && !b.len) {
			strbuf_free(&b);
			return httpd_reply(conn, MHD_HTTP_OK, text, ok, sizeof(ok) - 1, false);
		}
		status = bad ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK;
		ctype = h->health_type;
		if (!b.len)
			strbuf_printf(&b, "unhealthy\n");
	} else if (strcmp(url, "/metrics") == 0) {
		h->render(h->arg, &b);
		httpd_render_own(h, &b);
	} else {
		strbuf_free(&b);
		return httpd_reply(conn, MHD_HTTP_NOT_FOUND, text, notfound, sizeof(notfound) - 1,
				   false);
	}
	if (b.err || !b.p) {
		strbuf_free(&b);
		return httpd_reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, text, oom, sizeof(oom) - 1,
				   false);
	}
	/* The body is handed to MHD, which frees it with free(3). */
	return httpd_reply(conn, status, ctype, b.p, b.len, true);
}

static void *httpd_main(void *arg)
{
	struct httpd *h = arg;
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
	int epfd = info ? info->epoll_fd : -1;

	if (epfd < 0) {
		log_err("%s: libmicrohttpd gave no epoll descriptor; http disabled", h->name);
		return NULL;
	}
	while (!atomic_load(&h->stop)) {
		struct pollfd p[2] = { { .fd = epfd, .events = POLLIN },
				       { .fd = h->wake, .events = POLLIN } };
		MHD_UNSIGNED_LONG_LONG to;
		int timeout = httpd_reap(h, 1000);

		if (MHD_get_timeout(h->d, &to) == MHD_YES && to < (MHD_UNSIGNED_LONG_LONG)timeout)
			timeout = (int)to;
		if (poll(p, 2, timeout) < 0 && errno != EINTR) {
			log_err("%s: poll: %s; http stops", h->name, strerror(errno));
			break;
		}
		if (MHD_run(h->d) == MHD_NO)
			log_debug("%s: MHD_run reported an error", h->name);
	}
	return NULL;
}

int httpd_new(const struct addr *a, const struct httpd_opts *o, httpd_render_fn render,
	      httpd_health_fn health, void *arg, struct httpd **out)
{
	struct httpd *h;
	unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	unsigned limit = o && o->conn_limit ? o->conn_limit : HTTPD_CONN_LIMIT;
	unsigned timeout = o && o->timeout_s ? o->timeout_s : HTTPD_IDLE_S;
	/* Half the slots per address: one host (or every client on loopback)
	 * cannot take them all, and the few connections a scraper, a load
	 * balancer's probe or an operator's curl open at once stay far below. */
	unsigned per_ip = o && o->per_ip_limit ? o->per_ip_limit : (limit + 1) / 2;
	/* MHD accepts this many, so that a newcomer gets in while an old
	 * dribbler gives way (see "Many addresses" above). */
	unsigned mhd_limit = limit + (limit + HTTPD_SPARE_DIV - 1) / HTTPD_SPARE_DIV;
	int ret = GN_ENOMEM, err;

	*out = NULL;
	if (!(h = calloc(1, sizeof(*h))))
		goto out;
	h->wake = -1;
	h->render = render;
	h->health = health;
	h->arg = arg;
	h->deadline_s = o && o->deadline_s ? o->deadline_s : HTTPD_DEADLINE_S;
	h->nconns = mhd_limit;
	h->limit = limit;
	atomic_init(&h->stop, false);
	snprintf(h->name, sizeof(h->name), "%s", o && o->name ? o->name : "metrics");
	snprintf(h->health_type, sizeof(h->health_type), "%s",
		 o && o->health_type ? o->health_type : "text/plain; charset=utf-8");
	if (addr_format(&a->u.sa, h->addr_text, sizeof(h->addr_text)) < 0)
		snprintf(h->addr_text, sizeof(h->addr_text), "?");
	if (!(h->conns = calloc(mhd_limit, sizeof(*h->conns))))
		goto out;
	ret = GN_EIO;
	if ((h->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		log_err("%s: eventfd: %s", h->name, strerror(errno));
		goto out;
	}
	if (a->u.sa.sa_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	errno = 0;
	h->d = MHD_start_daemon(flags, addr_port(a), NULL, NULL, httpd_handler, h,
				MHD_OPTION_EXTERNAL_LOGGER, httpd_mhd_log, h,
				MHD_OPTION_SOCK_ADDR, &a->u.sa,
				MHD_OPTION_CONNECTION_LIMIT, mhd_limit,
				MHD_OPTION_CONNECTION_TIMEOUT, timeout,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip,
				MHD_OPTION_NOTIFY_CONNECTION, httpd_notify, h,
				MHD_OPTION_NOTIFY_COMPLETED, httpd_completed, h,
				MHD_OPTION_END);
	if (!h->d) {
		log_err("%s: cannot listen on %s: %s", h->name, h->addr_text,
			errno ? strerror(errno) : "libmicrohttpd refused");
		goto out;
	}
	if ((err = pthread_create(&h->thread, NULL, httpd_main, h)) != 0) {
		log_err("%s: cannot start thread: %s", h->name, strerror(err));
		goto out;
	}
	h->started = true;
	log_info("%s on http://%s/metrics", h->name, h->addr_text);
	*out = h;
	ret = 0;
out:
	if (ret < 0)
		httpd_free(h);
	return ret;
}

unsigned httpd_port(const struct httpd *h)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	return info ? info->port : 0;
}

void httpd_free(struct httpd *h)
{
	uint64_t one = 1;

	if (!h)
		return;
	if (h->started) {
		atomic_store(&h->stop, true);
		if (write(h->wake, &one, sizeof(one)) < 0)
			log_debug("%s: wake-up write failed: %s", h->name, strerror(errno));
		pthread_join(h->thread, NULL);
	}
	if (h->d)
		MHD_stop_daemon(h->d);
	if (h->wake >= 0)
		close(h->wake);
	free(h->conns);
	free(h);
}
