/* zonesync/compile_master.c - RFC 1035 master files ("zone" type), via ldns.
 *
 * $ORIGIN starts as the zone name; $TTL and $ORIGIN lines work as in any
 * master file ($INCLUDE is refused: a zone must be one reviewable file set).
 * The apex SOA and apex NS records fill the image's soa/ns fields (first SOA
 * wins, as with rbldnsd's $SOA); every other record, delegations included,
 * goes into one ZDS_ZONE dataset with owners relative to the apex.  A record
 * outside the zone is a bad line (file:line).  "*" labels are kept: the
 * resolver applies RFC 4592. */
#include <errno.h>
#include <ldns/ldns.h>
#include <string.h>
#include <sys/stat.h>
#include "common/err.h"
#include "common/log.h"
#include "zonesync/compile_int.h"

static struct zimg_ds *cz_zone_ds(struct cz_ctx *c)
{
	for (uint32_t i = 0; i < c->img->n_ds; i++)
		if (c->img->ds[i]->type == ZDS_ZONE)
			return c->img->ds[i];
	return NULL;
}

/* One parsed record into the image.  Returns 0, GN_EPARSE (strict) or a
 * hard error. */
static int cz_master_rr(struct cz_ctx *c, struct zimg_ds *ds, const ldns_rdf *apex, ldns_rr *rr)
{
	struct zimg *img = c->img;
	const ldns_rdf *owner = ldns_rr_owner(rr);
	uint8_t okey[DNAME_MAX];
	bool at_apex = ldns_dname_compare(owner, apex) == 0;
	ldns_rr_type t = ldns_rr_get_type(rr);
	ldns_buffer *buf = NULL;
	int ret = 0;

	if (!at_apex && !ldns_dname_is_subdomain(owner, apex)) {
		char *o = ldns_rdf2str(owner);
		ret = cz_bad(c, "owner %s is outside zone %s", o ? o : "?", img->name);
		free(o);
		return ret;
	}
	if (ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN)
		return cz_bad(c, "only class IN is served");
	if (at_apex && t == LDNS_RR_TYPE_SOA) {
		if (img->soa.present)
			return 0;
		if (ldns_rr_rd_count(rr) != 7)
			return cz_bad(c, "malformed SOA");
		ldns_rdf *m = ldns_rr_rdf(rr, 0), *r = ldns_rr_rdf(rr, 1);
		if (ldns_rdf_size(m) > DNAME_MAX || ldns_rdf_size(r) > DNAME_MAX)
			return cz_bad(c, "malformed SOA");
		memcpy(img->soa.mname, ldns_rdf_data(m), ldns_rdf_size(m));
		memcpy(img->soa.rname, ldns_rdf_data(r), ldns_rdf_size(r));
		img->soa.serial = ldns_rdf2native_int32(ldns_rr_rdf(rr, 2));
		img->soa.refresh = ldns_rdf2native_int32(ldns_rr_rdf(rr, 3));
		img->soa.retry = ldns_rdf2native_int32(ldns_rr_rdf(rr, 4));
		img->soa.expire = ldns_rdf2native_int32(ldns_rr_rdf(rr, 5));
		img->soa.minimum = ldns_rdf2native_int32(ldns_rr_rdf(rr, 6));
		img->soa.ttl = ldns_rr_ttl(rr);
		img->soa.present = true;
		return 0;
	}
	if (at_apex && t == LDNS_RR_TYPE_NS) {
		ldns_rdf *ns = ldns_rr_rdf(rr, 0);
		if (c->ns_done)
			return 0; /* an earlier spec's $NS or master file won */
		if (!ns || ldns_rdf_size(ns) > DNAME_MAX)
			return cz_bad(c, "malformed NS");
		if (img->n_ns < ZIMG_MAX_NS) {
			memcpy(img->ns[img->n_ns++], ldns_rdf_data(ns), ldns_rdf_size(ns));
			if (!img->ns_ttl || ldns_rr_ttl(rr) < img->ns_ttl)
				img->ns_ttl = ldns_rr_ttl(rr);
		}
		return 0;
	}
	if (ldns_rdf_size(owner) > DNAME_MAX)
		return cz_bad(c, "owner name too long");
	int kl = dname_wire_to_key(ldns_rdf_data(owner), okey);
	if (kl < img->keylen)
		return cz_bad(c, "owner is outside the zone");
	buf = ldns_buffer_new(512);
	if (!buf)
		return GN_ENOMEM;
	if (ldns_rr_rdata2buffer_wire(buf, rr) != LDNS_STATUS_OK || ldns_buffer_position(buf) > 65535) {
		ret = cz_bad(c, "cannot encode the record's data");
		goto out;
	}
	ret = zimg_ds_add_rr(ds, okey + img->keylen, (size_t)kl - img->keylen, (uint16_t)t,
			     ldns_rr_ttl(rr), ldns_buffer_begin(buf),
			     (uint16_t)ldns_buffer_position(buf));
	if (ret == 0)
		ds->n_source_entries++;
out:
	ldns_buffer_free(buf);
	return ret;
}

