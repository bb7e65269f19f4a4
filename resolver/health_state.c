/* resolver/health_state.c - the check table: rise/fall per check, verdicts on
 * canary answers, the /health JSON body and the health metrics.  No I/O and
 * no threads here, so the unit test drives it directly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/err.h"
#include "common/histo.h"
#include "resolver/health.h"

static const char *const action_names[HEALTH_A_N] = {
	[HEALTH_A_RESTART_WORKER] = "restart_worker",
	[HEALTH_A_REOPEN_SNAPSHOT] = "reopen_snapshot",
	[HEALTH_A_RESTART_TIERS] = "restart_tiers",
	[HEALTH_A_EXIT] = "exit",
};
static const char *const class_names[HEALTH_CLASS_N] = {
	[HEALTH_FAULT] = "fault", [HEALTH_DATA] = "data", [HEALTH_UPSTREAM] = "upstream",
};

const char *health_action_str(enum health_action a)
{
	return a < HEALTH_A_N ? action_names[a] : "?";
}

const char *health_class_str(enum health_class c)
{
	return c < HEALTH_CLASS_N ? class_names[c] : "?";
}

void health_table_init(struct health_table *t, unsigned rise, unsigned fall)
{
	memset(t, 0, sizeof(*t));
	t->rise = rise ? rise : 1;
	t->fall = fall ? fall : 1;
}

void health_table_deinit(struct health_table *t)
{
	if (!t)
		return;
	free(t->v);
	t->v = NULL;
	t->n = t->cap = 0;
}

void health_table_round_begin(struct health_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		t->v[i].seen = false;
}

static struct health_check *health_table_find(struct health_table *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i].name, name) == 0)
			return &t->v[i];
	return NULL;
}

int health_table_report(struct health_table *t, const char *name, bool ok,
			enum health_class cls, const char *err, double dur_s, int worker,
			double now)
{
	struct health_check *c = health_table_find(t, name);

	if (!c) {
		if (t->n == t->cap) {
			size_t cap = t->cap ? t->cap * 2 : 16;
			struct health_check *v = realloc(t->v, cap * sizeof(*v));
			if (!v)
				return GN_ENOMEM;
			t->v = v;
			t->cap = cap;
		}
		c = &t->v[t->n++];
		memset(c, 0, sizeof(*c));
		snprintf(c->name, sizeof(c->name), "%s", name);
	}
	c->seen = true;
	c->dur_s = dur_s;
	if (!ok) {
		/* Keep the newest reason even before the check falls: the
		 * operator sees why it is about to. */
		c->cls = cls;
		c->worker = worker;
		snprintf(c->err, sizeof(c->err), "%s", err ? err : "failed");
	}
	if (!c->known) {
		/* No history: believe the first result rather than wait
		 * rise/fall rounds with an unknown state. */
		c->known = true;
		c->up = ok;
		c->streak = 0;
		c->since = now;
	} else if (ok == c->up) {
		c->streak = 0;
	} else if (++c->streak >= (ok ? t->rise : t->fall)) {
		c->up = ok;
		c->streak = 0;
		c->since = now;
	}
	if (c->up && ok)
		c->err[0] = '\0';
	return 0;
}

void health_table_force_down(struct health_table *t, const char *name, double now)
{
	struct health_check *c = health_table_find(t, name);
	if (!c || !c->up)
		return;
	c->up = false;
	c->streak = 0;
	c->since = now;
}

bool health_table_touch(struct health_table *t, const char *name)
{
	struct health_check *c = health_table_find(t, name);
	if (c)
		c->seen = true;
	return c != NULL;
}

void health_table_round_end(struct health_table *t)
{
	size_t j = 0;

	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].seen)
			t->v[j++] = t->v[i];
	t->n = j;
	t->round_done = true;
}

void health_table_drop(struct health_table *t, const char *name)
{
	struct health_check *c = health_table_find(t, name);
	if (!c)
		return;
	*c = t->v[t->n - 1];
	t->n--;
}

bool health_table_healthy(const struct health_table *t)
{
	if (!t->round_done)
		return false;
	for (size_t i = 0; i < t->n; i++)
		if (!t->v[i].up)
			return false;
	return true;
}

bool health_table_down_class(const struct health_table *t, enum health_class cls)
{
	for (size_t i = 0; i < t->n; i++)
		if (!t->v[i].up && t->v[i].cls == cls)
			return true;
	return false;
}

