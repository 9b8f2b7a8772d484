/*
 * storetest.c - the helpers of storetest.h.  Plain malloc, bounded
 * output buffers, recursion only over the test's own small trees.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/tree.h"
#include "tests/support/storetest.h"

const struct store_caller st_dom0 = {
    .domid = 0, .target = PERM_NO_TARGET, .is_privileged = true};

bool st_sane(const struct store *s)
{
	char why[256] = "";
	int err = store_check(s, why, sizeof(why));

	if (err)
		printf("  store_check: %d: %s\n", err, why);
	return err == 0;
}

/* ---- a growing string ---- */

struct sbuf {
	char *s;
	size_t len, cap;
	bool is_oom;
};

static void sb_add(struct sbuf *b, const char *p, size_t n)
{
	if (b->is_oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *s;

		while (cap < b->len + n + 1)
			cap *= 2;
		s = realloc(b->s, cap);
		if (!s) {
			b->is_oom = true;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *p)
{
	sb_add(b, p, strlen(p));
}

/* ---- formatting ---- */

/* Wire permissions ("n0\0r5\0") of `len` bytes as "n0,r5". */
static void wire_perms_str(const char *w, size_t len, char *out, size_t outsz)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 1 < outsz; i++) {
		if (w[i] != '\0')
			out[o++] = w[i];
		else if (i + 1 < len)
			out[o++] = ',';
	}
	out[o] = '\0';
}

uint64_t st_rand(uint64_t *x)
{
	/* xorshift64*: good enough for choosing steps. */
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 2685821657736338717ull;
}

int st_buf_write(void *arg, const void *data, size_t len)
{
	struct st_buf *b = arg;

	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		unsigned char *np;

		while (cap < b->len + len)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np)
			return -ENOMEM;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

void st_nperms_str(const struct nperms *p, char *out, size_t outsz)
{
	char w[256];
	size_t len;

	if (!p) {
		snprintf(out, outsz, "-");
		return;
	}
	len = perm_format(p->e, p->n, w, sizeof(w));
	if (len > sizeof(w))
		len = sizeof(w);
	wire_perms_str(w, len, out, outsz);
}

static const struct store_caller *who(const struct store_caller *c)
{
	return c ? c : &st_dom0;
}

int st_dir(struct store *s, struct txn *t, const struct store_caller *c,
           const char *path, char *out, size_t outsz)
{
	char *buf = malloc(65536);
	size_t len = 0, o = 0;
	int err;

	out[0] = '\0';
	if (!buf)
		return -ENOMEM;
	err = store_directory(s, t, who(c), path, buf, 65536, &len, NULL);
	for (size_t i = 0; !err && i < len && o + 1 < outsz; i++)
		out[o++] = buf[i] ? buf[i] : ' ';
	/* Drop the separator after the last name. */
	if (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
	free(buf);
	return err;
}

int st_read(struct store *s, struct txn *t, const struct store_caller *c,
            const char *path, char *out, size_t outsz)
{
	const char *v;
	size_t len;
	int err = store_read(s, t, who(c), path, &v, &len);

	out[0] = '\0';
	if (!err)
		snprintf(out, outsz, "%s", v);
	return err;
}

int st_perms(struct store *s, struct txn *t, const struct store_caller *c,
             const char *path, char *out, size_t outsz)
{
	char w[512];
	size_t len = 0;
	int err = store_get_perms(s, t, who(c), path, w, sizeof(w), &len);

	out[0] = '\0';
	if (!err)
		wire_perms_str(w, len, out, outsz);
	return err;
}

/* ---- the dump ---- */

static int dump_node(struct store *s, const char *path, bool with_gen,
                     struct sbuf *b)
{
	const char *v;
	size_t vlen, dlen, plen = strlen(path);
	uint64_t gen;
	char perms[512], line[64];
	char *kids;
	int err;

	err = store_read(s, NULL, &st_dom0, path, &v, &vlen);
	if (err)
		return err;
	sb_str(b, path);
	sb_add(b, "=", 1);
	for (size_t i = 0; i < vlen; i++) {
		unsigned char ch = (unsigned char)v[i];

		if (ch >= 0x20 && ch < 0x7f && ch != '\\') {
			sb_add(b, v + i, 1);
		} else {
			snprintf(line, sizeof(line), "\\x%02x", ch);
			sb_str(b, line);
		}
	}
	err = st_perms(s, NULL, NULL, path, perms, sizeof(perms));
	if (err)
		return err;
	kids = malloc(65536);
	if (!kids)
		return -ENOMEM;
	err =
	    store_directory(s, NULL, &st_dom0, path, kids, 65536, &dlen, &gen);
	if (!err) {
		sb_add(b, " ", 1);
		sb_str(b, perms);
		if (with_gen) {
			snprintf(line, sizeof(line), " %" PRIu64, gen);
			sb_str(b, line);
		}
		sb_add(b, "\n", 1);
	}
	for (size_t i = 0; !err && i < dlen; i += strlen(kids + i) + 1) {
		size_t klen = strlen(kids + i);
		char *kp = malloc(plen + klen + 2);

		if (!kp) {
			err = -ENOMEM;
			break;
		}
		snprintf(kp, plen + klen + 2, "%s%s%s", path,
		         plen > 1 ? "/" : "", kids + i);
		err = dump_node(s, kp, with_gen, b);
		free(kp);
	}
	free(kids);
	return err;
}

char *st_dump(struct store *s, bool with_gen)
{
	struct sbuf b = {NULL, 0, 0, false};
	int err = dump_node(s, "/", with_gen, &b);

	if (err || b.is_oom) {
		printf("  st_dump failed: %d\n", err);
		free(b.s);
		return NULL;
	}
	return b.s;
}

/* ---- events ---- */

void st_event_cb(void *opaque, const struct store_event *ev)
{
	struct st_events *e = opaque;
	struct st_event *r;

	if (e->n == ST_EVENTS_MAX) {
		e->dropped++;
		return;
	}
	r = &e->ev[e->n++];
	snprintf(r->path, sizeof(r->path), "%s", ev->path);
	r->is_exact = ev->is_exact;
	r->is_removal = ev->is_removal;
	st_nperms_str(ev->perms, r->perms, sizeof(r->perms));
	st_nperms_str(ev->old_perms, r->old_perms, sizeof(r->old_perms));
}

void st_events_clear(struct st_events *e)
{
	e->n = 0;
	e->dropped = 0;
}

const char *st_events_str(const struct st_events *e, char *out, size_t outsz)
{
	size_t o = 0;

	out[0] = '\0';
	for (unsigned int i = 0; i < e->n && o < outsz; i++) {
		const struct st_event *r = &e->ev[i];
		int n = snprintf(out + o, outsz - o, "%s%s%s:%s", i ? " " : "",
		                 r->is_removal ? "rm" : "ch",
		                 r->is_exact ? "x" : "", r->path);

		if (n < 0)
			break;
		o += (size_t)n;
	}
	if (e->dropped && o < outsz)
		snprintf(out + o, outsz - o, " +%u more", e->dropped);
	return out;
}
