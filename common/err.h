/* common/err.h - one error space for all of gridns.
 *
 * Functions return 0 on success and a negative code on failure.  Codes from
 * libraries (errno, MDB_*, ldns_status) are translated at the edge of the
 * module that calls the library, so callers never juggle foreign codes.
 * Small positive values are reserved for "found/not found" style returns,
 * documented per function.
 */
#pragma once

enum {
	GN_OK = 0,
	GN_ENOMEM = -1000,   /* allocation failed */
	GN_EINVAL,           /* bad argument or malformed input */
	GN_EIO,              /* read/write/syscall failure (see errno in log) */
	GN_ENOENT,           /* no such zone, file or key */
	GN_EEXIST,           /* already exists */
	GN_ERANGE,           /* value out of range, buffer too small */
	GN_EFORMAT,          /* snapshot/database format version not understood */
	GN_ECORRUPT,         /* stored data fails validation */
	GN_EMAPFULL,         /* LMDB map full: snapshot needs a larger map size */
	GN_EREADERS,         /* LMDB reader table full */
	GN_EPARSE,           /* source file had errors (strict mode) */
	GN_ESTALE,           /* data expired or too old to be served */
	GN_EBUSY,            /* resource busy, try later */
	GN_ELIMIT,           /* a configured limit was hit */
};

/* Human-readable text for a gridns error code (or -errno). Never NULL. */
const char *gn_strerror(int code);
