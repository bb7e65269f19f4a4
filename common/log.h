/* common/log.h - leveled logging to stderr (or syslog when daemonized).
 *
 * Messages are for operators: say what failed, where (file:line, peer,
 * zone), and what to do.  The level is checked before formatting.
 * Thread-safe: each message is written with one write(2).
 */
#pragma once
#include <stdarg.h>

enum log_level { LOG_LVL_ERR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Set the threshold and program name used as prefix.  Default: INFO, "gridns". */
void log_init(const char *prog, enum log_level level);
/* Send messages to syslog instead of stderr (for daemons under systemd keep stderr). */
void log_use_syslog(int on);
enum log_level log_get_level(void);
/* Parse "err|warn|info|debug"; returns -1 when unknown. */
int log_level_parse(const char *s);

void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level lvl, const char *fmt, va_list ap);

#define log_err(...)   log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) do { if (log_get_level() >= LOG_LVL_DEBUG) \
		log_msg(LOG_LVL_DEBUG, __VA_ARGS__); } while (0)
