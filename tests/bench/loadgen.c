/* tests/bench/loadgen.c - a lean closed-loop UDP DNS load generator.
 *
 * Why not only dnsperf: on a small machine dnsperf saturates its own core
 * (around 120k qps) before a fast server does, so the benchmark would measure
 * the generator.  This program does the least possible per query: all
 * queries are encoded once at start, a query costs one memcpy of its bytes
 * plus a 2-octet ID, and packets go out and come in with sendmmsg/recvmmsg
 * in batches.
 *
 * Model: W slots (default 256).  Each slot holds at most one outstanding
 * query; its DNS ID is (generation << bits) | slot, so a response is matched
 * to its slot in O(1) and a late answer to a slot that already timed out and
 * was reused is recognised (different generation) and not counted twice.
 * The question section of the response must equal the query's (case
 * insensitively) or the response is counted as "mismatched".
 *
 *   closed loop (default): keep all W slots busy; a response frees a slot,
 *       which is refilled at once.  Measures saturation throughput.
 *   --rate QPS: send on a fixed schedule (start + i/QPS), at most W in
 *       flight.  Measures latency at a known offered load.  A generator
 *       that falls behind does not catch up with a burst: "behind" counts
 *       the scheduled sends it skipped (all slots busy, or the generator
 *       itself was descheduled); "qps" is what was actually answered.
 *   --tick USEC (with --rate): pace in steps of USEC instead of waking for
 *       every scheduled send and every answer.  At 100k qps the default
 *       wakes every few microseconds and spends a syscall or three per
 *       query, about as much CPU as the server under test; with a tick the
 *       generator sleeps to the next step, then sends what is due and reads
 *       what arrived, in batches.  Answers are timed by the kernel's
 *       receive timestamp (SO_TIMESTAMPNS), so latency does not grow by the
 *       time an answer waited for the next step.  Queries leave on schedule
 *       to within one tick.
 *   --catch-up MS (with --rate): a generator that fell behind sends up to
 *       MS milliseconds' worth of missed queries at once (default: one
 *       batch) and skips only the rest.  On a shared CPU the generator is
 *       descheduled for a few milliseconds at a time; without this, each
 *       such gap is a hole in the offered load.
 *
 * A query not answered within the timeout (default 1 s) is "lost".  The run
 * ends after --duration seconds or --queries N sent; outstanding queries are
 * then given up to the timeout to arrive.  The result is one JSON line on
 * stdout.
 *
 *   --intervals MS: also print, on stderr (stdout stays one line for the
 *       harnesses that parse it), one JSON line with the latency of the
 *       queries sent in each MS-millisecond interval: count, p50, p99, max.
 *       A whole-run p99 cannot tell a periodic stall (a few intervals with
 *       huge latencies) from a uniformly wider distribution; this can.
 *
 * Input: dnsperf format, one "name TYPE" per line; '#' starts a comment.
 * Queries are sent in file order, wrapping around.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define MAX_BATCH 256
#define MAX_SOCKETS 64
#define QBUF 512            /* max encoded query we keep */
#define HIST_FINE 100000    /* 1 us buckets below 100 ms */
#define HIST_COARSE 60000   /* 1 ms buckets up to 60 s */
#define IV_BUCKETS 1000     /* per interval: 10 us buckets below 10 ms ... */
#define IV_BUCKET_US 10     /* ... and one for everything above */

struct opts {
	const char *server, *port, *data;
	unsigned inflight;
	double duration, timeout, rate, tick, catch_up;
	uint64_t max_queries;
	unsigned batch, sockets;
	bool edns, rd;
	double interval_ms; /* 0 = no per-interval breakdown */
};

struct query {
	uint32_t off;  /* into qdata */
	uint16_t len;  /* whole packet incl. optional OPT */
	uint16_t qlen; /* question section length (after the header) */
};

struct slot {
	uint64_t sent_ns;
	uint32_t q;
	uint16_t gen;
	bool busy;
};

struct sock {
	int fd;
	uint32_t *free_slots; /* stack of slot indices this socket owns */
	uint32_t n_free;
};

