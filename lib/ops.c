/*
 * ops.c - the typed requests of libxstore: nodes, transactions,
 * permissions, domains, control and quotas.  Each builds a payload,
 * calls xs_talk() and decodes the reply; none keeps state but the
 * records of open transactions (reconnect.c).  Replies are decoded
 * defensively: they come from another process.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/client_int.h"

static int one_path(struct xstore *h, uint32_t type, xstore_txn_t t,
                    const char *path, char **reply, size_t *len)
{
	if (!h || !path)
		return -EINVAL;
	return xs_talk_strs(h, type, t, &path, 1, reply, len);
}

int xstore_read(struct xstore *h, xstore_txn_t t, const char *path, char **out,
                size_t *len)
{
	if (!out)
		return -EINVAL;
	return one_path(h, XS_READ, t, path, out, len);
}

int xstore_write(struct xstore *h, xstore_txn_t t, const char *path,
                 const void *data, size_t len)
{
	struct iovec iov[2];

	if (!h || !path || (len && !data))
		return -EINVAL;
	iov[0].iov_base = (void *)(uintptr_t)path;
	iov[0].iov_len = strlen(path) + 1;
	iov[1].iov_base = (void *)(uintptr_t)data;
	iov[1].iov_len = len;
	return xs_talk(h, XS_WRITE, t, iov, 2, 0, NULL, NULL, NULL);
}

int xstore_write_str(struct xstore *h, xstore_txn_t t, const char *path,
                     const char *value)
{
	if (!value)
		return -EINVAL;
	return xstore_write(h, t, path, value, strlen(value));
}

int xstore_mkdir(struct xstore *h, xstore_txn_t t, const char *path)
{
	return one_path(h, XS_MKDIR, t, path, NULL, NULL);
}

int xstore_rm(struct xstore *h, xstore_txn_t t, const char *path)
{
	return one_path(h, XS_RM, t, path, NULL, NULL);
}

/* ---- directories ---- */

/* Count the nul-terminated strings in buf[0..len). */
static unsigned int count_strings(const char *buf, size_t len)
{
	unsigned int n = 0;

	for (size_t i = 0; i < len; i++)
		if (buf[i] == '\0')
			n++;
	return n;
}

/*
 * One block: n + 1 pointers, then a copy of the strings.  The last
 * string of `buf` need not be terminated: the copy adds a nul.
 */
static int split(const char *buf, size_t len, char ***out, unsigned int *num)
{
	unsigned int n = count_strings(buf, len);
	char **v, *s;

	if (len && buf[len - 1] != '\0')
		n++;
	v = malloc((n + 1) * sizeof(char *) + len + 1);
	if (!v)
		return -ENOMEM;
	s = (char *)(v + n + 1);
	memcpy(s, buf, len);
	s[len] = '\0';
	for (unsigned int i = 0; i < n; i++) {
		v[i] = s;
		s += strlen(s) + 1;
	}
	v[n] = NULL;
	*out = v;
	if (num)
		*num = n;
	return 0;
}

/* No real child list comes near this; a daemon feeding us more lies. */
#define DIR_PART_MAX (16u << 20)

/* Append to a growing buffer. */
static int grow(char **buf, size_t *len, const char *add, size_t n)
{
	char *b;

	if (*len + n > DIR_PART_MAX)
		return -EPROTO;
	b = realloc(*buf, *len + n + 1);

	if (!b)
		return -ENOMEM;
	memcpy(b + *len, add, n);
	*len += n;
	*buf = b;
	return 0;
}

/*
 * The whole child list by DIRECTORY_PART: "<gen>\0<names>\0..." per
 * piece, the last piece ending in an empty name.  A change of generation
 * between pieces means the list changed: start again.
 */
static int directory_part(struct xstore *h, xstore_txn_t t, const char *path,
                          char ***out, unsigned int *num)
{
	char off[24], *all = NULL, *r = NULL, gen[24] = "";
	size_t len = 0, rlen, glen;
	int err, tries = 0;

restart:
	free(all);
	all = NULL;
	len = 0;
	for (;;) {
		const char *args[2] = {path, off};

		snprintf(off, sizeof(off), "%zu", len);
		err = xs_talk_strs(h, XS_DIRECTORY_PART, t, args, 2, &r, &rlen);
		if (err)
			goto out;
		glen = strnlen(r, rlen);
		if (glen == rlen || glen >= sizeof(gen)) {
			err = -EPROTO;
			goto out;
		}
		if (len == 0) {
			memcpy(gen, r, glen + 1);
		} else if (strcmp(gen, r)) {
			free(r);
			r = NULL;
			if (++tries > 100) {
				err = -EAGAIN;
				goto out;
			}
			goto restart;
		}
		rlen -= glen + 1;
		/* The end: an empty name (two nuls, or a lone nul). */
		if (rlen == 0 || (rlen >= 1 && r[glen + rlen] == '\0' &&
		                  (rlen == 1 || r[glen + rlen - 1] == '\0'))) {
			err =
			    grow(&all, &len, r + glen + 1, rlen ? rlen - 1 : 0);
			break;
		}
		err = grow(&all, &len, r + glen + 1, rlen);
		if (err)
			goto out;
		free(r);
		r = NULL;
	}
	if (!err)
		err = split(all ? all : "", len, out, num);
out:
	free(r);
	free(all);
	return err;
}

