/* resolver/main.c - gridns-resolver: command line, configuration, signals
 * and the wiring of snapshot, workers and metrics.  The work is done in
 * resolver/server*.c and resolver/answer*.c. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>
#include "common/err.h"
#include "common/log.h"
#include "resolver/conf.h"
#include "resolver/health.h"
#include "resolver/metrics.h"
#include "resolver/notify.h"
#include "resolver/privs.h"
#include "resolver/rec.h"
#include "resolver/rrl.h"
#include "resolver/server.h"
#include "zonesync/snap.h"

#define PROG "gridns-resolver"
#define EXIT_USAGE 2
#define SNAP_RETRY_MAX_S 30

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " -c FILE [options]\n"
		"       " PROG " --snapshot DIR --listen ADDR:PORT [--listen ...] [options]\n"
		"\n"
		"Serve DNSBL and local zones from a gridns snapshot (see docs/resolver.md).\n"
		"\n"
		"  -c, --config FILE     configuration file (libconfig syntax)\n"
		"      --snapshot DIR    snapshot directory (overrides the file)\n"
		"      --listen ADDR     DNS address, UDP and TCP; repeat for more; the first\n"
		"                        --listen replaces the file's list.  127.0.0.1:5300,\n"
		"                        [::1]:5300 or ::1@5300\n"
		"      --metrics ADDR    HTTP address for /metrics and /health (\"\" disables)\n"
		"      --workers N       worker threads (0 = one per CPU)\n"
		"      --user USER       drop to USER after binding\n"
		"      --log-level LVL   err, warn, info or debug\n"
		"      --check-config    validate the configuration and exit (0 = valid)\n"
		"      --dump-config     print the effective configuration and exit\n"
		"  -o, --option KEY=VAL  set any option of the file, e.g. -o health.interval-ms=500\n"
		"      --fault NAME[:S]  TEST HOOK (not in -DNDEBUG builds): after S seconds\n"
		"                        make worker 0 stop serving; NAME is worker-stall\n"
		"                        (healable) or worker-wedge (not); see docs/health.md\n"
		"  -h, --help            this text\n"
		"  -V, --version         print the version\n");
}

/* Options given on the command line, applied over the file in order. */
struct cli_set {
	const char *key;
	const char *val;
};

struct cli {
	const char *config;
	bool check, dump;
	int fault;              /* enum server_fault, test hook */
	unsigned fault_after_s;
	struct cli_set set[64];
	size_t n_set;
};

/* --fault NAME[:SECONDS]: the test hook of docs/health.md. */
static int fault_parse(const char *arg, struct cli *cli)
{
#ifndef NDEBUG
	const char *colon = strchr(arg, ':');
	size_t n = colon ? (size_t)(colon - arg) : strlen(arg);

	if (n == 12 && strncmp(arg, "worker-stall", n) == 0)
		cli->fault = SERVER_FAULT_STALL;
	else if (n == 12 && strncmp(arg, "worker-wedge", n) == 0)
		cli->fault = SERVER_FAULT_WEDGE;
	else {
		fprintf(stderr, PROG ": --fault: unknown fault '%.*s' (worker-stall or "
			"worker-wedge)\n", (int)n, arg);
		return GN_EINVAL;
	}
	cli->fault_after_s = colon ? (unsigned)strtoul(colon + 1, NULL, 10) : 0;
	return 0;
#else
	(void)cli;
	fprintf(stderr, PROG ": --fault %s: this build has no test hooks (NDEBUG)\n", arg);
	return GN_EINVAL;
#endif
}