int cz_master_file(struct cz_ctx *c, const char *path)
{
	struct zimg *img = c->img;
	struct zimg_ds *ds = cz_zone_ds(c);
	ldns_rdf *origin = NULL, *prev = NULL, *apex = NULL;
	uint32_t ttl = c->default_ttl;
	int line = 0, ret = 0;
	struct stat st;
	FILE *f;

	f = fopen(path, "r");
	if (!f) {
		ret = errno == ENOENT ? GN_ENOENT : GN_EIO;
		log_err("%s: cannot open (%s); zone %s not compiled", path, strerror(errno), img->name);
		return ret;
	}
	if (fstat(fileno(f), &st) == 0 && (int64_t)st.st_mtime > img->src_mtime)
		img->src_mtime = (int64_t)st.st_mtime;
	if (!ds) {
		char label[1100];
		snprintf(label, sizeof(label), "zone:%s", path);
		if ((ret = zimg_add_ds(img, ZDS_ZONE, label, &ds)) < 0)
			goto out;
		ds->ttl = c->default_ttl;
	}
	if (ldns_str2rdf_dname(&apex, img->name) != LDNS_STATUS_OK || !(origin = ldns_rdf_clone(apex))) {
		log_err("zone %s: name not usable as $ORIGIN", img->name);
		ret = GN_EINVAL;
		goto out;
	}
	c->file = path;
	while (!feof(f)) {
		ldns_rr *rr = NULL;
		int before = line;
		ldns_status s = ldns_rr_new_frm_fp_l(&rr, f, &ttl, &origin, &prev, &line);
		c->line = (size_t)(line > before ? line : before + 1);
		if (s == LDNS_STATUS_SYNTAX_EMPTY || s == LDNS_STATUS_SYNTAX_TTL ||
		    s == LDNS_STATUS_SYNTAX_ORIGIN) {
			continue;
		}
		if (s == LDNS_STATUS_SYNTAX_INCLUDE) {
			ret = cz_bad(c, "$INCLUDE is not supported; list the files in the spec");
		} else if (s != LDNS_STATUS_OK) {
			if (feof(f) && s == LDNS_STATUS_SYNTAX_ERR)
				break; /* ldns reports the end of a file with a trailing comment so */
			ret = cz_bad(c, "%s", ldns_get_errorstr_by_id(s));
		} else {
			ret = cz_master_rr(c, ds, apex, rr);
		}
		ldns_rr_free(rr);
		if (ret < 0)
			break;
	}
	/* This file's apex SOA/NS now win over later specs, like a $SOA would. */
	if (img->soa.present)
		c->soa_done = true;
	if (img->n_ns)
		c->ns_done = true;
out:
	ldns_rdf_deep_free(origin);
	ldns_rdf_deep_free(prev);
	ldns_rdf_deep_free(apex);
	fclose(f);
	return ret;
}
