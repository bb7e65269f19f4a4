/* common/httpd.c - /metrics and /health over libmicrohttpd (see httpd.h).
 *
 * libmicrohttpd runs in its external-select (epoll) mode inside ONE thread of
 * ours, so every callback runs on that thread: the owner's render code never
 * races itself, and stopping is a join, not a guess. */
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
#include <unistd.h>
#include "common/err.h"
#include "common/httpd.h"
#include "common/log.h"

struct httpd {
	struct MHD_Daemon *d;
	httpd_render_fn render;
	httpd_health_fn health;
	void *arg;
	pthread_t thread;
	bool started;
	atomic_bool stop;
	int wake;               /* eventfd: httpd_free interrupts poll */
	char name[64];
	char health_type[64];
	char addr_text[ADDR_TEXT_MAX];
};

static void httpd_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct httpd *h = cls;
	char buf[512];
	size_t n;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	log_warn("%s http: %s", h ? h->name : "metrics", buf);
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

static enum MHD_Result httpd_handler(void *cls, struct MHD_Connection *conn, const char *url,
				     const char *method, const char *version,
				     const char *upload_data, size_t *upload_size, void **con_cls)
{
	static const char text[] = "text/plain; charset=utf-8";
	static char ok[] = "ok\n", notfound[] = "not found: try /metrics or /health\n",
		    notallowed[] = "method not allowed\n", oom[] = "out of memory\n";
	struct httpd *h = cls;
	struct strbuf b;
	unsigned status = MHD_HTTP_OK;
	const char *ctype = "text/plain; version=0.0.4; charset=utf-8";

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
		int timeout = 1000;

		if (MHD_get_timeout(h->d, &to) == MHD_YES && to < 1000)
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
	unsigned limit = o && o->conn_limit ? o->conn_limit : 32;
	unsigned timeout = o && o->timeout_s ? o->timeout_s : 10;
	int ret = GN_ENOMEM, err;

	*out = NULL;
	if (!(h = calloc(1, sizeof(*h))))
		goto out;
	h->wake = -1;
	h->render = render;
	h->health = health;
	h->arg = arg;
	atomic_init(&h->stop, false);
	snprintf(h->name, sizeof(h->name), "%s", o && o->name ? o->name : "metrics");
	snprintf(h->health_type, sizeof(h->health_type), "%s",
		 o && o->health_type ? o->health_type : "text/plain; charset=utf-8");
	if (addr_format(&a->u.sa, h->addr_text, sizeof(h->addr_text)) < 0)
		snprintf(h->addr_text, sizeof(h->addr_text), "?");
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
				MHD_OPTION_CONNECTION_LIMIT, limit,
				MHD_OPTION_CONNECTION_TIMEOUT, timeout,
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
	free(h);
}
