/* resolver/notify.h - systemd notifications that survive a chroot.
 *
 * sd_notify(3) connects to $NOTIFY_SOCKET at every call; after a chroot a
 * path such as /run/systemd/notify no longer exists, READY/STATUS would be
 * lost and the watchdog would kill a healthy resolver.  notify_open()
 * connects a socket before the chroot, and notify_send() uses it.
 */
#pragma once

/* Connect to $NOTIFY_SOCKET now (call before chroot; main thread).
 * Returns 0 (also when not started by systemd), or a negative GN_ code
 * after logging why. */
int notify_open(void);

/* Send one notification ("READY=1", "WATCHDOG=1"...): on the socket of
 * notify_open() if there is one, else with sd_notify.  Any thread.
 * Returns > 0 sent, 0 not under systemd, < 0 -errno. */
int notify_send(const char *state);
