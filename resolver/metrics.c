/* resolver/metrics.c - /metrics and /health over libmicrohttpd. */
#include <errno.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include "common/err.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "resolver/answer.h"
#include "resolver/conf.h"
#include "resolver/health.h"
#include "resolver/metrics.h"
#include "resolver/server.h"

#define METRICS_MAX_CTX 1024
#define METRICS_CONN_LIMIT 32
#define METRICS_CONN_TIMEOUT_S 10

struct metrics {
	struct MHD_Daemon *d;
	struct server *srv;
	pthread_t thread;
	bool started;
	atomic_bool stop;
	int wake;               /* eventfd: metrics_free interrupts poll */
	snap_rd *rd;            /* used on the metrics thread, under rd_lock */
	snap_env *rd_env;       /* env rd belongs to */
	pthread_mutex_t rd_lock; /* render vs metrics_drop_snapshot (main thread) */
	struct health *health;  /* NULL: /health only says the process answers */
	double start_time;      /* unix time the process started serving */
	char addr_text[ADDR_TEXT_MAX];
};

static void metrics_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	size_t n;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	log_warn("metrics http: %s", buf);
}

static void metrics_render_locked(struct metrics *m, struct strbuf *b)
{
	struct answer_ctx *ctxs[METRICS_MAX_CTX];
	snap_env *env = server_snapshot(m->srv);
	size_t n;

	strbuf_printf(b, "# HELP gridns_build_info Version of the running gridns-resolver.\n"
		      "# TYPE gridns_build_info gauge\n"
		      "gridns_build_info{version=\"%s\",program=\"gridns-resolver\"} 1\n",
		      GRIDNS_VERSION);
	strbuf_printf(b, "# HELP gridns_process_start_time_seconds Unix time the resolver started.\n"
		      "# TYPE gridns_process_start_time_seconds gauge\n"
		      "gridns_process_start_time_seconds %.3f\n", m->start_time);
	server_metrics_write(m->srv, b);
	server_rec_metrics_write(m->srv, b);
	n = server_answer_ctxs(m->srv, ctxs, METRICS_MAX_CTX);
	health_metrics_write(m->health, b);
	if (!env) {
		/* Same families with or without data: dashboards and alerts
		 * see zeros and absent zones, not a changed exposition. */
		answer_metrics_write(ctxs, n, NULL, b);
		return;
	}
	if (m->rd && m->rd_env != env) {
		snap_rd_free(m->rd);
		m->rd = NULL;
	}
	if (!m->rd) {
		int ret = snap_rd_new(env, &m->rd);
		if (ret < 0) {
			log_warn("metrics: cannot read the snapshot: %s", gn_strerror(ret));
			m->rd = NULL;
		} else {
			m->rd_env = env;
		}
	}
	answer_metrics_write(ctxs, n, m->rd, b);
}

/* The workers' contexts may be replaced by a restart and the snapshot
 * reader by a reopen: hold both locks for the whole render. */
static void metrics_render(struct metrics *m, struct strbuf *b)
{
	pthread_mutex_lock(&m->rd_lock);
	server_read_lock(m->srv);
	metrics_render_locked(m, b);
	server_read_unlock(m->srv);
	pthread_mutex_unlock(&m->rd_lock);
}

void metrics_set_health(struct metrics *m, struct health *h)
{
	m->health = h;
}

void metrics_drop_snapshot(struct metrics *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->rd_lock);
	/* MDB_NOTLS: a reset read transaction may be freed on this thread. */
	snap_rd_free(m->rd);
	m->rd = NULL;
	m->rd_env = NULL;
	pthread_mutex_unlock(&m->rd_lock);
}

static enum MHD_Result metrics_reply(struct MHD_Connection *conn, unsigned status,
				     const char *ctype, char *body, size_t len, bool owned)
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

