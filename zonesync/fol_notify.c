/* zonesync/fol_notify.c - the NOTIFY listener (RFC 1996), UDP.
 *
 * A NOTIFY only says "check now": it never carries data, so answering it
 * costs one SOA check.  It is still checked before anything happens: the
 * sender must be in notify-allow, and when the zone's primaries use TSIG
 * the NOTIFY must be signed with a known key (a forged NOTIFY could
 * otherwise make every node hammer the primaries).  A refused NOTIFY is
 * logged with the sender and the reason, and answered REFUSED or NOTAUTH so
 * the sender's operator sees it too.
 */
#include <errno.h>
#include <ev.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "common/err.h"
#include "common/log.h"
#include "zonesync/fol.h"

#define N_OP_NOTIFY 4
#define N_RC_REFUSED 5
#define N_RC_NOTAUTH 9
#define N_RC_FORMERR 1

struct fol_notify {
	int fd;
	ev_io io;
};

/* Does zone z's config expect TSIG (any primary has a key)? */
static bool zone_signed(const struct fol_zone *z)
{
	for (size_t i = 0; i < z->conf->n_prim; i++)
		if (z->conf->prim[i].key)
			return true;
	return false;
}

/* Reply with header + question of the query, and a TSIG when asked. */
static void reply(int fd, const struct sockaddr *to, socklen_t tolen, const uint8_t *q,
		  size_t qend, unsigned rcode, struct tsig_ctx *tc, int tsig_mode)
{
	uint8_t m[1024];
	size_t n = qend;
	uint64_t now = (uint64_t)time(NULL);

	if (qend > 512)
		return;
	memcpy(m, q, qend);
	m[2] = (uint8_t)((q[2] & 0x79) | 0x80 | 0x04); /* QR, keep opcode, AA */
	m[3] = (uint8_t)rcode;
	m[4] = 0;
	m[5] = qend > 12 ? 1 : 0;
	memset(m + 6, 0, 6);
	if (tsig_mode == 1 && tsig_sign_reply(tc, m, &n, sizeof(m), now) < 0)
		return;
	if (tsig_mode == 2 && tsig_sign_error(tc, m, &n, sizeof(m), now) < 0)
		return;
	if (sendto(fd, m, n, 0, to, tolen) < 0)
		log_debug("NOTIFY reply: %s", strerror(errno));
}

