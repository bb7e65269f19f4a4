/* common/log.c - leveled logging. */
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include "common/log.h"

static const char *log_prog = "gridns";
static enum log_level log_level = LOG_LVL_INFO;
static int log_syslog;

void log_init(const char *prog, enum log_level level)
{
	if (prog)
		log_prog = prog;
	log_level = level;
}

void log_use_syslog(int on)
{
	if (on && !log_syslog)
		openlog(log_prog, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log_syslog = on;
}

enum log_level log_get_level(void) { return log_level; }

int log_level_parse(const char *s)
{
	static const char *names[] = { "err", "warn", "info", "debug" };
	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

void log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
{
	static const char *tag[] = { "error", "warning", "info", "debug" };
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char buf[2048];
	int n;

	if (lvl > log_level)
		return;
	if (log_syslog) {
		vsyslog(prio[lvl], fmt, ap);
		return;
	}
	n = snprintf(buf, sizeof(buf), "%s: %s: ", log_prog, tag[lvl]);
	if (n < 0)
		return;
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	if (n >= (int)sizeof(buf) - 1)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	/* One write per message keeps lines whole across threads. */
	if (write(STDERR_FILENO, buf, (size_t)n) < 0)
		return;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(lvl, fmt, ap);
	va_end(ap);
}
