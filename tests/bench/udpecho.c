/* tests/bench/udpecho.c - the ceiling: the fastest a single-threaded UDP
 * server on this machine can answer, doing no DNS work at all.
 *
 * Reads up to 64 datagrams with one recvmmsg, turns each into a response by
 * setting QR and rcode NXDOMAIN in place, and sends them all back with one
 * sendmmsg.  Anything a real server does on top of this is its own cost.
 *
 *   gridns-udpecho ADDR PORT
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64
#define BUFSZ 4096

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: gridns-udpecho ADDR PORT\n");
		return 2;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE};
	struct addrinfo *ai;
	int e = getaddrinfo(argv[1], argv[2], &hints, &ai);
	if (e) {
		fprintf(stderr, "gridns-udpecho: %s %s: %s\n", argv[1], argv[2], gai_strerror(e));
		return 2;
	}
	int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) { perror("socket"); return 1; }
	int sz = 8 << 20;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof sz))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	if (bind(fd, ai->ai_addr, ai->ai_addrlen)) { perror("bind"); return 1; }
	freeaddrinfo(ai);

	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	static uint8_t buf[BATCH][BUFSZ];
	static struct sockaddr_storage peer[BATCH];
	static struct iovec iov[BATCH];
	static struct mmsghdr msg[BATCH];
	while (!stop) {
		for (int i = 0; i < BATCH; i++) {
			iov[i] = (struct iovec){buf[i], BUFSZ};
			msg[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &peer[i],
				.msg_namelen = sizeof peer[i], .msg_iov = &iov[i], .msg_iovlen = 1}};
		}
		int n = recvmmsg(fd, msg, BATCH, MSG_WAITFORONE, NULL);
		if (n < 0) {
			if (errno == EINTR) continue;
			perror("recvmmsg");
			return 1;
		}
		int out = 0;
		for (int i = 0; i < n; i++) {
			if (msg[i].msg_len < 12) continue; /* not DNS: drop */
			uint8_t *p = buf[i];
			p[2] |= 0x80;                           /* QR */
			p[3] = (uint8_t)((p[3] & 0xf0) | 3);    /* NXDOMAIN */
			iov[i].iov_len = msg[i].msg_len;
			if (out != i) {
				iov[out] = iov[i];
				msg[out].msg_hdr = msg[i].msg_hdr;
				msg[out].msg_hdr.msg_iov = &iov[out];
			}
			out++;
		}
		int done = 0;
		for (int tries = 0; done < out && tries < 4; tries++) {
			int r = sendmmsg(fd, msg + done, (unsigned)(out - done), 0);
			if (r < 0) {
				if (errno == EINTR) continue;
				break; /* the client will count it as lost */
			}
			done += r;
		}
	}
	close(fd);
	return 0;
}
