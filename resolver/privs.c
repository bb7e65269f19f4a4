/* resolver/privs.c - drop root after binding. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>
#include "common/err.h"
#include "common/log.h"
#include "resolver/privs.h"

int privs_chroot(const char *dir)
{
	if (geteuid() != 0) {
		log_err("cannot chroot to %s: not running as root (start as root, or remove the "
			"chroot option)", dir);
		return GN_EIO;
	}
	if (chroot(dir) < 0) {
		log_err("chroot(%s) failed: %s", dir, strerror(errno));
		return GN_EIO;
	}
	/* Without this the old working directory stays reachable from inside. */
	if (chdir("/") < 0) {
		log_err("chdir(/) after chroot(%s) failed: %s", dir, strerror(errno));
		return GN_EIO;
	}
	log_info("chrooted to %s", dir);
	return 0;
}

static int privs_lookup(const char *user, uid_t *uid, gid_t *gid)
{
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(user);
	if (!pw) {
		log_err("cannot drop privileges: user \"%s\" %s", user,
			errno ? strerror(errno) : "does not exist");
		return GN_EINVAL;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

static int privs_switch(const char *user, uid_t uid, gid_t gid)
{
	int ret = GN_EINVAL;

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

int privs_drop(const char *user)
{
	uid_t uid;
	gid_t gid;

	if (privs_lookup(user, &uid, &gid) < 0)
		return GN_EINVAL;
	return privs_switch(user, uid, gid);
}

int privs_confine(const char *user, const char *dir)
{
	uid_t uid = 0;
	gid_t gid = 0;
	bool have_user = user && *user;

	/* The passwd lookup may need files (and NSS modules) that are not
	 * inside the new root: do it first. */
	if (have_user && privs_lookup(user, &uid, &gid) < 0)
		return GN_EINVAL;
	if (dir && *dir && privs_chroot(dir) < 0)
		return GN_EIO;
	return have_user ? privs_switch(user, uid, gid) : 0;
}