static uint8_t *qdata;
static size_t qdata_len, qdata_cap;
static struct query *queries;
static size_t n_queries, cap_queries;

static struct slot *slots;
static uint32_t n_slots;
static unsigned id_bits;
static uint16_t gen_mask;

static uint32_t hist_fine[HIST_FINE];
static uint32_t hist_coarse[HIST_COARSE + 1];

/* Per-interval latency (--intervals), keyed by the send time so that a
 * stall is charged to the queries that were waiting during it. */
static uint32_t (*iv_hist)[IV_BUCKETS + 1];
static uint32_t *iv_max_us;
static size_t n_iv;
static uint64_t iv_ns, iv_start;

static struct {
	uint64_t sent, received, lost, late, mismatched, malformed, behind;
	uint64_t with_answer, truncated, send_errors;
	uint64_t rcode[16];
	double lat_sum_us;
	uint64_t lat_max_us;
} st;

static void die(const char *msg)
{
	fprintf(stderr, "gridns-loadgen: %s\n", msg);
	exit(2);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: gridns-loadgen -d FILE [options]\n"
		"  -s, --server ADDR     server address (127.0.0.1)\n"
		"  -p, --port PORT       server port (53)\n"
		"  -d, --data FILE       queries, dnsperf format: \"name TYPE\" per line\n"
		"  -W, --inflight N      outstanding queries (256, max 65536)\n"
		"  -l, --duration SEC    run time in seconds (10)\n"
		"  -n, --queries N       stop after sending N queries (0 = no limit)\n"
		"  -t, --timeout SEC     a query unanswered after this is lost (1.0)\n"
		"  -r, --rate QPS        fixed offered rate instead of closed loop\n"
		"  -k, --tick USEC       with --rate: send and read every USEC microseconds\n"
		"                        (0, the default: wake for every send and answer)\n"
		"  -C, --catch-up MS     with --rate: send up to MS ms of missed queries late\n"
		"                        (default: one batch; the rest is skipped, \"behind\")\n"
		"  -b, --batch N         sendmmsg/recvmmsg batch size (64, max %d)\n"
		"  -S, --sockets N       source sockets, slots spread over them (1)\n"
		"  -e, --edns            add an EDNS0 OPT record (payload 1232)\n"
		"  -R, --no-rd           clear the RD bit (set by default, as dnsperf)\n"
		"  -I, --intervals MS    per-interval latency (by send time) on stderr\n"
		"Prints one JSON line: sent, received, lost, qps, latency (us), rcodes.\n",
		MAX_BATCH);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"server", required_argument, 0, 's'}, {"port", required_argument, 0, 'p'},
		{"data", required_argument, 0, 'd'}, {"inflight", required_argument, 0, 'W'},
		{"duration", required_argument, 0, 'l'}, {"queries", required_argument, 0, 'n'},
		{"timeout", required_argument, 0, 't'}, {"rate", required_argument, 0, 'r'},
		{"tick", required_argument, 0, 'k'}, {"catch-up", required_argument, 0, 'C'}, {"batch", required_argument, 0, 'b'}, {"sockets", required_argument, 0, 'S'},
		{"edns", no_argument, 0, 'e'}, {"no-rd", no_argument, 0, 'R'},
		{"intervals", required_argument, 0, 'I'},
		{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	*o = (struct opts){.server = "127.0.0.1", .port = "53", .inflight = 256,
			   .duration = 10, .timeout = 1.0, .batch = 64, .sockets = 1,
			   .rd = true};
	int c;
	while ((c = getopt_long(argc, argv, "s:p:d:W:l:n:t:r:k:C:b:S:eRI:h", lo, NULL)) != -1) {
		switch (c) {
		case 's': o->server = optarg; break;
		case 'p': o->port = optarg; break;
		case 'd': o->data = optarg; break;
		case 'W': o->inflight = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'l': o->duration = strtod(optarg, NULL); break;
		case 'n': o->max_queries = strtoull(optarg, NULL, 10); break;
		case 't': o->timeout = strtod(optarg, NULL); break;
		case 'r': o->rate = strtod(optarg, NULL); break;
		case 'k': o->tick = strtod(optarg, NULL) / 1e6; break;
		case 'C': o->catch_up = strtod(optarg, NULL) / 1e3; break;
		case 'b': o->batch = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'S': o->sockets = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'e': o->edns = true; break;
		case 'R': o->rd = false; break;
		case 'I': o->interval_ms = strtod(optarg, NULL); break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (!o->data) { usage(stderr); exit(2); }
	if (o->inflight < 1 || o->inflight > 65536) die("--inflight must be 1..65536");
	if (o->batch < 1 || o->batch > MAX_BATCH) die("--batch out of range");
	if (o->sockets < 1 || o->sockets > MAX_SOCKETS || o->sockets > o->inflight)
		die("--sockets must be 1..64 and <= --inflight");
	if (o->duration <= 0 && o->max_queries == 0) die("need --duration > 0 or --queries");
	if (o->timeout <= 0) die("--timeout must be > 0");
	if (o->rate < 0) die("--rate must be >= 0");
	if (o->tick < 0 || o->tick > 0.1) die("--tick must be 0..100000 (microseconds)");
	if (o->tick > 0 && o->rate <= 0) die("--tick needs --rate");
	if (o->catch_up < 0 || o->catch_up > 10) die("--catch-up must be 0..10000 (ms)");
	if (o->catch_up > 0 && o->rate <= 0) die("--catch-up needs --rate");
	if (o->interval_ms < 0 || (o->interval_ms > 0 && o->interval_ms < 1))
		die("--intervals must be >= 1 (ms)");
	if (o->interval_ms > 0 && o->duration <= 0)
		die("--intervals needs --duration");
}

/* ---- query file ------------------------------------------------------- */

static int parse_type(const char *s)
{
	static const struct { const char *n; int v; } t[] = {
		{"A", 1}, {"NS", 2}, {"CNAME", 5}, {"SOA", 6}, {"PTR", 12}, {"MX", 15},
		{"TXT", 16}, {"AAAA", 28}, {"SRV", 33}, {"NAPTR", 35}, {"DS", 43},
		{"DNSKEY", 48}, {"HTTPS", 65}, {"CAA", 257}, {"ANY", 255}};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (!strcasecmp(s, t[i].n)) return t[i].v;
	if (!strncasecmp(s, "TYPE", 4) && s[4]) {
		char *end;
		unsigned long v = strtoul(s + 4, &end, 10);
		if (!*end && v <= 65535) return (int)v;
	}
	return -1;
}

static uint8_t *qdata_reserve(size_t n)
{
	if (qdata_len + n > qdata_cap) {
		size_t nc = qdata_cap ? qdata_cap * 2 : 1 << 20;
		while (nc < qdata_len + n) nc *= 2;
		uint8_t *p = realloc(qdata, nc);
		if (!p) die("out of memory");
		qdata = p;
		qdata_cap = nc;
	}
	return qdata + qdata_len;
}

/* Encode "name" into wire format at out; returns length or -1. */
static int encode_name(const char *name, uint8_t *out)
{
	size_t n = 0;
	const char *p = name;
	if (!strcmp(p, ".")) { out[0] = 0; return 1; }
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		if (l == 0 || l > 63 || n + 1 + l + 1 > 255) return -1;
		out[n++] = (uint8_t)l;
		memcpy(out + n, p, l);
		n += l;
		p += l;
		if (*p == '.') p++;
	}
	out[n++] = 0;
	return (int)n;
}

static void load_queries(const struct opts *o)
{
	FILE *f = fopen(o->data, "r");
	if (!f) { perror(o->data); exit(2); }
	char line[1024];
	size_t lineno = 0, bad = 0;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		char *h = strchr(line, '#');
		if (h) *h = 0;
		char *save = NULL;
		char *name = strtok_r(line, " \t\r\n", &save);
		if (!name) continue;
		char *type = strtok_r(NULL, " \t\r\n", &save);
		int qtype = type ? parse_type(type) : 1;
		uint8_t *w = qdata_reserve(QBUF);
		memset(w, 0, 12);
		w[2] = o->rd ? 0x01 : 0x00;
		w[5] = 1; /* QDCOUNT */
		int nl = qtype < 0 ? -1 : encode_name(name, w + 12);
		if (nl < 0) {
			if (bad++ < 5) fprintf(stderr, "gridns-loadgen: %s:%zu: bad query skipped\n",
					      o->data, lineno);
			continue;
		}
		size_t len = 12 + (size_t)nl;
		w[len++] = (uint8_t)(qtype >> 8);
		w[len++] = (uint8_t)qtype;
		w[len++] = 0;
		w[len++] = 1; /* IN */
		uint16_t qlen = (uint16_t)(len - 12);
		if (o->edns) {
			w[11] = 1; /* ARCOUNT */
			static const uint8_t opt[11] = {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0};
			memcpy(w + len, opt, sizeof opt);
			len += sizeof opt;
		}
		if (n_queries == cap_queries) {
			cap_queries = cap_queries ? cap_queries * 2 : 65536;
			struct query *nq = realloc(queries, cap_queries * sizeof *nq);
			if (!nq) die("out of memory");
			queries = nq;
		}
		queries[n_queries++] = (struct query){(uint32_t)qdata_len, (uint16_t)len, qlen};
		qdata_len += len;
		if (qdata_len > 0xffff0000u) die("query file too large");
	}
	fclose(f);
	if (!n_queries) die("no queries in the data file");
}