static enum MHD_Result metrics_handler(void *cls, struct MHD_Connection *conn, const char *url,
				       const char *method, const char *version,
				       const char *upload_data, size_t *upload_size, void **con_cls)
{
	static const char text[] = "text/plain; charset=utf-8";
	static char ok[] = "ok\n", notfound[] = "not found: try /metrics or /health\n",
		    notallowed[] = "method not allowed\n", oom[] = "out of memory\n";
	struct metrics *m = cls;
	struct strbuf b;

	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return metrics_reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, text, notallowed,
				     sizeof(notallowed) - 1, false);
	if (strcmp(url, "/health") == 0 && m->health) {
		bool healthy;
		strbuf_init(&b);
		healthy = health_render_json(m->health, &b);
		if (b.err || !b.p) {
			strbuf_free(&b);
			return metrics_reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, text, oom,
					     sizeof(oom) - 1, false);
		}
		/* 503 tells a load balancer to stop sending us queries. */
		return metrics_reply(conn, healthy ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
				     "application/json", b.p, b.len, true);
	}
	if (strcmp(url, "/health") == 0)
		return metrics_reply(conn, MHD_HTTP_OK, text, ok, sizeof(ok) - 1, false);
	if (strcmp(url, "/metrics") != 0)
		return metrics_reply(conn, MHD_HTTP_NOT_FOUND, text, notfound,
				     sizeof(notfound) - 1, false);
	strbuf_init(&b);
	metrics_render(m, &b);
	if (b.err || !b.p) {
		strbuf_free(&b);
		return metrics_reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, text, oom,
				     sizeof(oom) - 1, false);
	}
	/* The body is handed to MHD, which frees it with free(3). */
	return metrics_reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
			     b.p, b.len, true);
}

int metrics_new(const struct addr *a, struct server *srv, struct metrics **out)
{
	struct metrics *m;
	struct timespec ts;
	unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	int ret = GN_ENOMEM;

	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		goto out;
	m->wake = -1;
	m->srv = srv;
	pthread_mutex_init(&m->rd_lock, NULL);
	atomic_init(&m->stop, false);
	clock_gettime(CLOCK_REALTIME, &ts);
	m->start_time = (double)ts.tv_sec + ts.tv_nsec / 1e9;
	if (addr_format(&a->u.sa, m->addr_text, sizeof(m->addr_text)) < 0)
		snprintf(m->addr_text, sizeof(m->addr_text), "?");
	m->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (m->wake < 0) {
		log_err("metrics: eventfd: %s", strerror(errno));
		ret = GN_EIO;
		goto out;
	}
	if (a->u.sa.sa_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	errno = 0;
	m->d = MHD_start_daemon(flags, addr_port(a), NULL, NULL, metrics_handler, m,
				MHD_OPTION_EXTERNAL_LOGGER, metrics_mhd_log, NULL,
				MHD_OPTION_SOCK_ADDR, &a->u.sa,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)METRICS_CONN_LIMIT,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_CONN_TIMEOUT_S,
				MHD_OPTION_END);
	if (!m->d) {
		log_err("metrics: cannot listen on %s: %s (set metrics = \"\" to disable)",
			m->addr_text, errno ? strerror(errno) : "libmicrohttpd refused");
		ret = GN_EIO;
		goto out;
	}
	log_info("metrics on http://%s/metrics", m->addr_text);
	*out = m;
	ret = 0;
out:
	if (ret < 0)
		metrics_free(m);
	return ret;
}

static void *metrics_main(void *arg)
{
	struct metrics *m = arg;
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_EPOLL_FD);
	int epfd = info ? info->epoll_fd : -1;

	if (epfd < 0) {
		log_err("metrics: libmicrohttpd gave no epoll descriptor; /metrics disabled");
		goto out;
	}
	while (!atomic_load(&m->stop)) {
		struct pollfd p[2] = { { .fd = epfd, .events = POLLIN },
				       { .fd = m->wake, .events = POLLIN } };
		MHD_UNSIGNED_LONG_LONG to;
		int timeout = 1000;

		if (MHD_get_timeout(m->d, &to) == MHD_YES && to < 1000)
			timeout = (int)to;
		if (poll(p, 2, timeout) < 0 && errno != EINTR) {
			log_err("metrics: poll: %s; /metrics stops", strerror(errno));
			break;
		}
		if (MHD_run(m->d) == MHD_NO)
			log_debug("metrics: MHD_run reported an error");
	}
out:
	/* The reader was opened on this thread; close it here too. */
	pthread_mutex_lock(&m->rd_lock);
	snap_rd_free(m->rd);
	m->rd = NULL;
	pthread_mutex_unlock(&m->rd_lock);
	return NULL;
}

int metrics_start(struct metrics *m)
{
	int err = pthread_create(&m->thread, NULL, metrics_main, m);
	if (err) {
		log_err("metrics: cannot start thread: %s", strerror(err));
		return GN_EIO;
	}
	m->started = true;
	return 0;
}

void metrics_free(struct metrics *m)
{
	uint64_t one = 1;

	if (!m)
		return;
	if (m->started) {
		atomic_store(&m->stop, true);
		if (write(m->wake, &one, sizeof(one)) < 0)
			log_debug("metrics: wake-up write failed: %s", strerror(errno));
		pthread_join(m->thread, NULL);
	}
	if (m->d)
		MHD_stop_daemon(m->d);
	if (m->wake >= 0)
		close(m->wake);
	pthread_mutex_destroy(&m->rd_lock);
	free(m);
}