static int cli_parse(int argc, char **argv, struct cli *cli)
{
	enum { O_SNAPSHOT = 256, O_LISTEN, O_METRICS, O_WORKERS, O_USER, O_LOGLEVEL, O_CHECK, O_DUMP,
	       O_FAULT, O_OPTION };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "snapshot", required_argument, NULL, O_SNAPSHOT },
		{ "listen", required_argument, NULL, O_LISTEN },
		{ "metrics", required_argument, NULL, O_METRICS },
		{ "workers", required_argument, NULL, O_WORKERS },
		{ "user", required_argument, NULL, O_USER },
		{ "log-level", required_argument, NULL, O_LOGLEVEL },
		{ "check-config", no_argument, NULL, O_CHECK },
		{ "dump-config", no_argument, NULL, O_DUMP },
		{ "fault", required_argument, NULL, O_FAULT },
		{ "option", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const keys[] = {
		[O_SNAPSHOT - O_SNAPSHOT] = "snapshot", [O_LISTEN - O_SNAPSHOT] = "listen",
		[O_METRICS - O_SNAPSHOT] = "metrics", [O_WORKERS - O_SNAPSHOT] = "workers",
		[O_USER - O_SNAPSHOT] = "user", [O_LOGLEVEL - O_SNAPSHOT] = "log-level",
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:ho:V", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			cli->config = optarg;
			break;
		case O_CHECK:
			cli->check = true;
			break;
		case O_DUMP:
			cli->dump = true;
			break;
		case O_FAULT:
			if (fault_parse(optarg, cli) < 0)
				return GN_EINVAL;
			break;
		case 'o': {
			/* Any table key, e.g. -o health.interval-ms=500: the
			 * table names every option, so no flag per option. */
			char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg) {
				fprintf(stderr, PROG ": -o %s: use KEY=VALUE, e.g. -o udp.batch=64\n",
					optarg);
				return GN_EINVAL;
			}
			if (cli->n_set == sizeof(cli->set) / sizeof(cli->set[0])) {
				fprintf(stderr, PROG ": too many options\n");
				return GN_EINVAL;
			}
			*eq = '\0';
			cli->set[cli->n_set++] = (struct cli_set){ optarg, eq + 1 };
			break;
		}
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf(PROG " %s\n", GRIDNS_VERSION);
			exit(0);
		case O_SNAPSHOT: case O_LISTEN: case O_METRICS:
		case O_WORKERS: case O_USER: case O_LOGLEVEL:
			if (cli->n_set == sizeof(cli->set) / sizeof(cli->set[0])) {
				fprintf(stderr, PROG ": too many options\n");
				return GN_EINVAL;
			}
			cli->set[cli->n_set++] = (struct cli_set){ keys[c - O_SNAPSHOT], optarg };
			break;
		default:
			usage(stderr);
			return GN_EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument '%s' (see --help)\n", argv[optind]);
		return GN_EINVAL;
	}
	return 0;
}

/* Defaults, then the file, then the command line; all errors collected. */
static int load_conf(const struct cli *cli, struct conf *c, struct strbuf *errs)
{
	bool listen_seen = false;
	int ret;

	if ((ret = conf_init(c)) < 0) {
		strbuf_printf(errs, "cannot initialise the configuration: %s\n", gn_strerror(ret));
		return ret;
	}
	if (cli->config)
		ret = conf_load_file(c, cli->config, errs);
	for (size_t i = 0; i < cli->n_set; i++) {
		const struct cli_set *s = &cli->set[i];
		char origin[64];
		bool append = false;
		int r;

		if (strcmp(s->key, "listen") == 0) {
			append = listen_seen;
			listen_seen = true;
		}
		snprintf(origin, sizeof(origin), "command line --%s", s->key);
		r = conf_set(c, s->key, s->val, append, origin, errs);
		if (r < 0 && ret == 0)
			ret = r;
	}
	if (ret == 0)
		ret = conf_finish(c, errs);
	return ret;
}

/* Try to open the snapshot; NULL while it is not there yet.  Missing data
 * is not an error at start: the follower may create it later, and until
 * then every query is SERVFAIL, never "not listed". */
static snap_env *snapshot_try(const struct conf *c, unsigned attempt)
{
	struct snap_opts opts = { .map_size = (uint64_t)c->snapshot_map_size };
	snap_env *env = NULL;
	struct stat st;
	const char *why = NULL;
	int ret;

	if (stat(c->snapshot, &st) < 0)
		why = errno == ENOENT ? "does not exist yet" : strerror(errno);
	else if (!S_ISDIR(st.st_mode))
		why = "is not a directory";
	if (why) {
		if (attempt == 0 || attempt % 20 == 0)
			log_warn("snapshot directory %s %s; answering SERVFAIL until "
				 "gridns-zonesync creates it (retrying)", c->snapshot, why);
		return NULL;
	}
	ret = snap_open(&env, c->snapshot, SNAP_RDONLY, &opts);
	if (ret < 0) {
		if (attempt == 0 || attempt % 20 == 0)
			log_warn("cannot open snapshot %s: %s; answering SERVFAIL (retrying)",
				 c->snapshot, gn_strerror(ret));
		return NULL;
	}
	log_info("snapshot %s open", c->snapshot);
	return env;
}

static int notify(const char *state)
{
	int r = notify_send(state);
	if (r < 0)
		log_warn("sd_notify(%s) failed: %s", state, strerror(-r));
	return r;
}