/* ---- stats ------------------------------------------------------------ */

static void record_interval(uint64_t sent_ns, uint64_t us)
{
	size_t i = (size_t)((sent_ns - iv_start) / iv_ns);
	if (i >= n_iv) i = n_iv - 1;
	iv_hist[i][us / IV_BUCKET_US < IV_BUCKETS ? us / IV_BUCKET_US : IV_BUCKETS]++;
	if (us > iv_max_us[i]) iv_max_us[i] = (uint32_t)(us < UINT32_MAX ? us : UINT32_MAX);
}

/* Upper edge (us) of the bucket holding quantile p of interval i. */
static unsigned interval_pct(size_t i, uint64_t total, double p)
{
	uint64_t want = (uint64_t)(p * (double)total), seen = 0;
	if (want >= total) want = total - 1;
	for (unsigned b = 0; b <= IV_BUCKETS; b++) {
		seen += iv_hist[i][b];
		if (seen > want) return b < IV_BUCKETS ? (b + 1) * IV_BUCKET_US : iv_max_us[i];
	}
	return iv_max_us[i];
}

static void print_intervals(double interval_ms)
{
	fprintf(stderr, "{\"interval_ms\": %g, \"columns\": [\"start_ms\", \"n\", \"p50_us\", "
		"\"p99_us\", \"max_us\"], \"intervals\": [", interval_ms);
	for (size_t i = 0; i < n_iv; i++) {
		uint64_t total = 0;
		for (unsigned b = 0; b <= IV_BUCKETS; b++) total += iv_hist[i][b];
		fprintf(stderr, "%s[%.0f, %llu, %u, %u, %u]", i ? ", " : "", (double)i * interval_ms,
			(unsigned long long)total, total ? interval_pct(i, total, 0.50) : 0,
			total ? interval_pct(i, total, 0.99) : 0, iv_max_us[i]);
	}
	fprintf(stderr, "]}\n");
}