void health_table_summary(const struct health_table *t, char *buf, size_t cap)
{
	size_t down = 0, off;
	int n;

	if (!t->round_done) {
		snprintf(buf, cap, "starting: first canary round not finished");
		return;
	}
	for (size_t i = 0; i < t->n; i++)
		down += !t->v[i].up;
	if (!down) {
		snprintf(buf, cap, "healthy: %zu checks passing", t->n);
		return;
	}
	n = snprintf(buf, cap, "unhealthy: %zu of %zu checks failing", down, t->n);
	off = n < 0 ? 0 : (size_t)n;
	for (size_t i = 0; i < t->n && off < cap; i++) {
		if (t->v[i].up)
			continue;
		n = snprintf(buf + off, cap - off, "; %s: %s", t->v[i].name, t->v[i].err);
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

/* JSON string escaping (RFC 8259 section 7): quotes, backslash, controls. */
static void json_str(struct strbuf *out, const char *s)
{
	strbuf_add(out, "\"", 1);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			strbuf_printf(out, "\\%c", ch);
		else if (ch < 0x20)
			strbuf_printf(out, "\\u%04x", ch);
		else
			strbuf_add(out, s, 1);
	}
	strbuf_add(out, "\"", 1);
}

void health_table_json(const struct health_table *t, struct strbuf *out)
{
	bool healthy = health_table_healthy(t);
	bool first = true;

	strbuf_printf(out, "{\"healthy\":%s,\"status\":\"%s\",\"checks\":%zu,"
		      "\"heal_attempts\":%u,\"failing\":[",
		      healthy ? "true" : "false",
		      healthy ? "healthy" : t->round_done ? "unhealthy" : "starting", t->n,
		      t->heal_attempts);
	for (size_t i = 0; i < t->n; i++) {
		const struct health_check *c = &t->v[i];
		if (c->up)
			continue;
		if (!first)
			strbuf_add(out, ",", 1);
		first = false;
		strbuf_printf(out, "{\"check\":");
		json_str(out, c->name);
		strbuf_printf(out, ",\"class\":\"%s\",\"error\":", health_class_str(c->cls));
		json_str(out, c->err);
		strbuf_printf(out, ",\"since\":%.0f}", c->since);
	}
	strbuf_add(out, "]}\n", 3);
}

void health_table_metrics(const struct health_table *t, struct strbuf *out)
{
	strbuf_printf(out, "# HELP gridns_healthy 1 when every self-check passes (/health answers 200), else 0.\n"
		      "# TYPE gridns_healthy gauge\ngridns_healthy %d\n",
		      health_table_healthy(t) ? 1 : 0);
	strbuf_printf(out, "# HELP gridns_health_check_up State of each self-check after rise/fall: 1 passing, 0 failing.\n"
		      "# TYPE gridns_health_check_up gauge\n");
	for (size_t i = 0; i < t->n; i++) {
		strbuf_printf(out, "gridns_health_check_up{check=\"");
		histo_escape_label(out, t->v[i].name);
		strbuf_printf(out, "\"} %d\n", t->v[i].up ? 1 : 0);
	}
	strbuf_printf(out, "# HELP gridns_health_check_duration_seconds How long the last run of each self-check took.\n"
		      "# TYPE gridns_health_check_duration_seconds gauge\n");
	for (size_t i = 0; i < t->n; i++) {
		strbuf_printf(out, "gridns_health_check_duration_seconds{check=\"");
		histo_escape_label(out, t->v[i].name);
		strbuf_printf(out, "\"} %.6f\n", t->v[i].dur_s);
	}
	strbuf_printf(out, "# HELP gridns_heal_actions_total Healing actions taken by the self-check, by action.\n"
		      "# TYPE gridns_heal_actions_total counter\n");
	for (int a = 0; a < HEALTH_A_N; a++)
		strbuf_printf(out, "gridns_heal_actions_total{action=\"%s\"} %llu\n",
			      action_names[a], (unsigned long long)t->heal[a]);
}

/* ---- verdicts ----------------------------------------------------------- */

static const char *rcode_str(int rc)
{
	static const char *const n[] = { "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
					 "NOTIMP", "REFUSED" };
	return rc >= 0 && rc < 6 ? n[rc] : "an unexpected rcode";
}

/* No usable answer at all: the resolver itself failed the query. */
static bool judge_transport(const struct health_answer *a, enum health_class *cls, char *why,
			    size_t cap)
{
	if (a->err == 0 && (a->rcode == 0 || a->rcode == 3))
		return true;
	*cls = HEALTH_FAULT;
	if (a->err == GN_ERANGE) {
		/* Our own limit, not the resolver's fault: never restart for it. */
		*cls = HEALTH_DATA;
		snprintf(why, cap, "cannot build the query: name too long");
	} else if (a->err == GN_EBUSY)
		snprintf(why, cap, "no answer (timeout)");
	else if (a->err == GN_EINVAL)
		snprintf(why, cap, "malformed answer");
	else if (a->err)
		snprintf(why, cap, "cannot ask: %s", gn_strerror(a->err));
	else
		snprintf(why, cap, "answered %s", rcode_str(a->rcode));
	return false;
}

bool health_judge_dnsbl(const struct health_answer *a, bool want_listed, const char *point,
			enum health_class *cls, char *why, size_t cap)
{
	bool listed;

	if (!judge_transport(a, cls, why, cap)) {
		size_t n = strlen(why);
		snprintf(why + n, cap > n ? cap - n : 0, " for %s", point);
		return false;
	}
	listed = a->rcode == 0 && a->n_a127 > 0;
	if (listed == want_listed)
		return true;
	*cls = HEALTH_DATA;
	if (want_listed)
		snprintf(why, cap, "%s is not listed (%s%s): the zone lacks its RFC 5782 test entry",
			 point, rcode_str(a->rcode),
			 a->rcode == 0 && a->n_answer ? ", no A in 127/8" : "");
	else
		snprintf(why, cap, "%s is listed: the zone is listing the world", point);
	return false;
}

bool health_judge_name(const struct health_answer *a, enum health_class *cls, char *why,
		       size_t cap)
{
	if (!judge_transport(a, cls, why, cap))
		return false;
	if (a->rcode == 0 && a->n_answer > 0)
		return true;
	*cls = HEALTH_DATA;
	snprintf(why, cap, "answered %s without data", rcode_str(a->rcode));
	return false;
}

bool health_judge_tier(const struct health_answer *a, enum health_class *cls, char *why,
		       size_t cap)
{
	if (judge_transport(a, cls, why, cap))
		return true;
	/* SERVFAIL here means every tier failed (or none is configured);
	 * REFUSED means our own recursion.allow turned the canary away. */
	*cls = HEALTH_UPSTREAM;
	if (a->err == 0 && a->rcode == 5)
		snprintf(why, cap, "REFUSED: no tiers configured, or the listen address is not "
			 "in recursion.allow");
	else if (a->err == 0 && a->rcode == 2)
		snprintf(why, cap, "SERVFAIL: no tier answered");
	return false;
}
