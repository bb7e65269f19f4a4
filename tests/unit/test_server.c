/* tests/unit/test_server.c - the resolver's network layer on loopback:
 * the engine-less SERVFAIL, UDP, TCP framing and pipelining, bad framing,
 * clean stop.  No snapshot is handed over, so every answer is SERVFAIL:
 * that is the "unknown is never not-listed" path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>
#include "common/addr.h"
#include "common/err.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "resolver/server.h"
#include "resolver/server_int.h"

/* A query for "a.test IN A" with id `id`. */
static size_t mkquery(uint8_t *b, uint16_t id)
{
	static const uint8_t q[] = { 0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
				     1, 'a', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1 };
	memcpy(b, q, sizeof(q));
	b[0] = (uint8_t)(id >> 8);
	b[1] = (uint8_t)id;
	return sizeof(q);
}

static void test_servfail(void **state)
{
	uint8_t q[64], r[64];
	size_t n = mkquery(q, 0xbeef), m;

	m = server_servfail(q, n, r, sizeof(r));
	assert_int_equal(m, n);
	assert_int_equal(r[0], 0xbe);
	assert_int_equal(r[2] & 0x80, 0x80);  /* QR */
	assert_int_equal(r[2] & 0x01, 0x01);  /* RD copied */
	assert_int_equal(r[3] & 0x0f, 2);     /* SERVFAIL */
	assert_memory_equal(r + 12, q + 12, n - 12);
	assert_int_equal(server_servfail(q, 11, r, sizeof(r)), 0); /* runt */
	q[2] |= 0x80;
	assert_int_equal(server_servfail(q, n, r, sizeof(r)), 0); /* a response */
	q[2] &= 0x7f;
	assert_int_equal(server_servfail(q, n - 3, r, sizeof(r)), 12); /* cut question */
	assert_int_equal(r[3] & 0x0f, 1);
	q[5] = 0;                                                      /* qdcount 0 */
	assert_int_equal(server_servfail(q, n, r, sizeof(r)), 12);
	assert_int_equal(r[3] & 0x0f, 1);
	q[5] = 1;
	q[2] = 0x20;                                                   /* UPDATE */
	assert_int_equal(server_servfail(q, n, r, sizeof(r)), n);
	assert_int_equal(r[3] & 0x0f, 4);
	q[2] = 0x01;
	q[12] = 0xc0;                                                  /* pointer */
	assert_int_equal(server_servfail(q, n, r, sizeof(r)), 12);
	assert_int_equal(r[3] & 0x0f, 1);
}

struct fx {
	struct server *s;
	struct sockaddr_in sa;
};

static int setup(void **state)
{
	static struct fx f;
	struct addr a;
	struct server_opts o = {
		.n_listen = 1, .workers = 2, .udp_batch = 8, .udp_rcvbuf = 1 << 20,
		.edns_payload = 1232, .tcp_max_conn = 8, .tcp_idle_ms = 300,
		.tcp_max_pipeline = 2,
	};

	log_init("test_server", LOG_LVL_ERR);
	assert_int_equal(addr_parse("127.0.0.1:0", 0, &a, NULL), 0);
	o.listen = &a;
	assert_int_equal(server_new(&o, &f.s), 0);
	assert_int_equal(server_start(f.s), 0);
	memcpy(&f.sa, &server_listen_addr(f.s, 0)->u.in4, sizeof(f.sa));
	assert_int_not_equal(f.sa.sin_port, 0);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	server_free(f->s);
	return 0;
}

static int tcp_connect(struct fx *f)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&f->sa, sizeof(f->sa)), 0);
	return fd;
}

/* Read exactly n octets or fail within 2 s; returns 0 on EOF. */
static size_t read_n(int fd, uint8_t *b, size_t n)
{
	size_t got = 0;
	while (got < n) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;
		assert_int_equal(poll(&p, 1, 2000), 1);
		r = read(fd, b + got, n - got);
		if (r <= 0)
			return 0;
		got += (size_t)r;
	}
	return got;
}

static void test_udp(void **state)
{
	struct fx *f = *state;
	uint8_t q[64], r[2048];
	size_t n = mkquery(q, 7);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct pollfd p = { .fd = fd, .events = POLLIN };

	assert_true(fd >= 0);
	/* Garbage first: it must not stop the answer that follows. */
	assert_int_equal(sendto(fd, "\x01", 1, 0, (struct sockaddr *)&f->sa, sizeof(f->sa)), 1);
	assert_int_equal(sendto(fd, q, n, 0, (struct sockaddr *)&f->sa, sizeof(f->sa)), (ssize_t)n);
	assert_int_equal(poll(&p, 1, 2000), 1);
	assert_int_equal(recv(fd, r, sizeof(r), 0), (ssize_t)n);
	assert_int_equal(r[1], 7);
	assert_int_equal(r[3] & 0x0f, 2); /* no snapshot: SERVFAIL, never NXDOMAIN */
	close(fd);
}

static void test_tcp_pipeline(void **state)
{
	struct fx *f = *state;
	uint8_t out[1024], in[256];
	size_t len = 0;
	int fd = tcp_connect(f);

	/* Five queries in one write, more than max-pipeline (2): all are
	 * answered, in order, as the client reads. */
	for (uint16_t id = 1; id <= 5; id++) {
		size_t n = mkquery(out + len + 2, id);
		out[len] = 0;
		out[len + 1] = (uint8_t)n;
		len += 2 + n;
	}
	assert_int_equal(write(fd, out, len), (ssize_t)len);
	for (uint16_t id = 1; id <= 5; id++) {
		assert_int_equal(read_n(fd, in, 2), 2);
		assert_int_equal(read_n(fd, in + 2, in[1]), in[1]);
		assert_int_equal(in[3], id);
		assert_int_equal(in[5] & 0x0f, 2);
	}
	/* One query split over two writes. */
	len = mkquery(out + 2, 9);
	out[0] = 0;
	out[1] = (uint8_t)len;
	assert_int_equal(write(fd, out, 5), 5);
	usleep(20000);
	assert_int_equal(write(fd, out + 5, len + 2 - 5), (ssize_t)(len + 2 - 5));
	assert_int_equal(read_n(fd, in, 2 + len), 2 + len);
	assert_int_equal(in[3], 9);
	close(fd);
}

static void test_tcp_bad_length_and_idle(void **state)
{
	struct fx *f = *state;
	uint8_t b[16];
	int fd = tcp_connect(f);

	assert_int_equal(write(fd, "\x00\x03" "abc", 5), 5);
	assert_int_equal(read_n(fd, b, 1), 0); /* closed: cannot resynchronise */
	close(fd);
	fd = tcp_connect(f);
	assert_int_equal(read_n(fd, b, 1), 0); /* idle-timeout-ms 300 */
	close(fd);
}

static void test_metrics_text(void **state)
{
	struct fx *f = *state;
	struct strbuf b;

	strbuf_init(&b);
	server_metrics_write(f->s, &b);
	assert_int_equal(b.err, 0);
	assert_non_null(strstr(b.p, "# TYPE gridns_udp_packets_received_total counter"));
	assert_non_null(strstr(b.p, "gridns_packets_dropped_total{reason=\"tcp_bad_length\"}"));
	assert_non_null(strstr(b.p, "gridns_snapshot_open 0"));
	strbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_servfail),
		cmocka_unit_test(test_udp),
		cmocka_unit_test(test_tcp_pipeline),
		cmocka_unit_test(test_tcp_bad_length_and_idle),
		cmocka_unit_test(test_metrics_text),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