/* The self-check asked for a fresh snapshot handle.  Everything that reads
 * the old env lets go first: the metrics reader, then every worker (their
 * answer contexts go with their threads); only then is it closed.  If a
 * worker cannot be stopped, the old env must stay open: it still reads it. */
static void reopen_snapshot(const struct conf *c, struct server *srv, struct metrics *met,
			    struct health *h, snap_env **env)
{
	snap_env *old = *env;
	bool all_stopped = true;

	server_set_snapshot(srv, NULL);
	metrics_drop_snapshot(met);
	for (unsigned i = 0; i < server_workers(srv); i++)
		if (server_restart_worker(srv, i, 2000) < 0)
			all_stopped = false;
	if (all_stopped) {
		snap_close(old);
		*env = snapshot_try(c, 0);
	} else {
		log_err("snapshot not reopened: a worker could not be restarted and may still "
			"read it");
	}
	server_set_snapshot(srv, *env);
	health_request_done(h);
}

/* Serve until SIGTERM/SIGINT; retry the snapshot while it is missing; do
 * what the self-check asks (reopen, exit for the supervisor). */
static void run(const struct conf *c, struct server *srv, struct metrics *met,
		struct health *h, const struct cli *cli, snap_env **env, const sigset_t *sigs)
{
	unsigned attempt = 1;
	time_t next_try = time(NULL) + 1, fault_at = time(NULL) + cli->fault_after_s;
	int backoff = 1, fault = cli->fault;