static void record_latency(uint64_t ns)
{
	uint64_t us = ns / 1000;
	if (us < HIST_FINE) hist_fine[us]++;
	else hist_coarse[us / 1000 < HIST_COARSE ? us / 1000 : HIST_COARSE]++;
	st.lat_sum_us += (double)ns / 1000.0;
	if (us > st.lat_max_us) st.lat_max_us = us;
}

static double percentile(double p)
{
	uint64_t total = 0;
	for (size_t i = 0; i < HIST_FINE; i++) total += hist_fine[i];
	for (size_t i = 0; i <= HIST_COARSE; i++) total += hist_coarse[i];
	if (!total) return 0;
	uint64_t want = (uint64_t)(p * (double)total);
	if (want >= total) want = total - 1;
	uint64_t seen = 0;
	for (size_t i = 0; i < HIST_FINE; i++) {
		seen += hist_fine[i];
		if (seen > want) return (double)i;
	}
	for (size_t i = 0; i <= HIST_COARSE; i++) {
		seen += hist_coarse[i];
		if (seen > want) return (double)i * 1000.0;
	}
	return (double)st.lat_max_us;
}

/* ---- network ---------------------------------------------------------- */

static int open_socket(const struct opts *o, struct sockaddr_storage *sa, socklen_t *salen)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
	struct addrinfo *ai;
	int e = getaddrinfo(o->server, o->port, &hints, &ai);
	if (e) { fprintf(stderr, "gridns-loadgen: %s: %s\n", o->server, gai_strerror(e)); exit(2); }
	int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) { perror("socket"); exit(2); }
	int sz = 8 << 20;
	/* Large buffers so the generator never drops a burst itself; the FORCE
	 * variants pass rmem_max when we are root. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof sz))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	if (o->tick > 0) {
		int one = 1;
		if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one)) {
			perror("SO_TIMESTAMPNS");
			exit(2);
		}
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen)) { perror("connect"); exit(2); }
	memcpy(sa, ai->ai_addr, ai->ai_addrlen);
	*salen = ai->ai_addrlen;
	freeaddrinfo(ai);
	return fd;
}

static bool question_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t x = a[i], y = b[i];
		if (x >= 'A' && x <= 'Z') x = (uint8_t)(x + 32);
		if (y >= 'A' && y <= 'Z') y = (uint8_t)(y + 32);
		if (x != y) return false;
	}
	return true;
}

static uint8_t sbuf[MAX_SOCKETS][MAX_BATCH][QBUF];
static uint8_t rbuf[MAX_BATCH][QBUF * 8];
static struct mmsghdr smsg[MAX_BATCH], rmsg[MAX_BATCH];
static struct iovec siov[MAX_BATCH], riov[MAX_BATCH];
static union {
	struct cmsghdr align;
	uint8_t buf[CMSG_SPACE(sizeof(struct timespec))];
} rctl[MAX_BATCH];
static bool kernel_stamps; /* --tick: answers timed by SO_TIMESTAMPNS */

