/*
 * scan.c - xenbus_scan(): the split devices the store describes, read
 * without a bus (for `xstore devices` and tests).  It only reads: no
 * watch, no transaction (a node may vanish between two reads; that
 * device is then reported as it was seen, or skipped).  The store is
 * partly guest-written, so every name and value is untrusted: a
 * malformed id skips one device, a malformed value reads as missing, and
 * only a failure that is not about one device (out of memory, the
 * connection) fails the scan.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xstore/xenbus.h"

/* Largest domain id (DOMID_FIRST_RESERVED - 1). */
#define SCAN_DOMID_MAX 0x7fefu
/*
 * Room for any path the store holds (XS_ABS_PATH_MAX and change): names
 * come from directory listings, so a joined path is a node that exists
 * and cannot be longer; a truncated one would name another node.
 */
#define SCAN_PATH_MAX 4200

struct scan {
	struct xstore *h;
	struct xenbus_devinfo *v;
	unsigned int n, cap;
};

/* A decimal in [0, max] with no sign, space or leading junk; else -1. */
static long scan_uint(const char *s, unsigned long max)
{
	unsigned long v = 0;

	if (!s || !*s || strlen(s) > 10)
		return -1;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	return v > max ? -1 : (long)v;
}

/* dir/name into buf; false (skip it) if it does not fit. */
static bool scan_join(char *buf, size_t size, const char *dir, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);

	return n > 0 && (size_t)n < size;
}

/*
 * Errors that say "this node is not (or no longer) there for us", as
 * opposed to errors about the scan itself.
 */
static bool is_skippable(int err)
{
	return err == -ENOENT || err == -EACCES || err == -EINVAL ||
	       err == -E2BIG || err == -ENAMETOOLONG;
}

/* The value at dir/name as a string, or NULL (missing or unreadable). */
static int scan_read(struct scan *s, const char *dir, const char *name,
                     char **out)
{
	char path[SCAN_PATH_MAX];
	size_t len;
	int err;

	*out = NULL;
	if (!scan_join(path, sizeof(path), dir, name))
		return 0;
	err = xstore_read(s->h, XSTORE_TXN_NONE, path, out, &len);
	if (err)
		return is_skippable(err) ? 0 : err;
	/* A value with a nul inside is not a path or a number. */
	if (strlen(*out) != len) {
		free(*out);
		*out = NULL;
	}
	return 0;
}

/* A state node's value: 0..8 as the protocol has them, else -1. */
static int scan_state(struct scan *s, const char *dir, int *state)
{
	char *v;
	int err = scan_read(s, dir, "state", &v);

	*state = -1;
	if (err)
		return err;
	if (v) {
		long st = scan_uint(v, XENBUS_STATE_RECONFIGURED);

		*state = (int)st;
		free(v);
	}
	return 0;
}

/* The children of `path`; an empty list when it is missing. */
static int scan_dir(struct scan *s, const char *path, char ***out,
                    unsigned int *n)
{
	int err = xstore_directory(s->h, XSTORE_TXN_NONE, path, out, n);

	if (err && is_skippable(err)) {
		*out = NULL;
		*n = 0;
		return 0;
	}
	return err;
}

static struct xenbus_devinfo *scan_slot(struct scan *s)
{
	if (s->n == s->cap) {
		unsigned int cap = s->cap ? s->cap * 2 : 16;
		struct xenbus_devinfo *v;

		if (cap < s->cap || cap > (1u << 24))
			return NULL;
		v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		s->v = v;
		s->cap = cap;
	}
	memset(&s->v[s->n], 0, sizeof(s->v[s->n]));
	return &s->v[s->n];
}

/*
 * One device at `node`: own state, the other end's path and id (from
 * `peer_key` and `peer_key`-id) and the other end's state.
 */
static int scan_device(struct scan *s, const char *node, const char *type,
                       unsigned int domid, unsigned int id, bool is_backend)
{
	const char *peer_key = is_backend ? "frontend" : "backend";
	struct xenbus_devinfo *d = scan_slot(s);
	char key[16], *v;
	int err;

	if (!d)
		return -ENOMEM;
	d->domid = domid;
	d->id = id;
	d->is_backend = is_backend;
	d->otherend_id = -1;
	d->otherend_state = -1;
	d->node = strdup(node);
	d->type = strdup(type);
	if (!d->node || !d->type) {
		err = -ENOMEM;
		goto fail;
	}
	err = scan_state(s, node, &d->state);
	if (err)
		goto fail;
	err = scan_read(s, node, peer_key, &d->otherend);
	if (err)
		goto fail;
	snprintf(key, sizeof(key), "%s-id", peer_key);
	err = scan_read(s, node, key, &v);
	if (err)
		goto fail;
	d->otherend_id = (int)scan_uint(v, SCAN_DOMID_MAX);
	free(v);
	/*
	 * Only an absolute path is looked at: a relative one would be read
	 * relative to our own home, which is not the other end.
	 */
	if (d->otherend && d->otherend[0] == '/') {
		err = scan_state(s, d->otherend, &d->otherend_state);
		if (err)
			goto fail;
	}
	/* A device whose node vanished meanwhile is not reported. */
	if (d->state < 0 && xstore_exists(s->h, XSTORE_TXN_NONE, node) == 0) {
		free(d->node);
		free(d->type);
		free(d->otherend);
		return 0;
	}
	s->n++;
	return 0;

fail:
	free(d->node);
	free(d->type);
	free(d->otherend);
	return err;
}