	for (;;) {
		struct timespec to = { .tv_sec = 1 };
		siginfo_t si;
		int sig = sigtimedwait(sigs, &si, &to);

		if (sig == SIGTERM || sig == SIGINT) {
			log_info("%s received, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
			return;
		}
		if (sig == SIGHUP) {
			log_info("SIGHUP received: zones are followed live; the self-check forgets "
				 "zones that left the snapshot");
			health_forget_missing(h);
		}
		if (fault && time(NULL) >= fault_at) {
			log_warn("TEST HOOK: injecting fault %d into worker 0", fault);
			(void)server_inject_fault(srv, 0, (enum server_fault)fault);
			fault = 0;
		}
		switch (health_take_request(h)) {
		case HEALTH_REQ_REOPEN:
			reopen_snapshot(c, srv, met, h, env);
			continue;
		case HEALTH_REQ_EXIT:
			/* No orderly shutdown: a wedged worker cannot be joined,
			 * and the supervisor wants a fresh process now. */
			log_err("self-check: healing failed; exiting with status %d for the "
				"supervisor", HEALTH_EXIT_CODE);
			(void)notify("STOPPING=1\nSTATUS=exiting: self-check healing failed");
			_exit(HEALTH_EXIT_CODE);
		case HEALTH_REQ_NONE:
			break;
		}
		if (sig < 0 && errno != EAGAIN && errno != EINTR) {
			log_err("sigtimedwait: %s; stopping", strerror(errno));
			return;
		}
		if (!*env && time(NULL) >= next_try) {
			*env = snapshot_try(c, attempt++);
			if (*env) {
				server_set_snapshot(srv, *env);
				(void)notify("STATUS=serving from the snapshot");
			} else {
				backoff = backoff * 2 > SNAP_RETRY_MAX_S ? SNAP_RETRY_MAX_S : backoff * 2;
				next_try = time(NULL) + backoff;
			}
		}
	}
}

/* The upstream path's settings, built from the configuration; it must
 * outlive the server (workers keep pointers into it). */
struct rec_setup {
	struct rec_conf rc;
	struct tier_conf tiers[TIER_MAX];
	uint8_t (*dnsbl)[DNAME_MAX];
	uint8_t *dnsbl_len;
	struct rec_stats *stats;
};

static void rec_setup_free(struct rec_setup *rs)
{
	rec_stats_free(rs->stats);
	free(rs->dnsbl);
	free(rs->dnsbl_len);
	memset(rs, 0, sizeof(*rs));
}

static int rec_setup(const struct conf *c, struct rec_setup *rs)
{
	struct rec_conf *rc = &rs->rc;
	size_t n = c->rec_dnsbl.n;
	int ret = GN_ENOMEM;

	memset(rs, 0, sizeof(*rs));
	for (size_t i = 0; i < c->n_tiers; i++)
		rs->tiers[i] = c->tiers[i].tc;
	rc->tiers = rs->tiers;
	rc->n_tiers = c->n_tiers;
	cache_conf_default(&rc->cache);
	/* Each worker owns its cache: the configured total is shared out. */
	rc->cache.max_bytes = (size_t)c->cache_max_bytes / (size_t)(c->workers ? c->workers : 1);
	rc->cache.ttl_min = (uint32_t)c->cache_ttl_min;
	rc->cache.ttl_max = (uint32_t)c->cache_ttl_max;
	rc->cache.negative_ttl_max = (uint32_t)c->cache_negative_ttl_max;
	rc->cache.serve_stale = c->cache_serve_stale != 0;
	rc->cache.stale_max_age = (uint32_t)c->cache_stale_max_age;
	rc->cache.stale_refresh_interval = (uint32_t)c->cache_stale_refresh_interval;
	rc->cache.prefetch = c->cache_prefetch != 0;
	rc->allow = c->rec_allow.v;
	rc->n_allow = c->rec_allow.n;
	rc->max_pending = (unsigned)c->rec_max_pending;
	rc->edns_payload = (uint16_t)c->udp_edns_payload;
	if (n) {
		if (!(rs->dnsbl = calloc(n, sizeof(*rs->dnsbl))) ||
		    !(rs->dnsbl_len = calloc(n, 1)))
			goto out;
		for (size_t i = 0; i < n; i++) {
			const char *z = c->rec_dnsbl.v[i];
			int kl = dname_text_to_key(z, strlen(z), rs->dnsbl[i]);
			rs->dnsbl_len[i] = (uint8_t)(kl < 0 ? 0 : kl);
		}
	}
	rc->dnsbl = (const uint8_t (*)[DNAME_MAX])rs->dnsbl;
	rc->dnsbl_len = rs->dnsbl_len;
	rc->n_dnsbl = n;
	if ((ret = rec_stats_new(rc, (unsigned)c->workers, &rs->stats)) < 0)
		goto out;
	return 0;
out:
	log_err("cannot set up the upstream path: %s", gn_strerror(ret));
	rec_setup_free(rs);
	return ret;
}

/* After the chroot the snapshot is opened (retry, self-check reopen) by
 * its path inside the new root; conf_finish checked that it is below. */
static int chroot_snapshot_path(struct conf *c)
{
	size_t n = strlen(c->chroot);
	char *p;

	while (n > 1 && c->chroot[n - 1] == '/')
		n--;
	if (!(p = strdup(c->snapshot + n))) {
		log_err("out of memory");
		return GN_ENOMEM;
	}
	free(c->snapshot);
	c->snapshot = p;
	log_info("snapshot is %s inside the chroot", p);
	return 0;
}

int main(int argc, char **argv)
{
	struct cli cli = { 0 };
	struct conf c;
	struct strbuf errs;
	struct server *srv = NULL;
	struct rec_setup rsu = { 0 };
	struct rrl_conf rrlc = { 0 }; /* the workers keep a pointer: lives as long as main */
	struct metrics *met = NULL;
	struct health *hl = NULL;
	snap_env *env = NULL;
	sigset_t sigs;
	int ret = EXIT_FAILURE;

	strbuf_init(&errs);
	memset(&c, 0, sizeof(c));
	log_init(PROG, LOG_LVL_INFO);
	if (cli_parse(argc, argv, &cli) < 0) {
		ret = EXIT_USAGE;
		goto out;
	}
	if (load_conf(&cli, &c, &errs) < 0) {
		fputs(errs.p ? errs.p : "configuration error\n", stderr);
		if (!cli.check)
			fprintf(stderr, PROG ": refusing to start with an invalid configuration\n");
		goto out;
	}
	if (cli.dump) {
		struct strbuf d;
		strbuf_init(&d);
		conf_dump(&c, &d);
		fputs(d.p ? d.p : "", stdout);
		strbuf_free(&d);
		ret = EXIT_SUCCESS;
		goto out;
	}
	if (cli.check) {
		printf("%s: configuration is valid\n", cli.config ? cli.config : "command line");
		ret = EXIT_SUCCESS;
		goto out;
	}
	log_init(PROG, (enum log_level)c.log_level);

	/* Signals go to the main thread only: block them before any thread
	 * exists (threads inherit the mask) and take them with sigtimedwait. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	if (pthread_sigmask(SIG_BLOCK, &sigs, NULL) != 0 || signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		log_err("cannot set up signal handling");
		goto out;
	}

	/* Open the snapshot before dropping root: the LMDB lock file may be
	 * writable by root only.  Missing is fine; run() keeps trying. */
	env = snapshot_try(&c, 0);
	if (rec_setup(&c, &rsu) < 0)
		goto out;
	if (c.n_tiers)
		log_info("upstream tiers: %zu (names outside local zones go to them)", c.n_tiers);
	{
		struct server_opts so = {
			.workers = (unsigned)c.workers,
			.udp_batch = (unsigned)c.udp_batch,
			.udp_rcvbuf = (uint64_t)c.udp_rcvbuf,
			.edns_payload = (uint16_t)c.udp_edns_payload,
			.tcp_max_conn = (unsigned)c.tcp_max_connections,
			.tcp_idle_ms = (unsigned)c.tcp_idle_timeout_ms,
			.tcp_max_pipeline = (unsigned)c.tcp_max_pipeline,
			.rec = &rsu.rc,
			.acl = c.acl.v,
			.n_acl = c.acl.n,
			.zacl = c.zacl,
			.n_zacl = c.n_zacl,
			.rec_stats = rsu.stats,
			.rrl = &rrlc,
		};
		struct addr *la = calloc(c.listen.n, sizeof(*la));

		rrlc = (struct rrl_conf){
			.rate = (unsigned)c.rrl_rate, .window = (unsigned)c.rrl_window,
			.slip = (unsigned)c.rrl_slip, .v4_prefix = (unsigned)c.rrl_v4_prefix,
			.v6_prefix = (unsigned)c.rrl_v6_prefix,
			.table_size = (unsigned)c.rrl_table_size,
		};
		if (rrlc.rate)
			log_info("rrl: %u UDP answers per second per client prefix (/%u, /%u)",
				 rrlc.rate, rrlc.v4_prefix, rrlc.v6_prefix);
		if (!la) {
			log_err("out of memory");
			goto out;
		}
		for (size_t i = 0; i < c.listen.n; i++)
			la[i] = c.listen.v[i].a;
		so.listen = la;
		so.n_listen = c.listen.n;
		ret = server_new(&so, &srv) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
		free(la);
		if (ret != EXIT_SUCCESS) {
			log_err("cannot bind the listen addresses; not starting");
			goto out;
		}
		ret = EXIT_FAILURE;
	}
	{
		struct health_conf hc = {
			.enable = c.health_enable != 0,
			.interval_ms = (unsigned)c.health_interval_ms,
			.timeout_ms = (unsigned)c.health_timeout_ms,
			.rise = (unsigned)c.health_rise,
			.fall = (unsigned)c.health_fall,
			.max_heal = (unsigned)c.health_max_heal,
			.names = (const char *const *)c.health_names.v,
			.n_names = c.health_names.n,
			.tier_name = c.health_tier_canary,
		};
		if (health_new(&hc, srv, &hl) < 0) {
			log_err("cannot set up the self-check");
			goto out;
		}
	}
	/* Bound before dropping root, and serving /health from the self-check
	 * from its first request. */
	if (c.metrics.a.len && metrics_new(&c.metrics.a, srv, hl, &met) < 0)
		goto out;
	if ((c.user && *c.user) || (c.chroot && *c.chroot)) {
		/* sd_notify could not reach a socket path from inside the
		 * chroot: connect to it while it is still reachable. */
		if (c.chroot && *c.chroot && notify_open() < 0)
			goto out;
		if (privs_confine(c.user, c.chroot) < 0)
			goto out;
		if (c.chroot && *c.chroot && chroot_snapshot_path(&c) < 0)
			goto out;
	}
	if (!(c.user && *c.user) && geteuid() == 0) {
		log_warn("running as root: set user = \"...\" (or --user) to drop privileges after binding");
	}
	if (env)
		server_set_snapshot(srv, env);
	if (server_start(srv) < 0 || health_start(hl) < 0)
		goto out;
	log_info("serving (%s)", env ? "snapshot open" : "no snapshot yet: SERVFAIL");
	(void)notify(env ? "READY=1\nSTATUS=serving from the snapshot"
			 : "READY=1\nSTATUS=serving SERVFAIL: snapshot not open yet");
	run(&c, srv, met, hl, &cli, &env, &sigs);
	(void)notify("STOPPING=1");
	ret = EXIT_SUCCESS;
out:
	/* Order: the self-check restarts workers and metrics reads their
	 * contexts, the workers read the snapshot; tear down in that order. */
	health_free(hl);
	metrics_free(met);
	server_free(srv);
	rec_setup_free(&rsu);
	snap_close(env);
	conf_deinit(&c);
	strbuf_free(&errs);
	return ret;
}