static uint64_t ts_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000ull + (uint64_t)ts->tv_nsec;
}

/* When message i arrived, on the CLOCK_MONOTONIC scale (rt_off is
 * CLOCK_REALTIME - CLOCK_MONOTONIC, the kernel stamps in realtime); `now`
 * when there is no stamp or it makes no sense. */
static uint64_t rx_time(unsigned i, int64_t rt_off, uint64_t now)
{
	struct msghdr *mh = &rmsg[i].msg_hdr;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
			struct timespec ts;
			memcpy(&ts, CMSG_DATA(c), sizeof ts);
			int64_t t = (int64_t)ts_ns(&ts) - rt_off;
			return t > 0 && (uint64_t)t <= now ? (uint64_t)t : now;
		}
	}
	return now;
}

static void free_slot(struct sock *socks, unsigned nsock, uint32_t s)
{
	slots[s].busy = false;
	slots[s].gen = (uint16_t)((slots[s].gen + 1) & gen_mask);
	struct sock *k = &socks[s % nsock];
	k->free_slots[k->n_free++] = s;
}

/* Send up to `max` queries on socket k.  Returns the number sent. */
static unsigned send_batch(struct sock *socks, unsigned nsock, unsigned k, unsigned max,
			   uint64_t *next_q, uint64_t now)
{
	struct sock *sk = &socks[k];
	unsigned n = 0;
	uint32_t taken[MAX_BATCH];
	while (n < max && sk->n_free) {
		uint32_t s = sk->free_slots[--sk->n_free];
		uint32_t qi = (uint32_t)(*next_q % n_queries);
		(*next_q)++;
		const struct query *q = &queries[qi];
		uint8_t *b = sbuf[k][n];
		memcpy(b, qdata + q->off, q->len);
		uint16_t id = (uint16_t)(((uint32_t)slots[s].gen << id_bits) | s);
		b[0] = (uint8_t)(id >> 8);
		b[1] = (uint8_t)id;
		siov[n] = (struct iovec){b, q->len};
		smsg[n] = (struct mmsghdr){.msg_hdr = {.msg_iov = &siov[n], .msg_iovlen = 1}};
		slots[s].q = qi;
		slots[s].sent_ns = now;
		slots[s].busy = true;
		taken[n++] = s;
	}
	if (!n) return 0;
	int r = sendmmsg(sk->fd, smsg, n, 0);
	unsigned ok = r > 0 ? (unsigned)r : 0;
	if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS &&
	    errno != ECONNREFUSED)
		st.send_errors++;
	/* Unsent ones go back; the query index is not rewound (harmless). */
	for (unsigned i = ok; i < n; i++) free_slot(socks, nsock, taken[i]);
	st.sent += ok;
	return ok;
}

