/* resolver/notify.c - see notify.h. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>
#include "common/err.h"
#include "common/log.h"
#include "resolver/notify.h"

/* Written once by notify_open before any other thread exists; read-only
 * afterwards, so the threads that notify need no lock. */
static int notify_fd = -1;

int notify_open(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	size_t n;
	socklen_t len;
	int fd;

	if (!path || !*path || notify_fd >= 0)
		return 0;
	n = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || n >= sizeof(sun.sun_path)) {
		log_err("NOTIFY_SOCKET=%s: not a socket address we can use", path);
		return GN_EINVAL;
	}
	memcpy(sun.sun_path, path, n);
	if (path[0] == '@')
		sun.sun_path[0] = '\0'; /* abstract namespace */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/'));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, len) < 0) {
		log_err("cannot connect to NOTIFY_SOCKET %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return GN_EIO;
	}
	notify_fd = fd;
	return 0;
}

int notify_send(const char *state)
{
	ssize_t r;

	if (notify_fd < 0)
		return sd_notify(0, state);
	do
		r = send(notify_fd, state, strlen(state), MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 1;
}
