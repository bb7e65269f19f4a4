/* resolver/privs.c - drop root after binding. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>
#include "common/err.h"
#include "common/log.h"
#include "resolver/privs.h"

int privs_drop(const char *user)
{
	struct passwd *pw;
	uid_t uid;
	gid_t gid;
	int ret = GN_EINVAL;

	errno = 0;
	pw = getpwnam(user);
	if (!pw) {
		log_err("cannot drop privileges: user \"%s\" %s", user,
			errno ? strerror(errno) : "does not exist");
		goto out;
	}
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (geteuid() != 0) {
		if (getuid() == uid && geteuid() == uid) {
			ret = 0; /* already that user: nothing to give up */
			goto out;
		}
		log_err("cannot switch to user \"%s\": not running as root "
			"(start as root, or remove the user option)", user);
		ret = GN_EIO;
		goto out;
	}
	/* Order matters: groups first, while we still may change them. */
	if (setgroups(1, &gid) < 0) {
		log_err("setgroups(%u) for user \"%s\" failed: %s", (unsigned)gid, user, strerror(errno));
		ret = GN_EIO;
		goto out;
	}
	if (setgid(gid) < 0) {
		log_err("setgid(%u) for user \"%s\" failed: %s", (unsigned)gid, user, strerror(errno));
		ret = GN_EIO;
		goto out;
	}
	if (setuid(uid) < 0) {
		log_err("setuid(%u) for user \"%s\" failed: %s", (unsigned)uid, user, strerror(errno));
		ret = GN_EIO;
		goto out;
	}
	/* Paranoia that costs nothing: if root can be regained, the drop did
	 * not happen (e.g. a seccomp or LSM oddity) and we refuse to go on. */
	if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
		log_err("privileges were not dropped: could regain root after setuid(%u)", (unsigned)uid);
		ret = GN_EIO;
		goto out;
	}
	log_info("running as user %s (uid %u, gid %u)", user, (unsigned)uid, (unsigned)gid);
	ret = 0;
out:
	return ret;
}
