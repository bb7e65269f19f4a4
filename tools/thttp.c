/* tools/thttp.c - HTTP/1.0 GET with a deadline (see thttp.h). */
#include "tools/thttp.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/err.h"
#include "tools/tdns.h"

int thttp_split(const char *url, char *host, size_t hcap, char *port, size_t pcap, char *path,
		size_t pathcap)
{
	const char *p, *hend, *slash;

	if (strncmp(url, "http://", 7) != 0)
		return GN_EINVAL;
	p = url + 7;
	slash = strchr(p, '/');
	if (!slash)
		slash = p + strlen(p);
	if (*p == '[') {
		hend = memchr(p, ']', (size_t)(slash - p));
		if (!hend || (size_t)(hend - p - 1) >= hcap || hend == p + 1)
			return GN_EINVAL;
		memcpy(host, p + 1, (size_t)(hend - p - 1));
		host[hend - p - 1] = '\0';
		p = hend + 1;
	} else {
		hend = p;
		while (hend < slash && *hend != ':')
			hend++;
		if (hend == p || (size_t)(hend - p) >= hcap)
			return GN_EINVAL;
		memcpy(host, p, (size_t)(hend - p));
		host[hend - p] = '\0';
		p = hend;
	}
	if (*p == ':') {
		p++;
		if (p == slash || (size_t)(slash - p) >= pcap || (size_t)(slash - p) > 5)
			return GN_EINVAL;
		for (const char *q = p; q < slash; q++)
			if (*q < '0' || *q > '9')
				return GN_EINVAL;
		memcpy(port, p, (size_t)(slash - p));
		port[slash - p] = '\0';
	} else if (p == slash) {
		if (pcap < 3)
			return GN_EINVAL;
		strcpy(port, "80");
	} else {
		return GN_EINVAL;
	}
	const char *want = *slash ? slash : "/metrics";
	if (strlen(want) >= pathcap)
		return GN_EINVAL;
	for (const char *q = want; *q; q++)
		if ((unsigned char)*q <= ' ' || *q == 0x7f)
			return GN_EINVAL; /* no header injection through the URL */
	strcpy(path, want);
	return 0;
}

/* Wait for fd to be ready for `ev` until the deadline. */
static int wait_fd(int fd, short ev, int64_t deadline)
{
	int64_t left = (deadline - tdns_now_ns()) / 1000000;
	struct pollfd p = { .fd = fd, .events = ev };

	if (left <= 0)
		return GN_EBUSY;
	int r = poll(&p, 1, (int)left);
	if (r == 0)
		return GN_EBUSY;
	return r < 0 ? GN_EIO : 0;
}

int thttp_get(const char *url, int timeout_ms, char **body, size_t *len, char *err,
	      size_t errcap)
{
	char host[256], port[8], path[1024], req[1500];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	int64_t deadline = tdns_now_ns() + (int64_t)timeout_ms * 1000000;
	char *buf = NULL;
	size_t used = 0, cap = 0;
	int fd = -1, ret = GN_EIO, r;

	*body = NULL;
	*len = 0;
	if (thttp_split(url, host, sizeof(host), port, sizeof(port), path, sizeof(path)) != 0) {
		snprintf(err, errcap, "not an http://HOST[:PORT][/PATH] URL");
		return GN_EINVAL;
	}
	r = getaddrinfo(host, port, &hints, &ai);
	if (r != 0) {
		snprintf(err, errcap, "cannot resolve %s: %s", host, gai_strerror(r));
		return GN_ENOENT;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errcap, "socket: %s", strerror(errno));
		goto out;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
		snprintf(err, errcap, "connect: %s", strerror(errno));
		goto out;
	}
	if (wait_fd(fd, POLLOUT, deadline) != 0) {
		snprintf(err, errcap, "connect: timed out after %d ms", timeout_ms);
		goto out;
	}
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr) {
		snprintf(err, errcap, "connect: %s", strerror(soerr ? soerr : errno));
		goto out;
	}
	int rl = snprintf(req, sizeof(req),
			  "GET %s HTTP/1.0\r\nHost: %s:%s\r\nAccept: text/plain\r\n"
			  "User-Agent: gridns-latency\r\n\r\n", path, host, port);
	for (int sent = 0; sent < rl;) {
		ssize_t w = send(fd, req + sent, (size_t)(rl - sent), MSG_NOSIGNAL);
		if (w < 0 && errno == EAGAIN) {
			if (wait_fd(fd, POLLOUT, deadline) != 0) {
				snprintf(err, errcap, "send: timed out");
				goto out;
			}
			continue;
		}
		if (w <= 0) {
			snprintf(err, errcap, "send: %s", strerror(errno));
			goto out;
		}
		sent += (int)w;
	}
	/* Read to EOF (HTTP/1.0), bounded in size and time. */
	for (;;) {
		if (cap - used < 65536) {
			size_t nc = cap ? cap * 2 : 131072;
			if (nc > THTTP_BODY_MAX + 65536) {
				snprintf(err, errcap, "response bigger than %u octets", THTTP_BODY_MAX);
				ret = GN_ERANGE;
				goto out;
			}
			char *nb = realloc(buf, nc);
			if (!nb) {
				snprintf(err, errcap, "out of memory");
				ret = GN_ENOMEM;
				goto out;
			}
			buf = nb;
			cap = nc;
		}
		ssize_t n = recv(fd, buf + used, cap - used - 1, 0);
		if (n == 0)
			break;
		if (n < 0 && errno == EAGAIN) {
			if (wait_fd(fd, POLLIN, deadline) != 0) {
				snprintf(err, errcap, "read: timed out after %d ms", timeout_ms);
				goto out;
			}
			continue;
		}
		if (n < 0) {
			snprintf(err, errcap, "read: %s", strerror(errno));
			goto out;
		}
		used += (size_t)n;
	}
	if (!buf) {
		snprintf(err, errcap, "empty response");
		goto out;
	}
	buf[used] = '\0';
	/* Status line, then headers up to the blank line. */
	int status = 0;
	if (sscanf(buf, "HTTP/%*d.%*d %d", &status) != 1) {
		snprintf(err, errcap, "not an HTTP response");
		goto out;
	}
	char *hdr_end = strstr(buf, "\r\n\r\n");
	size_t skip = 4;
	if (!hdr_end) {
		hdr_end = strstr(buf, "\n\n");
		skip = 2;
	}
	if (!hdr_end) {
		snprintf(err, errcap, "response headers never end");
		goto out;
	}
	if (status != 200) {
		snprintf(err, errcap, "HTTP status %d", status);
		goto out;
	}
	for (char *h = strchr(buf, '\n'); h && h < hdr_end; h = strchr(h + 1, '\n'))
		if (!strncasecmp(h + 1, "transfer-encoding:", 18)) {
			snprintf(err, errcap, "server used a transfer encoding on an HTTP/1.0 request");
			goto out;
		}
	size_t off = (size_t)(hdr_end - buf) + skip;
	*len = used - off;
	memmove(buf, buf + off, *len + 1);
	*body = buf;
	buf = NULL;
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	if (ai)
		freeaddrinfo(ai);
	free(buf);
	return ret;
}
