/* tools/thttp.h - a tiny HTTP/1.0 GET client for scraping /metrics.
 *
 * Why not libcurl: it is not installed on the build hosts, and a scrape
 * needs one GET over plain HTTP with a deadline.  HTTP/1.0 means the
 * server closes the connection after the body and sends no chunked
 * encoding, so the client reads to EOF.  No TLS, no redirects, no proxy.
 */
#pragma once
#include <stddef.h>

#define THTTP_BODY_MAX (32u << 20)

/* Fetch url ("http://HOST[:PORT][/PATH]", HOST may be [v6]); default path
 * "/metrics".  On success *body (caller frees) holds *len octets plus a
 * NUL.  Returns 0, or a negative gridns code with a one-line reason in
 * err (connection refused, timeout, HTTP status, too big...). */
int thttp_get(const char *url, int timeout_ms, char **body, size_t *len, char *err,
	      size_t errcap);

/* Split url into host, port and path (exposed for the unit tests).
 * Returns 0 or GN_EINVAL. */
int thttp_split(const char *url, char *host, size_t hcap, char *port, size_t pcap, char *path,
		size_t pathcap);
