/* common/httpd.h - a tiny HTTP endpoint for /metrics and /health, over
 * libmicrohttpd, on a thread of its own.
 *
 * GET (or HEAD) /metrics answers with what the render callback writes into a
 * strbuf, as Prometheus text format 0.0.4; GET /health answers 200 or, when
 * the health callback returns non-zero, 503, with the body the callback
 * wrote ("ok" when it wrote nothing).  Anything else is 404/405.
 *
 * Limits (docs/security.md): at most conn_limit connections, per_ip_limit
 * of them from one client address; a connection silent for timeout_s is
 * closed, and so is one that has not both sent a complete request and
 * received its answer deadline_s after it opened (or after its previous
 * answer), however busily it dribbles.  When conn_limit connections are
 * open, a newcomer is still accepted (into one of conn_limit / 4 spare
 * slots) and the oldest connection that owes its client nothing and has
 * waited over a second for its request is closed for it.  A slow or hostile
 * client can hold a slot for deadline_s at most, and for about a second
 * once others need it; it never holds the endpoint.  /metrics ends with the
 * endpoint's own gridns_http_connections_cut_total{reason=deadline|evicted}.
 *
 * Threading: the callbacks run on the httpd thread, one request at a time;
 * they must only read state that other threads publish safely (atomics, or
 * data under the caller's own lock).  httpd_free stops and joins the thread
 * before it returns, so after it no callback runs.
 */
#pragma once
#include "common/addr.h"
#include "common/strbuf.h"

struct httpd;

/* Write the whole exposition into `out`. */
typedef void (*httpd_render_fn)(void *arg, struct strbuf *out);
/* Return 0 when healthy, non-zero when not; the body is what it writes into
 * `out` (for example a one-line reason, or a JSON document). */
typedef int (*httpd_health_fn)(void *arg, struct strbuf *out);

struct httpd_opts {
	const char *name;       /* for logs: "publisher metrics"; NULL = "metrics" */
	unsigned conn_limit;    /* 0 = 32; MHD holds up to a quarter more */
	unsigned timeout_s;     /* idle connection timeout; 0 = 10 */
	unsigned per_ip_limit;  /* connections from one address; 0 = half of conn_limit */
	unsigned deadline_s;    /* to send a request and take the answer; 0 = 10 */
	const char *health_type; /* content type of /health bodies; NULL = text/plain */
};

/* Listen on `a` and start the thread.  `health` may be NULL (always ok).
 * Returns 0 or GN_EIO (logged with the address: port taken, ...).
 * Free with httpd_free. */
int httpd_new(const struct addr *a, const struct httpd_opts *o, httpd_render_fn render,
	      httpd_health_fn health, void *arg, struct httpd **out);
/* The port actually bound (useful when `a` asked for port 0). */
unsigned httpd_port(const struct httpd *h);
void httpd_free(struct httpd *h); /* NULL-safe */
