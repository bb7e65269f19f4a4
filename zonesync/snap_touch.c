/* zonesync/snap_touch.c - rewrite only a zone's record: its load time and
 * expiry (snap.h, snap_touch_zone).
 *
 * A follower whose refresh finds the primary at the serial it holds must
 * still push the zone's expiry forward (RFC 1996/1034: a successful refresh
 * resets the expire timer; CoreDNS expired zones because it did not,
 * users.md section 4).  Rewriting the whole zone for that would churn pages
 * and dsids for nothing, so this patches the three fields in place, in one
 * small write transaction, and leaves the datasets untouched.  The offsets
 * come from snap_zrec_decode, so the layout stays in snap_format.h.
 */
#include <stdlib.h>
#include <string.h>
#include "common/err.h"
#include "common/log.h"
#include "zonesync/snap_int.h"

int snap_touch_zone(snap_env *e, const char *zone_name, uint32_t serial, int64_t loaded,
		    int64_t ts_expires)
{
	uint8_t key[DNAME_MAX], *copy = NULL;
	int kl = dname_text_to_key(zone_name, strlen(zone_name), key);
	MDB_txn *txn = NULL;
	MDB_val k, v;
	struct snap_zone z;
	size_t off;
	int ret = 0, rc;

	if (kl < 0 || (e->flags & SNAP_RDONLY))
		return GN_EINVAL;
	k.mv_size = (size_t)kl;
	k.mv_data = key;
	if ((rc = mdb_txn_begin(e->env, NULL, 0, &txn)) != 0)
		return snap_err(e, rc, "begin write");
	if ((rc = mdb_get(txn, e->dbi[DB_ZONES], &k, &v)) != 0) {
		ret = rc == MDB_NOTFOUND ? GN_ENOENT : snap_err(e, rc, zone_name);
		goto out;
	}
	if ((ret = snap_zrec_decode(key, (size_t)kl, v.mv_data, v.mv_size, &z)) < 0)
		goto out;
	if (z.serial != serial) {
		/* someone wrote a new version since the caller looked */
		ret = GN_EBUSY;
		goto out;
	}
	/* the name's length octet is preceded by loaded, ts_generated,
	 * ts_expires and src_mtime (8 octets each) */
	off = (size_t)((const uint8_t *)z.name - (const uint8_t *)v.mv_data) - 1 - 32;
	if (!(copy = malloc(v.mv_size))) {
		ret = GN_ENOMEM;
		goto out;
	}
	memcpy(copy, v.mv_data, v.mv_size);
	snap_be64(copy + off, (uint64_t)loaded);
	snap_be64(copy + off + 16, (uint64_t)ts_expires);
	v.mv_data = copy;
	if ((rc = mdb_put(txn, e->dbi[DB_ZONES], &k, &v, 0)) != 0) {
		ret = snap_err(e, rc, zone_name);
		goto out;
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc)
		ret = snap_err(e, rc, "commit");
out:
	if (txn)
		mdb_txn_abort(txn);
	free(copy);
	return ret;
}
