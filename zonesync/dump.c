/* zonesync/dump.c - zones and records -> master-file text (see dump.h).
 *
 * The records come from xform_emit, the one generator of the transfer form,
 * so `dump` shows exactly what a zone transfer carries. */
#include <ldns/ldns.h>
#include <string.h>
#include "common/err.h"
#include "common/log.h"
#include "zonesync/dump.h"

static void dump_hex_rdata(FILE *out, const struct xform_rr *rr)
{
	fprintf(out, "\\# %u", rr->rdlen);
	if (rr->rdlen)
		fputc(' ', out);
	for (uint16_t i = 0; i < rr->rdlen; i++)
		fprintf(out, "%02x", rr->rdata[i]);
}

int dump_rr(FILE *out, const char *prefix, const struct xform_rr *rr)
{
	uint8_t *wire = NULL;
	char owner[DNAME_TEXT_MAX + 2], *t;
	ldns_rr *lr = NULL;
	size_t pos = 0;
	int ret = 0;

	if (dname_to_text(rr->owner, owner, sizeof(owner) - 1) < 0)
		return GN_EINVAL;
	if (strcmp(owner, ".") != 0)
		strcat(owner, ".");
	t = ldns_rr_type2str(rr->type);
	fprintf(out, "%s%s\t%u\tIN\t%s\t", prefix, owner, rr->ttl, t ? t : "?");
	free(t);
	/* Root owner + type/class/ttl/rdlen + rdata: ldns parses the rdata by
	 * type and prints each field in its presentation form. */
	if (!(wire = malloc(11u + rr->rdlen))) {
		ret = GN_ENOMEM;
		goto out;
	}
	wire[0] = 0;
	wire[1] = (uint8_t)(rr->type >> 8); wire[2] = (uint8_t)rr->type;
	wire[3] = 0; wire[4] = 1;
	wire[5] = (uint8_t)(rr->ttl >> 24); wire[6] = (uint8_t)(rr->ttl >> 16);
	wire[7] = (uint8_t)(rr->ttl >> 8); wire[8] = (uint8_t)rr->ttl;
	wire[9] = (uint8_t)(rr->rdlen >> 8); wire[10] = (uint8_t)rr->rdlen;
	if (rr->rdlen)
		memcpy(wire + 11, rr->rdata, rr->rdlen);
	if (rr->type == XFORM_TYPE_EXCL || rr->rdlen == 0 ||
	    ldns_wire2rr(&lr, wire, 11u + rr->rdlen, &pos, LDNS_SECTION_ANSWER) != LDNS_STATUS_OK ||
	    ldns_rr_rd_count(lr) == 0) {
		dump_hex_rdata(out, rr);
	} else {
		for (size_t k = 0; k < ldns_rr_rd_count(lr); k++) {
			char *s = ldns_rdf2str(ldns_rr_rdf(lr, k));
			fprintf(out, "%s%s", k ? " " : "", s ? s : "?");
			free(s);
		}
	}
	fputc('\n', out);
out:
	ldns_rr_free(lr);
	free(wire);
	return ret;
}

struct dctx {
	FILE *out;
	const struct zimg *img;
	int32_t next_ds; /* first dataset whose "; dataset" comment is not out yet */
};

static void dump_ds_comments(struct dctx *d, int32_t upto)
{
	for (; d->next_ds <= upto && d->next_ds < (int32_t)d->img->n_ds; d->next_ds++) {
		const struct zimg_ds *ds = d->img->ds[d->next_ds];
		fprintf(d->out, "; dataset %s %s\n", zimg_dstype_name(ds->type),
			ds->label ? ds->label : "");
	}
}

static int dump_one(void *arg, const struct xform_rr *rr)
{
	struct dctx *d = arg;
	if (rr->ds >= 0)
		dump_ds_comments(d, rr->ds);
	return dump_rr(d->out, "", rr);
}

int dump_image(const struct zimg *img, FILE *out)
{
	struct dctx d = { .out = out, .img = img };
	int r;

	fprintf(out, "; zone %s. serial %u, %u dataset(s), from %s\n", img->name, img->soa.serial,
		img->n_ds, img->source ? img->source : "");
	fprintf(out, "$ORIGIN %s.\n", img->name);
	if (!img->soa.present)
		fprintf(out, "; no $SOA in the source: not a complete zone for other servers\n");
	if ((r = xform_emit(img, dump_one, &d)) != 0)
		return r;
	dump_ds_comments(&d, (int32_t)img->n_ds - 1);
	return 0;
}

int dump_zone(snap_rd *rd, const char *name, FILE *out)
{
	struct zimg *img = NULL;
	int r = snap_load_zone(rd, name, &img);

	if (r == GN_EINVAL)
		log_err("dump: '%s' is not a valid zone name", name);
	if (r < 0)
		return r;
	r = dump_image(img, out);
	zimg_free(img);
	return r;
}