static void handle(struct fol *f, int fd, const uint8_t *m, size_t len,
		   const struct sockaddr *from, socklen_t fromlen)
{
	char peer[ADDR_TEXT_MAX] = "?";
	uint8_t name[DNAME_MAX];
	size_t o = 12, nl = 0;
	struct fol_zone *z;
	struct tsig_ctx tc;
	size_t tsig_off;
	int r;

	addr_format(from, peer, sizeof(peer));
	if (len < 12 || (m[2] & 0x80) || ((m[2] >> 3) & 15) != N_OP_NOTIFY)
		return; /* not a NOTIFY query: not ours to answer */
	if (m[4] != 0 || m[5] != 1)
		goto formerr;
	while (o < len && m[o] != 0 && nl < DNAME_MAX - 1) {
		size_t l = m[o];
		if (l > 63 || o + 1 + l >= len || nl + l + 1 >= DNAME_MAX)
			goto formerr;
		memcpy(name + nl, m + o, l + 1);
		nl += l + 1;
		o += l + 1;
	}
	if (o + 5 > len || m[o] != 0)
		goto formerr;
	name[nl++] = 0;
	o += 5;
	if (!(z = fol_zone_find_wire(f, name))) {
		char t[DNAME_TEXT_MAX] = "?";
		dname_to_text(name, t, sizeof(t));
		log_warn("NOTIFY from %s for zone %s: not a followed zone; refused", peer, t);
		reply(fd, from, fromlen, m, o, N_RC_REFUSED, NULL, 0);
		return;
	}
	if (!netacl_match(f->conf->notify_acl, f->conf->n_notify_acl, from)) {
		log_warn("zone %s: NOTIFY from %s refused: not in notify-allow", z->conf->name, peer);
		reply(fd, from, fromlen, m, o, N_RC_REFUSED, NULL, 0);
		return;
	}
	tsig_ctx_init(&tc, NULL, 0);
	r = tsig_verify_query(&f->conf->keys, &tc, m, len, (uint64_t)time(NULL), &tsig_off);
	/* The sender's clock is the primary's more often than not: a NOTIFY
	 * whose MAC verified (BADTIME is checked after the MAC) tells its skew. */
	if (tc.skew_seen && (r == 0 || tc.error == TSIG_BADTIME)) {
		char who[ADDR_TEXT_MAX + 24];
		snprintf(who, sizeof(who), "NOTIFY sender %s", peer);
		fol_skew_note(f, fol_skew_peer_from(f, from), who, tc.skew, r != 0,
			      (int64_t)time(NULL));
	}
	if (r == GN_EINVAL) {
		log_warn("zone %s: NOTIFY from %s refused: TSIG %s (%s)%s", z->conf->name, peer,
			 tsig_error_name(tc.error), tc.reason ? tc.reason : "failed",
			 tc.error == TSIG_BADTIME ? "; check NTP on both hosts" : "");
		reply(fd, from, fromlen, m, o, N_RC_NOTAUTH, &tc, 2);
		return;
	}
	if (r == GN_ENOENT && zone_signed(z)) {
		log_warn("zone %s: NOTIFY from %s refused: unsigned, and the zone's primaries use "
			 "TSIG", z->conf->name, peer);
		reply(fd, from, fromlen, m, o, N_RC_REFUSED, NULL, 0);
		return;
	}
	log_info("zone %s: NOTIFY from %s; checking now", z->conf->name, peer);
	reply(fd, from, fromlen, m, o, 0, &tc, r == 0 ? 1 : 0);
	fol_sched_now(f, z);
	return;
formerr:
	log_debug("malformed NOTIFY from %s", peer);
	if (len >= 12)
		reply(fd, from, fromlen, m, 12, N_RC_FORMERR, NULL, 0);
}

static void on_read(struct ev_loop *loop, ev_io *io, int revents)
{
	struct fol *f = ev_userdata(loop);
	uint8_t buf[4096];

	/* bounded: at most 64 datagrams per wake-up, the rest next time */
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(io->fd, buf, sizeof(buf), MSG_DONTWAIT,
				     (struct sockaddr *)&from, &fl);
		if (n < 0)
			break;
		handle(f, io->fd, buf, (size_t)n, (struct sockaddr *)&from, fl);
	}
}

int fol_notify_start(struct fol *f)
{
	struct fol_notify *n;
	const struct addr *a = &f->conf->listen;
	char t[ADDR_TEXT_MAX] = "?";
	int one = 1;

	if (!f->conf->has_listen)
		return 0;
	if (!(n = calloc(1, sizeof(*n))))
		return GN_ENOMEM;
	addr_format(&a->u.sa, t, sizeof(t));
	n->fd = socket(a->u.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (n->fd < 0 || setsockopt(n->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(n->fd, &a->u.sa, a->len) < 0) {
		log_err("NOTIFY listener %s: %s (is the port taken?)", t, strerror(errno));
		if (n->fd >= 0)
			close(n->fd);
		free(n);
		return GN_EIO;
	}
	ev_io_init(&n->io, on_read, n->fd, EV_READ);
	ev_io_start(f->loop, &n->io);
	f->notify = n;
	log_info("NOTIFY listener on %s (UDP)", t);
	return 0;
}

void fol_notify_stop(struct fol *f)
{
	if (!f->notify)
		return;
	if (f->loop)
		ev_io_stop(f->loop, &f->notify->io);
	close(f->notify->fd);
	free(f->notify);
	f->notify = NULL;
}
