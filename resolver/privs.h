/* resolver/privs.h - give up root once the sockets are bound.
 *
 * Call from the main thread before any other thread exists, so that no
 * thread keeps the old credentials.  Not thread-safe.
 */
#pragma once

/* Switch to `user` (its primary group only, no supplementary groups).
 * Returns 0, or a negative GN_ code after logging why; the caller must not
 * continue then: serving as root by accident is worse than not serving.
 * When not root, succeeds only if we already are `user`. */
int privs_drop(const char *user);

/* chroot(2) to `dir` and chdir("/"); call after binding and opening the
 * snapshot.  Needs root.  Returns 0, or a negative GN_ code after logging
 * why (the caller must not continue). */
int privs_chroot(const char *dir);

/* Both: look `user` up (needs /etc/passwd, so before the chroot), chroot to
 * `dir` when it is non-empty, then switch to `user` when it is non-empty. */
int privs_confine(const char *user, const char *dir);
