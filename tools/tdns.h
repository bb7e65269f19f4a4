/* tools/tdns.h - a small pipelined DNS client for the operator tools.
 *
 * Many queries in flight over ONE connected UDP socket, matched by ID and
 * question, with a per-try timeout and bounded retries.  Written for the
 * tools (query, check, blcheck), never for a hot path: it allocates an ID
 * table per run and is single-threaded.  Why not ldns: ldns' resolver sends
 * one query at a time and allocates a packet per answer; blcheck wants
 * thousands in flight, and all the tools need is A/TXT out of the answer
 * section, which a 150-line parser does with no allocation.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "common/addr.h"
#include "common/dname.h"

#define TDNS_TYPE_A   1
#define TDNS_TYPE_TXT 16
#define TDNS_MAX_A    16   /* A values kept per answer (more are counted) */
#define TDNS_TXT_MAX  512  /* TXT text kept (strings joined by " | ") */

/* What became of one query. */
enum tdns_status {
	TDNS_PENDING = 0, /* not finished (internal) */
	TDNS_ANSWERED,    /* a reply matched; see rcode and the answer fields */
	TDNS_TIMEOUT,     /* no reply after every try */
	TDNS_BADREPLY,    /* replies came but none could be parsed */
};

/* One question and its outcome.  The caller fills qname (text) and qtype,
 * tdns_run() fills the rest. */
struct tdns_query {
	char qname[DNAME_TEXT_MAX]; /* e.g. "2.0.0.127.bl.example" */
	uint16_t qtype;             /* TDNS_TYPE_A or TDNS_TYPE_TXT */
	enum tdns_status status;
	int rcode;                  /* RFC 1035 RCODE of the reply */
	int tc;                     /* reply had TC set */
	uint32_t a[TDNS_MAX_A];     /* A values, host byte order */
	int n_a;                    /* A records in the answer (may exceed TDNS_MAX_A) */
	int n_answer;               /* answer-section records of any type */
	char txt[TDNS_TXT_MAX];     /* TXT strings, NUL-terminated, "" if none */
	double rtt_ms;              /* time from the last send to the reply */
	int tries;                  /* sends made */
	/* internal */
	uint8_t wire[DNAME_MAX];
	int wlen;
	int64_t sent_ns;
	uint16_t id;
	int nbad;    /* malformed or mismatched replies seen for our ID */
	int active;  /* slot in the in-flight table + 1, 0 when not in flight */
};

/* How to run a batch. */
struct tdns_opts {
	int timeout_ms; /* per try; 1..60000 */
	int tries;      /* sends per query; 1..10 */
	int inflight;   /* queries outstanding at once; 1..4096 */
};

/* Defaults: 1000 ms, 2 tries, 64 in flight. */
void tdns_opts_default(struct tdns_opts *o);

/* Ask `server` every query in qs[0..n).  Returns 0 when every query ended
 * (answered or timed out), GN_EINVAL for a bad qname (its index in *bad,
 * may be NULL), GN_EIO when the socket could not be used.  *refused, when
 * not NULL, is set when the kernel reported ICMP port unreachable (nothing
 * listens at server): an operator wants that in the timeout message. */
int tdns_run(const struct addr *server, struct tdns_query *qs, size_t n,
	     const struct tdns_opts *o, size_t *bad, int *refused);

/* Parse one reply for `q` (ID already matched by the caller).  Returns 0 and
 * fills q's answer fields, or GN_EINVAL if it is malformed or does not
 * repeat q's question.  Exposed for the unit tests. */
int tdns_parse_reply(struct tdns_query *q, const uint8_t *pkt, size_t len);

/* Build the query packet for q with `id` into buf.  Returns its length or
 * GN_ERANGE.  Exposed for the unit tests. */
int tdns_build_query(const struct tdns_query *q, uint16_t id, uint8_t *buf, size_t cap);

/* Milliseconds of monotonic time (for latency figures). */
int64_t tdns_now_ns(void);