int xstore_directory(struct xstore *h, xstore_txn_t t, const char *path,
                     char ***out, unsigned int *num)
{
	char *r;
	size_t len;
	int err;

	if (!out)
		return -EINVAL;
	err = one_path(h, XS_DIRECTORY, t, path, &r, &len);
	/* Too many children for one reply (E2BIG, or ENOSPC in Xen). */
	if (err == -E2BIG || err == -ENOSPC)
		return directory_part(h, t, path, out, num);
	if (err)
		return err;
	err = split(r, len, out, num);
	free(r);
	return err;
}

int xstore_exists(struct xstore *h, xstore_txn_t t, const char *path)
{
	char **d;
	int err = xstore_directory(h, t, path, &d, NULL);

	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	free(d);
	return 1;
}

/*
 * Depth first without recursion: descend into the first child until a
 * leaf, remove it, climb back and look again.  Each removal is RM of a
 * childless node, so it works on daemons whose RM is not recursive.
 */
static int rm_tree_in(struct xstore *h, xstore_txn_t t, const char *root)
{
	size_t rootlen = strlen(root);
	char *cur = strdup(root), *slash;
	char **d = NULL;
	unsigned int n;
	int err;

	if (!cur)
		return -ENOMEM;
	for (;;) {
		err = xstore_directory(h, t, cur, &d, &n);
		if (err)
			break;
		if (n > 0) {
			char *child = xstore_join(cur, d[0]);

			free(d);
			if (!child) {
				err = -ENOMEM;
				break;
			}
			free(cur);
			cur = child;
			continue;
		}
		free(d);
		err = xstore_rm(h, t, cur);
		if (err || strlen(cur) <= rootlen)
			break;
		slash = strrchr(cur, '/');
		if (!slash || (size_t)(slash - cur) < rootlen) {
			err = -EINVAL;
			break;
		}
		*slash = '\0';
	}
	free(cur);
	return err;
}

int xstore_rm_tree(struct xstore *h, xstore_txn_t t, const char *path)
{
	xstore_txn_t own;
	int err;

	if (!h || !path)
		return -EINVAL;
	if (t != XSTORE_TXN_NONE)
		return rm_tree_in(h, t, path);
	for (;;) {
		err = xstore_txn_start(h, &own);
		if (err)
			return err;
		err = rm_tree_in(h, own, path);
		if (err) {
			xstore_txn_end(h, own, false);
			return err;
		}
		err = xstore_txn_end(h, own, true);
		if (err != -EAGAIN)
			return err;
	}
}

/* ---- transactions ---- */

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -EPROTO;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EPROTO;
		if (v > (max - (uint64_t)(*s - '0')) / 10)
			return -EPROTO;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

/* Abort transaction `id` without its record (it is not ours to end). */
static void txn_abort_raw(struct xstore *h, uint32_t id)
{
	struct iovec iov = {(void *)(uintptr_t) "F", 2};

	xs_talk(h, XS_TRANSACTION_END, id, &iov, 1, XS_TALK_NOREC, NULL, NULL,
	        NULL);
}

