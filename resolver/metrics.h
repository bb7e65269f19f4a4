/* resolver/metrics.h - the HTTP endpoint: GET /metrics (Prometheus text
 * format 0.0.4) and GET /health.
 *
 * Threading: libmicrohttpd runs in "external" mode inside ONE thread of
 * ours, so every request is served on that thread: the snap_rd it uses for
 * the engine's per-zone metrics is created, used and freed there, as LMDB
 * wants.  The workers are never blocked by a scrape; the counters are read
 * with relaxed atomics.
 */
#pragma once
#include "common/addr.h"

struct health;
struct metrics;
struct server;

/* Bind the HTTP socket on `a` (call before dropping root).  Returns 0 or
 * GN_EIO after logging why.  Caller frees with metrics_free. */
int metrics_new(const struct addr *a, struct server *srv, struct metrics **out);
/* Start serving on the metrics thread.  Returns 0 or GN_EIO. */
int metrics_start(struct metrics *m);
/* Stop the thread (waits for the scrape in progress) and close the socket.
 * NULL-safe.  Call before server_stop(): scrapes read the workers' state. */
void metrics_free(struct metrics *m);

/* Serve /health from the self-check (call before metrics_start): 200 or
 * 503 with a JSON body.  Without it /health says "ok" while HTTP works. */
void metrics_set_health(struct metrics *m, struct health *h);
/* Free the metrics thread's snapshot reader now (main thread, before the
 * env it reads is closed); the next scrape opens a new one.  NULL-safe. */
void metrics_drop_snapshot(struct metrics *m);
