/* resolver/metrics.h - the HTTP endpoint: GET /metrics (Prometheus text
 * format 0.0.4) and GET /health.
 *
 * Served by common/httpd on ONE thread of its own, so every request runs
 * on that thread: the snap_rd it uses for the engine's per-zone metrics is
 * created and used there (and freed by metrics_free once that thread is
 * joined).  The workers are never blocked by a scrape; the counters are
 * read with relaxed atomics.
 */
#pragma once
#include "common/addr.h"

struct health;
struct metrics;
struct server;

/* Bind the HTTP socket on `a` (call before dropping root) and start
 * serving: /metrics, and /health from the self-check `h` (200 or 503 with a
 * JSON body; with h == NULL it says "ok" while HTTP works).  Returns 0 or
 * GN_EIO after logging why.  Caller frees with metrics_free. */
int metrics_new(const struct addr *a, struct server *srv, struct health *h,
		struct metrics **out);
/* Stop the thread (waits for the scrape in progress) and close the socket.
 * NULL-safe.  Call before server_stop(): scrapes read the workers' state. */
void metrics_free(struct metrics *m);

/* Free the metrics thread's snapshot reader now (main thread, before the
 * env it reads is closed); the next scrape opens a new one.  NULL-safe. */
void metrics_drop_snapshot(struct metrics *m);