/* A START answered but not kept: count it as ended. */
static void txn_uncount(struct xstore *h)
{
	pthread_mutex_lock(&h->lock);
	if (h->txns > 0)
		h->txns--;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

/*
 * The id is recorded with the connection it lives on (reconnect.c).  A
 * restarted daemon counts ids from 1 again: an id that a transaction of
 * the lost connection still holds (its caller has not ended it yet) is
 * given back and another asked for, so that every id names one record.
 */
int xstore_txn_start(struct xstore *h, xstore_txn_t *t)
{
	struct iovec iov = {(void *)(uintptr_t) "", 1};
	uint64_t id, gen;
	char *r;
	int err;

	if (!h || !t)
		return -EINVAL;
	for (int tries = 0;; tries++) {
		err = xs_talk_gen(h, XS_TRANSACTION_START, &iov, 1, &r, &gen);
		if (err)
			return err;
		err = parse_u64(r, UINT32_MAX, &id);
		free(r);
		if (!err && id == 0)
			err = -EPROTO;
		if (err) {
			/* We cannot name it to end it. */
			txn_uncount(h);
			return err;
		}
		pthread_mutex_lock(&h->lock);
		err = xs_txn_add(h, (uint32_t)id, gen);
		pthread_mutex_unlock(&h->lock);
		if (!err)
			break;
		txn_abort_raw(h, (uint32_t)id);
		if (err != -EEXIST || tries >= 16)
			return err == -EEXIST ? -EAGAIN : err;
	}
	*t = (xstore_txn_t)id;
	return 0;
}

int xstore_txn_end(struct xstore *h, xstore_txn_t t, bool commit)
{
	const char *arg = commit ? "T" : "F";

	if (!h || t == XSTORE_TXN_NONE)
		return -EINVAL;
	return xs_talk_strs(h, XS_TRANSACTION_END, t, &arg, 1, NULL, NULL);
}

/* ---- permissions ---- */

int xstore_get_perms(struct xstore *h, xstore_txn_t t, const char *path,
                     struct xstore_perm **out, unsigned int *num)
{
	struct xstore_perm *v;
	unsigned int n, i = 0;
	char *r, *s;
	size_t len;
	int err;

	if (!out)
		return -EINVAL;
	err = one_path(h, XS_GET_PERMS, t, path, &r, &len);
	if (err)
		return err;
	n = count_strings(r, len) + (len && r[len - 1] != '\0');
	v = n ? calloc(n, sizeof(*v)) : NULL;
	if (!v) {
		free(r);
		return n ? -ENOMEM : -EPROTO;
	}
	for (s = r; i < n; s += strlen(s) + 1, i++) {
		err = xstore_perm_parse(s, &v[i]);
		if (err) {
			free(v);
			free(r);
			return -EPROTO;
		}
	}
	free(r);
	*out = v;
	if (num)
		*num = n;
	return 0;
}

int xstore_set_perms(struct xstore *h, xstore_txn_t t, const char *path,
                     const struct xstore_perm *perms, unsigned int num)
{
	char buf[XS_PAYLOAD_MAX];
	size_t len, plen;
	struct iovec iov[2];

	if (!h || !path || !perms || num == 0)
		return -EINVAL;
	plen = strlen(path) + 1;
	len = 0;
	for (unsigned int i = 0; i < num; i++) {
		char one[XSTORE_PERM_STRLEN];
		size_t l;

		if (perms[i].domid > XS_DOMID_MAX || perms[i].access > 3)
			return -EINVAL;
		xstore_perm_format(&perms[i], one);
		l = strlen(one) + 1;
		if (len + l > sizeof(buf))
			return -E2BIG;
		memcpy(buf + len, one, l);
		len += l;
	}
	iov[0].iov_base = (void *)(uintptr_t)path;
	iov[0].iov_len = plen;
	iov[1].iov_base = buf;
	iov[1].iov_len = len;
	return xs_talk(h, XS_SET_PERMS, t, iov, 2, 0, NULL, NULL, NULL);
}

/* ---- domains ---- */

static int domid_ok(unsigned int domid)
{
	return domid <= XS_DOMID_MAX ? 0 : -EINVAL;
}

int xstore_get_domain_path(struct xstore *h, unsigned int domid, char **out)
{
	char d[16];
	const char *arg = d;

	if (!h || !out || domid_ok(domid))
		return -EINVAL;
	snprintf(d, sizeof(d), "%u", domid);
	return xs_talk_strs(h, XS_GET_DOMAIN_PATH, XSTORE_TXN_NONE, &arg, 1,
	                    out, NULL);
}

int xstore_introduce(struct xstore *h, unsigned int domid, uint64_t gfn,
                     unsigned int evtchn)
{
	char d[16], g[24], e[16];
	const char *args[3] = {d, g, e};

	if (!h || domid_ok(domid))
		return -EINVAL;
	snprintf(d, sizeof(d), "%u", domid);
	snprintf(g, sizeof(g), "%" PRIu64, gfn);
	snprintf(e, sizeof(e), "%u", evtchn);
	return xs_talk_strs(h, XS_INTRODUCE, XSTORE_TXN_NONE, args, 3, NULL,
	                    NULL);
}

static int domid_request(struct xstore *h, uint32_t type, unsigned int domid,
                         char **reply)
{
	char d[16];
	const char *arg = d;

	if (!h || domid_ok(domid))
		return -EINVAL;
	snprintf(d, sizeof(d), "%u", domid);
	return xs_talk_strs(h, type, XSTORE_TXN_NONE, &arg, 1, reply, NULL);
}

int xstore_release(struct xstore *h, unsigned int domid)
{
	return domid_request(h, XS_RELEASE, domid, NULL);
}

int xstore_resume_domain(struct xstore *h, unsigned int domid)
{
	return domid_request(h, XS_RESUME, domid, NULL);
}

int xstore_is_introduced(struct xstore *h, unsigned int domid)
{
	char *r;
	int err = domid_request(h, XS_IS_DOMAIN_INTRODUCED, domid, &r);

	if (err)
		return err;
	err = !strcmp(r, "T") ? 1 : !strcmp(r, "F") ? 0 : -EPROTO;
	free(r);
	return err;
}

int xstore_set_target(struct xstore *h, unsigned int domid, unsigned int target)
{
	char d[16], tg[16];
	const char *args[2] = {d, tg};

	if (!h || domid_ok(domid) || domid_ok(target))
		return -EINVAL;
	snprintf(d, sizeof(d), "%u", domid);
	snprintf(tg, sizeof(tg), "%u", target);
	return xs_talk_strs(h, XS_SET_TARGET, XSTORE_TXN_NONE, args, 2, NULL,
	                    NULL);
}

/* ---- control, quotas, features ---- */

int xstore_control(struct xstore *h, const char *const *argv, unsigned int argc,
                   char **out)
{
	char buf[XS_PAYLOAD_MAX];
	struct iovec iov = {buf, 0};
	size_t len = 0;

	if (!h || !argv || argc == 0)
		return -EINVAL;
	for (unsigned int i = 0; i < argc; i++) {
		size_t l;

		if (!argv[i])
			return -EINVAL;
		l = strlen(argv[i]) + 1;
		if (l > sizeof(buf) - len)
			return -E2BIG;
		memcpy(buf + len, argv[i], l);
		len += l;
	}
	iov.iov_len = len;
	return xs_talk(h, XS_CONTROL, XSTORE_TXN_NONE, &iov, 1, 0, out, NULL,
	               NULL);
}

int xstore_get_quota(struct xstore *h, int domid, const char *name,
                     uint64_t *value)
{
	char d[16], *r;
	const char *args[2] = {d, name};
	int err;

	if (!h || !name || !value || domid > (int)XS_DOMID_MAX)
		return -EINVAL;
	snprintf(d, sizeof(d), "%d", domid);
	if (domid < 0)
		err = xs_talk_strs(h, XS_GET_QUOTA, XSTORE_TXN_NONE, &name, 1,
		                   &r, NULL);
	else
		err = xs_talk_strs(h, XS_GET_QUOTA, XSTORE_TXN_NONE, args, 2,
		                   &r, NULL);
	if (err)
		return err;
	err = parse_u64(r, UINT64_MAX, value);
	free(r);
	return err;
}

int xstore_set_quota(struct xstore *h, int domid, const char *name,
                     uint64_t value)
{
	char d[16], v[24];
	const char *args[3] = {d, name, v};

	if (!h || !name || domid > (int)XS_DOMID_MAX)
		return -EINVAL;
	snprintf(d, sizeof(d), "%d", domid);
	snprintf(v, sizeof(v), "%" PRIu64, value);
	if (domid < 0)
		return xs_talk_strs(h, XS_SET_QUOTA, XSTORE_TXN_NONE, args + 1,
		                    2, NULL, NULL);
	return xs_talk_strs(h, XS_SET_QUOTA, XSTORE_TXN_NONE, args, 3, NULL,
	                    NULL);
}

int xstore_quota_names(struct xstore *h, char **out)
{
	if (!h || !out)
		return -EINVAL;
	return xs_talk(h, XS_GET_QUOTA, XSTORE_TXN_NONE, NULL, 0, 0, out, NULL,
	               NULL);
}

int xstore_get_feature(struct xstore *h, int domid, uint32_t *features)
{
	char d[16], *r;
	const char *arg = d;
	uint64_t v;
	int err;

	if (!h || !features || domid > (int)XS_DOMID_MAX)
		return -EINVAL;
	snprintf(d, sizeof(d), "%d", domid);
	if (domid < 0)
		err = xs_talk(h, XS_GET_FEATURE, XSTORE_TXN_NONE, NULL, 0, 0,
		              &r, NULL, NULL);
	else
		err = xs_talk_strs(h, XS_GET_FEATURE, XSTORE_TXN_NONE, &arg, 1,
		                   &r, NULL);
	if (err)
		return err;
	err = parse_u64(r, UINT32_MAX, &v);
	free(r);
	if (!err)
		*features = (uint32_t)v;
	return err;
}

int xstore_set_feature(struct xstore *h, unsigned int domid, uint32_t features)
{
	char d[16], f[16];
	const char *args[2] = {d, f};

	if (!h || domid_ok(domid))
		return -EINVAL;
	snprintf(d, sizeof(d), "%u", domid);
	snprintf(f, sizeof(f), "%" PRIu32, features);
	return xs_talk_strs(h, XS_SET_FEATURE, XSTORE_TXN_NONE, args, 2, NULL,
	                    NULL);
}