/* Drain socket k without blocking.  Returns the number of packets read. */
static unsigned recv_all(struct sock *socks, unsigned nsock, unsigned k, unsigned batch,
			 uint64_t *inflight)
{
	unsigned total = 0;
	for (int rounds = 0; rounds < 64; rounds++) {
		for (unsigned i = 0; i < batch; i++) {
			riov[i] = (struct iovec){rbuf[i], sizeof rbuf[i]};
			rmsg[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &riov[i], .msg_iovlen = 1}};
			if (kernel_stamps) {
				rmsg[i].msg_hdr.msg_control = rctl[i].buf;
				rmsg[i].msg_hdr.msg_controllen = sizeof rctl[i].buf;
			}
		}
		int r = recvmmsg(socks[k].fd, rmsg, batch, MSG_DONTWAIT, NULL);
		if (r <= 0) break;
		uint64_t now = now_ns();
		int64_t rt_off = 0;
		if (kernel_stamps) {
			struct timespec rt;
			clock_gettime(CLOCK_REALTIME, &rt);
			rt_off = (int64_t)ts_ns(&rt) - (int64_t)now;
		}
		for (int i = 0; i < r; i++) {
			const uint8_t *p = rbuf[i];
			size_t len = rmsg[i].msg_len;
			if (len < 12 || !(p[2] & 0x80)) { st.malformed++; continue; }
			uint16_t id = (uint16_t)((p[0] << 8) | p[1]);
			uint32_t s = id & ((1u << id_bits) - 1);
			uint16_t gen = (uint16_t)(id_bits < 16 ? id >> id_bits : 0);
			if (s >= n_slots || s % nsock != k || !slots[s].busy ||
			    slots[s].gen != gen) {
				st.late++;
				continue;
			}
			const struct query *q = &queries[slots[s].q];
			if (len < 12u + q->qlen ||
			    !question_equal(p + 12, qdata + q->off + 12, q->qlen)) {
				st.mismatched++;
				continue;
			}
			uint64_t at = kernel_stamps ? rx_time((unsigned)i, rt_off, now) : now;
			if (at < slots[s].sent_ns) at = slots[s].sent_ns;
			record_latency(at - slots[s].sent_ns);
			if (iv_ns) record_interval(slots[s].sent_ns, (at - slots[s].sent_ns) / 1000);
			st.received++;
			st.rcode[p[3] & 0x0f]++;
			if (p[6] || p[7]) st.with_answer++;
			if (p[2] & 0x02) st.truncated++;
			free_slot(socks, nsock, s);
			(*inflight)--;
		}
		total += (unsigned)r;
		if ((unsigned)r < batch) break;
	}
	return total;
}

static uint64_t expire_slots(struct sock *socks, unsigned nsock, unsigned W, uint64_t now,
			     uint64_t timeout_ns)
{
	uint64_t n = 0;
	for (uint32_t s = 0; s < W; s++) {
		if (slots[s].busy && now - slots[s].sent_ns >= timeout_ns) {
			free_slot(socks, nsock, s);
			st.lost++;
			n++;
		}
	}
	return n;
}

