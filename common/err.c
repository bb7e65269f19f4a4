/* common/err.c - error code texts. */
#include <string.h>
#include "common/err.h"

const char *gn_strerror(int code)
{
	switch (code) {
	case GN_OK:       return "success";
	case GN_ENOMEM:   return "out of memory";
	case GN_EINVAL:   return "invalid argument or input";
	case GN_EIO:      return "I/O error";
	case GN_ENOENT:   return "not found";
	case GN_EEXIST:   return "already exists";
	case GN_ERANGE:   return "value out of range";
	case GN_EFORMAT:  return "unsupported snapshot format version";
	case GN_ECORRUPT: return "stored data is corrupt";
	case GN_EMAPFULL: return "snapshot map is full (raise map-size)";
	case GN_EREADERS: return "snapshot reader table is full";
	case GN_EPARSE:   return "source has errors";
	case GN_ESTALE:   return "data is expired";
	case GN_EBUSY:    return "busy";
	case GN_ELIMIT:   return "limit reached";
	}
	if (code < 0 && code > -4096)
		return strerror(-code);
	return "unknown error";
}