/* Frontends: <home>/device/<type>/<id>. */
static int scan_frontends(struct scan *s, unsigned int domid)
{
	char path[64], node[SCAN_PATH_MAX], **types = NULL, **ids;
	unsigned int nt = 0, ni;
	int err;

	snprintf(path, sizeof(path), "/local/domain/%u/device", domid);
	err = scan_dir(s, path, &types, &nt);
	for (unsigned int t = 0; !err && t < nt; t++) {
		if (!scan_join(node, sizeof(node), path, types[t]))
			continue;
		err = scan_dir(s, node, &ids, &ni);
		for (unsigned int i = 0; !err && i < ni; i++) {
			long id = scan_uint(ids[i], 0xffffffffu);
			char dev[SCAN_PATH_MAX];

			if (id < 0 ||
			    !scan_join(dev, sizeof(dev), node, ids[i]))
				continue;
			err = scan_device(s, dev, types[t], domid,
			                  (unsigned int)id, false);
		}
		free(ids);
	}
	free(types);
	return err;
}

/* Backends: <home>/backend/<type>/<frontend domid>/<id>. */
static int scan_backends(struct scan *s, unsigned int domid)
{
	char path[64], dir[SCAN_PATH_MAX], **types = NULL, **fes, **ids;
	unsigned int nt = 0, nf, ni;
	int err;

	snprintf(path, sizeof(path), "/local/domain/%u/backend", domid);
	err = scan_dir(s, path, &types, &nt);
	for (unsigned int t = 0; !err && t < nt; t++) {
		if (!scan_join(dir, sizeof(dir), path, types[t]))
			continue;
		err = scan_dir(s, dir, &fes, &nf);
		for (unsigned int f = 0; !err && f < nf; f++) {
			char fdir[SCAN_PATH_MAX];

			if (scan_uint(fes[f], SCAN_DOMID_MAX) < 0 ||
			    !scan_join(fdir, sizeof(fdir), dir, fes[f]))
				continue;
			err = scan_dir(s, fdir, &ids, &ni);
			for (unsigned int i = 0; !err && i < ni; i++) {
				long id = scan_uint(ids[i], 0xffffffffu);
				char dev[SCAN_PATH_MAX];

				if (id < 0 ||
				    !scan_join(dev, sizeof(dev), fdir, ids[i]))
					continue;
				err = scan_device(s, dev, types[t], domid,
				                  (unsigned int)id, true);
			}
			free(ids);
		}
		free(fes);
	}
	free(types);
	return err;
}

/* A backend's frontend domid: the second last part of its node. */
static long scan_fe_of(const char *node)
{
	const char *end = strrchr(node, '/'), *p = end;
	char buf[12];

	while (p > node && p[-1] != '/')
		p--;
	if (!end || end - p >= (long)sizeof(buf))
		return -1;
	memcpy(buf, p, (size_t)(end - p));
	buf[end - p] = '\0';
	return scan_uint(buf, SCAN_DOMID_MAX);
}

/* Stable output: by domain, frontends first, type, other end, id. */
static int scan_cmp(const void *pa, const void *pb)
{
	const struct xenbus_devinfo *a = pa, *b = pb;
	int c;

	if (a->domid != b->domid)
		return a->domid < b->domid ? -1 : 1;
	if (a->is_backend != b->is_backend)
		return a->is_backend ? 1 : -1;
	c = strcmp(a->type, b->type);
	if (c)
		return c;
	if (a->is_backend) {
		long fa = scan_fe_of(a->node), fb = scan_fe_of(b->node);

		if (fa != fb)
			return fa < fb ? -1 : 1;
	}
	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	return strcmp(a->node, b->node);
}

int xenbus_scan(struct xstore *h, int domid, struct xenbus_devinfo **out,
                unsigned int *n)
{
	struct scan s = {.h = h};
	char **doms = NULL;
	unsigned int nd = 0;
	int err = 0;

	if (!h || !out || !n || domid > (int)SCAN_DOMID_MAX)
		return -EINVAL;
	*out = NULL;
	*n = 0;
	if (domid >= 0) {
		err = scan_frontends(&s, (unsigned int)domid);
		if (!err)
			err = scan_backends(&s, (unsigned int)domid);
	} else {
		err = xstore_directory(h, XSTORE_TXN_NONE, "/local/domain",
		                       &doms, &nd);
		if (err == -ENOENT)
			err = 0;
		for (unsigned int i = 0; !err && i < nd; i++) {
			long d = scan_uint(doms[i], SCAN_DOMID_MAX);

			if (d < 0)
				continue;
			err = scan_frontends(&s, (unsigned int)d);
			if (!err)
				err = scan_backends(&s, (unsigned int)d);
		}
		free(doms);
	}
	if (err) {
		xenbus_devinfo_free(s.v, s.n);
		return err;
	}
	if (s.n)
		qsort(s.v, s.n, sizeof(*s.v), scan_cmp);
	*out = s.v;
	*n = s.n;
	return 0;
}

void xenbus_devinfo_free(struct xenbus_devinfo *v, unsigned int n)
{
	if (!v)
		return;
	for (unsigned int i = 0; i < n; i++) {
		free(v[i].node);
		free(v[i].type);
		free(v[i].otherend);
	}
	free(v);
}