int main(int argc, char **argv)
{
	struct opts o;
	parse_opts(argc, argv, &o);
	/* Paced sends wait in ppoll for tens of microseconds; the default 50 us
	 * timer slack would turn the schedule into bursts. */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	load_queries(&o);
	kernel_stamps = o.tick > 0;

	unsigned W = o.inflight;
	id_bits = 0;
	while ((1u << id_bits) < W) id_bits++;
	gen_mask = (uint16_t)(id_bits < 16 ? (1u << (16 - id_bits)) - 1 : 0);
	slots = calloc(W, sizeof *slots);
	n_slots = W;
	if (!slots) die("out of memory");

	unsigned nsock = o.sockets;
	struct sock socks[MAX_SOCKETS];
	struct sockaddr_storage sa;
	socklen_t salen;
	for (unsigned k = 0; k < nsock; k++) {
		socks[k].fd = open_socket(&o, &sa, &salen);
		socks[k].free_slots = calloc(W / nsock + 1, sizeof(uint32_t));
		if (!socks[k].free_slots) die("out of memory");
		socks[k].n_free = 0;
	}
	/* Push in reverse so slot 0.. are used first (pop from the top). */
	for (uint32_t s = W; s-- > 0;) {
		struct sock *k = &socks[s % nsock];
		k->free_slots[k->n_free++] = s;
	}

	const uint64_t timeout_ns = (uint64_t)(o.timeout * 1e9);
	const uint64_t start = now_ns();
	const uint64_t end = o.duration > 0 ? start + (uint64_t)(o.duration * 1e9) : UINT64_MAX;
	if (o.interval_ms > 0) {
		iv_ns = (uint64_t)(o.interval_ms * 1e6);
		iv_start = start;
		n_iv = (size_t)((end - start + iv_ns - 1) / iv_ns) + 1; /* +1: sends at `end` */
		iv_hist = calloc(n_iv, sizeof *iv_hist);
		iv_max_us = calloc(n_iv, sizeof *iv_max_us);
		if (!iv_hist || !iv_max_us) die("out of memory");
	}
	uint64_t next_q = 0, inflight = 0, stop_at = 0, last_scan = start, sched = 0;
	bool stopping = false;
	unsigned rr = 0;
	/* How many scheduled sends may leave late, at once, after a gap. */
	uint64_t slack = o.batch;
	if (o.rate * o.catch_up > (double)slack) slack = (uint64_t)(o.rate * o.catch_up);

	for (;;) {
		uint64_t now = now_ns();
		if (!stopping && (now >= end || (o.max_queries && st.sent >= o.max_queries))) {
			stopping = true;
			stop_at = now;
		}
		if (stopping && (inflight == 0 || now - stop_at > timeout_ns + 50000000ull))
			break;
		/* Sends. */
		unsigned sent_now = 0;
		if (!stopping) {
			uint64_t allow = UINT64_MAX;
			if (o.rate > 0) {
				/* The schedule: query i leaves at start + i/rate.  When the
				 * generator fell behind (descheduled, or every slot busy) it
				 * does not catch up with a burst, which would measure the
				 * burst: at most one batch (or --catch-up) is sent late, the
				 * rest of the missed sends are skipped and counted as
				 * "behind". */
				uint64_t due = (uint64_t)((double)(now - start) * o.rate / 1e9) + 1;
				if (due > sched + slack) {
					st.behind += due - sched - slack;
					sched = due - slack;
				}
				allow = due > sched ? due - sched : 0;
			}
			if (o.max_queries && o.max_queries - st.sent < allow)
				allow = o.max_queries - st.sent;
			for (unsigned i = 0; i < nsock && allow; i++) {
				unsigned k = (rr + i) % nsock;
				unsigned max = allow < o.batch ? (unsigned)allow : o.batch;
				unsigned n = send_batch(socks, nsock, k, max, &next_q, now);
				inflight += n;
				allow -= n;
				sent_now += n;
			}
			sched += sent_now;
			rr++;
		}
		/* Receives. */
		unsigned got = 0;
		for (unsigned k = 0; k < nsock; k++) got += recv_all(socks, nsock, k, o.batch, &inflight);
		/* Timeouts, scanned every 10 ms. */
		if (now - last_scan >= 10000000ull) {
			inflight -= expire_slots(socks, nsock, W, now, timeout_ns);
			last_scan = now;
		}
		if (got || sent_now) continue;
		/* Idle: wait for a response, the next scheduled send or the next scan. */
		uint64_t wait = 10000000ull;
		if (o.rate > 0 && !stopping) {
			uint64_t next_send = start + (uint64_t)((double)sched * 1e9 / o.rate);
			bool any_free = false;
			for (unsigned k = 0; k < nsock; k++) any_free |= socks[k].n_free > 0;
			if (any_free)
				wait = next_send > now ? (next_send - now < wait ? next_send - now : wait) : 0;
		}
		bool ticking = o.tick > 0 && !stopping;
		if (ticking) {
			/* Sleep to the next step whatever arrives meanwhile: answers
			 * wait in the socket buffer with their kernel timestamps. */
			uint64_t step = (uint64_t)(o.tick * 1e9);
			wait = step - (now - start) % step;
		}
		if (!stopping && end != UINT64_MAX && end > now && end - now < wait) wait = end - now;
		if (wait == 0) continue;
		struct pollfd pfd[MAX_SOCKETS];
		for (unsigned k = 0; k < nsock; k++) pfd[k] = (struct pollfd){socks[k].fd, POLLIN, 0};
		struct timespec ts = {(time_t)(wait / 1000000000ull), (long)(wait % 1000000000ull)};
		ppoll(pfd, ticking ? 0 : nsock, &ts, NULL);
	}
	uint64_t finish = now_ns();
	/* Whatever is still out after the drain is lost. */
	for (uint32_t s = 0; s < W; s++)
		if (slots[s].busy) { st.lost++; slots[s].busy = false; }

	double window = (double)((stop_at ? stop_at : finish) - start) / 1e9;
	if (window <= 0) window = 1e-9;
	static const char *rc_names[16] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
					   "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET",
					   "NOTAUTH", "NOTZONE", "RCODE11", "RCODE12", "RCODE13",
					   "RCODE14", "RCODE15"};
	printf("{\"sent\": %llu, \"received\": %llu, \"lost\": %llu, \"late\": %llu, "
	       "\"mismatched\": %llu, \"malformed\": %llu, \"send_errors\": %llu, "
	       "\"duration_s\": %.3f, \"qps\": %.1f, \"offered_qps\": %.1f, \"behind\": %llu, "
	       "\"inflight\": %u, \"sockets\": %u, \"tick_us\": %.0f, \"catch_up_ms\": %.0f, "
	       "\"with_answer\": %llu, "
	       "\"truncated\": %llu, "
	       "\"latency_us\": {\"avg\": %.1f, \"p50\": %.0f, \"p90\": %.0f, \"p99\": %.0f, "
	       "\"p999\": %.0f, \"max\": %llu}, \"rcodes\": {",
	       (unsigned long long)st.sent, (unsigned long long)st.received,
	       (unsigned long long)st.lost, (unsigned long long)st.late,
	       (unsigned long long)st.mismatched, (unsigned long long)st.malformed,
	       (unsigned long long)st.send_errors, window, (double)st.received / window,
	       o.rate, (unsigned long long)st.behind, W, nsock, o.tick * 1e6,
	       o.catch_up * 1e3,
	       (unsigned long long)st.with_answer, (unsigned long long)st.truncated,
	       st.received ? st.lat_sum_us / (double)st.received : 0.0, percentile(0.50),
	       percentile(0.90), percentile(0.99), percentile(0.999),
	       (unsigned long long)st.lat_max_us);
	bool first = true;
	for (int i = 0; i < 16; i++) {
		if (!st.rcode[i]) continue;
		printf("%s\"%s\": %llu", first ? "" : ", ", rc_names[i], (unsigned long long)st.rcode[i]);
		first = false;
	}
	printf("}}\n");
	if (iv_ns) {
		fflush(stdout);
		print_intervals(o.interval_ms);
		free(iv_hist);
		free(iv_max_us);
	}
	for (unsigned k = 0; k < nsock; k++) { close(socks[k].fd); free(socks[k].free_slots); }
	free(slots);
	free(queries);
	free(qdata);
	return 0;
}
