/*
 * device.c - split devices as a Xen toolstack (libxl) lays them out in
 * the store: add (both halves and libxl's trusted copy in one
 * transaction), remove (the Closing/Closed handshake with the backend,
 * then the nodes), list, and the backends of a dead domain.
 *
 * Paths: frontend /local/domain/<D>/device/<type>/<N> (owned by D, read
 * by the backend B), backend /local/domain/<B>/backend/<type>/<D>/<N>
 * (owned by B, read by D), and /libxl/<D>/device/<type>/<N> (dom0's
 * alone).  Removal trusts only the /libxl copy: the frontend and backend
 * directories are writable by guests, so a path read there could point
 * anywhere.  Every path taken from the store is checked against the one
 * the layout gives before anything is removed.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plat/simfs.h"
#include "tools/xsim/xsim.h"
#include "xstore/wire.h"

#define VBD_FIRST   51712u /* xvda: (202 << 8) | (0 << 4) */
#define VBD_STEP    16u    /* the next disk: xvdb, ... */
#define VBD_COUNT   16u    /* xvda..xvdp: the major's minors */
#define DEVID_COUNT 1024u  /* other types: 0..1023 */
#define KV_MAX      32u    /* key=value pairs per device */
#define NAME_MAX_   64u    /* a type or key */

#define XB_STATE_CLOSING "5"
#define XB_STATE_CLOSED  "6"

struct kv {
	const char *key; /* points into argv */
	const char *value;
};

struct dev {
	unsigned int domid, backend, devid;
	bool has_devid;
	const char *type;
	struct kv kv[KV_MAX];
	size_t nkv;
	char params[4096 + 8]; /* --file's params=<absolute path> */
	char fe[XS_ABS_PATH_MAX + 1], be[XS_ABS_PATH_MAX + 1];
	char lx[XS_ABS_PATH_MAX + 1];
};

/* A type or a key: a word of the store's path alphabet, no '/'. */
static bool is_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > NAME_MAX_)
		return false;
	for (; *s; s++) {
		char c = *s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

static bool is_vbd(const char *type)
{
	return !strcmp(type, "vbd");
}

static int paths_make(struct dev *d)
{
	int a, b, c;

	a = snprintf(d->fe, sizeof(d->fe), "/local/domain/%u/device/%s/%u",
	             d->domid, d->type, d->devid);
	b = snprintf(d->be, sizeof(d->be), "/local/domain/%u/backend/%s/%u/%u",
	             d->backend, d->type, d->domid, d->devid);
	c = snprintf(d->lx, sizeof(d->lx), "/libxl/%u/device/%s/%u", d->domid,
	             d->type, d->devid);
	if (a < 0 || b < 0 || c < 0 || (size_t)a >= sizeof(d->fe) ||
	    (size_t)b >= sizeof(d->be) || (size_t)c >= sizeof(d->lx))
		return -ENAMETOOLONG;
	return 0;
}

/* "<dir>/<key>" into buf; -ENAMETOOLONG if it does not fit. */
static int join(char *buf, size_t size, const char *dir, const char *key)
{
	size_t a = strlen(dir), b = strlen(key);

	/* By hand: gcc -O2 flags the checked snprintf as a truncation. */
	if (a + 1 + b + 1 > size)
		return -ENAMETOOLONG;
	memcpy(buf, dir, a);
	buf[a] = '/';
	memcpy(buf + a + 1, key, b + 1);
	return 0;
}

/* Write `value` at "<dir>/<key>". */
static int put(struct xstore *xs, xstore_txn_t tx, const char *dir,
               const char *key, const char *value)
{
	char path[XS_ABS_PATH_MAX + 1];
	int err = join(path, sizeof(path), dir, key);

	return err ? err : xstore_write_str(xs, tx, path, value);
}

static int put_num(struct xstore *xs, xstore_txn_t tx, const char *dir,
                   const char *key, unsigned int v)
{
	char num[16];

	snprintf(num, sizeof(num), "%u", v);
	return put(xs, tx, dir, key, num);
}

/* Is `n` a devid of a listed child of `dir` (missing dir: none)? */
static int is_listed(struct xstore *xs, xstore_txn_t tx, const char *dir,
                     unsigned int n)
{
	char **names, num[16];
	unsigned int count;
	bool found = false;
	int err;

	err = xstore_directory(xs, tx, dir, &names, &count);
	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	snprintf(num, sizeof(num), "%u", n);
	for (unsigned int i = 0; i < count && !found; i++)
		found = !strcmp(names[i], num);
	free(names);
	return found;
}

/* The lowest devid neither a frontend nor libxl's copy uses. */
static int devid_pick(struct xstore *xs, xstore_txn_t tx, struct dev *d)
{
	char fdir[XS_ABS_PATH_MAX + 1], ldir[XS_ABS_PATH_MAX + 1];
	unsigned int count = is_vbd(d->type) ? VBD_COUNT : DEVID_COUNT;

	snprintf(fdir, sizeof(fdir), "/local/domain/%u/device/%s", d->domid,
	         d->type);
	snprintf(ldir, sizeof(ldir), "/libxl/%u/device/%s", d->domid, d->type);
	for (unsigned int i = 0; i < count; i++) {
		unsigned int n = is_vbd(d->type) ? VBD_FIRST + i * VBD_STEP : i;
		int a = is_listed(xs, tx, fdir, n), b;

		if (a < 0)
			return a;
		b = a ? 1 : is_listed(xs, tx, ldir, n);
		if (b < 0)
			return b;
		if (!a && !b) {
			d->devid = n;
			return 0;
		}
	}
	return -ENOSPC;
}

/* Give `path` owner `owner` and read access for `reader`. */
static int perms_set(struct xstore *xs, xstore_txn_t tx, const char *path,
                     unsigned int owner, unsigned int reader)
{
	const struct xstore_perm p[2] = {
	    {.domid = owner, .access = XS_PERM_NONE},
	    {.domid = reader, .access = XS_PERM_READ},
	};

	return xstore_set_perms(xs, tx, path, p, owner == reader ? 1 : 2);
}

/* Both halves and libxl's copy, in transaction `tx`. */
static int device_write(struct xstore *xs, xstore_txn_t tx, struct dev *d)
{
	static const struct xstore_perm dom0_only = {.domid = 0,
	                                             .access = XS_PERM_NONE};
	char home[32];
	int err;

	snprintf(home, sizeof(home), "/local/domain/%u", d->domid);
	err = xstore_exists(xs, tx, home);
	if (err == 0)
		return -ENOENT;
	if (err < 0)
		return err;
	if (!d->has_devid && (err = devid_pick(xs, tx, d)))
		return err;
	if ((err = paths_make(d)))
		return err;
	/* As libxl: whatever was there goes (a device re-added). */
	if ((err = rm_quiet(xs, tx, d->fe)) ||
	    (err = rm_quiet(xs, tx, d->be)) || (err = rm_quiet(xs, tx, d->lx)))
		return err;

	err = xstore_write_str(xs, tx, d->fe, "");
	if (!err)
		err = perms_set(xs, tx, d->fe, d->domid, d->backend);
	if (!err)
		err = put(xs, tx, d->fe, "backend", d->be);
	if (!err)
		err = put_num(xs, tx, d->fe, "backend-id", d->backend);
	if (!err)
		err = put(xs, tx, d->fe, "state", "1");
	if (!err && is_vbd(d->type))
		err = put_num(xs, tx, d->fe, "virtual-device", d->devid);

	if (!err)
		err = xstore_write_str(xs, tx, d->be, "");
	if (!err)
		err = perms_set(xs, tx, d->be, d->backend, d->domid);
	if (!err)
		err = put(xs, tx, d->be, "frontend", d->fe);
	if (!err)
		err = put_num(xs, tx, d->be, "frontend-id", d->domid);
	if (!err)
		err = put(xs, tx, d->be, "online", "1");
	if (!err)
		err = put(xs, tx, d->be, "state", "1");
	for (size_t i = 0; i < d->nkv && !err; i++)
		err = put(xs, tx, d->be, d->kv[i].key, d->kv[i].value);

	if (!err)
		err = xstore_write_str(xs, tx, d->lx, "");
	if (!err)
		err = xstore_set_perms(xs, tx, d->lx, &dom0_only, 1);
	if (!err)
		err = put(xs, tx, d->lx, "frontend", d->fe);
	if (!err)
		err = put(xs, tx, d->lx, "backend", d->be);
	return err;
}

/* Run `fn` in a transaction, again while the commit says EAGAIN. */
static int in_txn(struct xstore *xs,
                  int (*fn)(struct xstore *xs, xstore_txn_t tx, void *arg),
                  void *arg, int *tries)
{
	int err = -EAGAIN;

	for (*tries = 0; *tries < XSIM_TXN_TRIES && err == -EAGAIN;) {
		xstore_txn_t tx;

		++*tries;
		if ((err = xstore_txn_start(xs, &tx)))
			return err;
		err = fn(xs, tx, arg);
		if (err) {
			xstore_txn_end(xs, tx, false);
			if (err == -EAGAIN)
				continue; /* the daemon's: the same as a
				             conflict */
			return err;
		}
		err = xstore_txn_end(xs, tx, true);
	}
	return err;
}

static int add_fn(struct xstore *xs, xstore_txn_t tx, void *arg)
{
	return device_write(xs, tx, arg);
}

static int kv_add(struct dev *d, const char *key, const char *value)
{
	static const char *const reserved[] = {"frontend", "frontend-id",
	                                       "online", "state"};

	if (!is_name(key))
		return usage_error("device-add: bad key '%s'", key);
	for (size_t i = 0; i < sizeof(reserved) / sizeof(*reserved); i++)
		if (!strcmp(key, reserved[i]))
			return usage_error("device-add: '%s' is set by xsim",
			                   key);
	for (size_t i = 0; i < d->nkv; i++)
		if (!strcmp(key, d->kv[i].key))
			return usage_error("device-add: '%s' given twice", key);
	if (d->nkv == KV_MAX)
		return usage_error("device-add: more than %u key=value pairs",
		                   KV_MAX);
	d->kv[d->nkv++] = (struct kv){key, value};
	return 0;
}

static bool kv_has(const struct dev *d, const char *key)
{
	for (size_t i = 0; i < d->nkv; i++)
		if (!strcmp(key, d->kv[i].key))
			return true;
	return false;
}

/* params=<IMG made absolute>, and mode=w, type=file unless given (no
 * need for the image to exist yet). */
static int file_param(struct dev *d, const char *img)
{
	char cwd[4096];
	int n;

	if (!*img)
		return usage_error("device-add: empty --file");
	if (img[0] == '/') {
		n = snprintf(d->params, sizeof(d->params), "%s", img);
	} else {
		if (!getcwd(cwd, sizeof(cwd)))
			return usage_error("device-add: --file %s: no current "
			                   "directory",
			                   img);
		n = snprintf(d->params, sizeof(d->params), "%s/%s", cwd, img);
	}
	if (n < 0 || (size_t)n >= sizeof(d->params))
		return usage_error("device-add: --file: path too long");
	/* What libxl writes besides params, unless given: a backend
	 * (xsblkback, Linux's blkback) reads mode, and type says how. */
	if (!kv_has(d, "mode") && (n = kv_add(d, "mode", "w")))
		return n;
	if (!kv_has(d, "type") && (n = kv_add(d, "type", "file")))
		return n;
	return kv_add(d, "params", d->params);
}

int cmd_device_add(const struct ctx *x, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"devid", required_argument, NULL, 'n'},
	    {"backend-domid", required_argument, NULL, 'b'},
	    {"file", required_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct dev d = {.backend = 0};
	const char *file = NULL;
	struct xstore *xs;
	unsigned long v;
	int opt, err, rc, tries;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			if (parse_ulong(optarg, 0, 0xffffffffu, &v))
				return usage_error("bad --devid: %s", optarg);
			d.devid = (unsigned int)v;
			d.has_devid = true;
			break;
		case 'b':
			if (parse_domid(optarg, &d.backend))
				return usage_error("bad --backend-domid: %s",
				                   optarg);
			break;
		case 'f':
			file = optarg;
			break;
		case 'h':
			return usage_print();
		default:
			return EXIT_USAGE;
		}
	}
	if (argc - optind < 2)
		return usage_error("device-add: DOMID TYPE expected");
	if (parse_domid(argv[optind], &d.domid))
		return usage_error("bad domid '%s' (0..32751)", argv[optind]);
	d.type = argv[optind + 1];
	if (!is_name(d.type))
		return usage_error("device-add: bad type '%s'", d.type);
	for (int i = optind + 2; i < argc; i++) {
		char *eq = strchr(argv[i], '=');

		if (!eq)
			return usage_error("device-add: '%s' is not key=value",
			                   argv[i]);
		*eq = '\0';
		if ((rc = kv_add(&d, argv[i], eq + 1)))
			return rc;
	}
	if (file && !is_vbd(d.type))
		return usage_error("device-add: --file is for vbd devices");
	if (file && (rc = file_param(&d, file)))
		return rc;
	if (d.backend != 0 &&
	    domain_state(x, d.backend, &(enum plat_dom_state){0})) {
		fprintf(stderr, "xsim: no backend domain %u in %s\n", d.backend,
		        x->dir);
		return EXIT_FAIL;
	}
	if (daemon_connect(x, &xs))
		return EXIT_FAIL;
	err = in_txn(xs, add_fn, &d, &tries);
	xstore_close(xs);
	if (err == -EAGAIN)
		fprintf(stderr,
		        "xsim: device-add: the transaction failed with EAGAIN "
		        "%d times in a row (other writes kept conflicting); "
		        "nothing was added\n",
		        tries);
	else if (err == -ENOENT)
		fprintf(stderr, "xsim: domain %u has no home in the store\n",
		        d.domid);
	else if (err == -ENOSPC)
		fprintf(stderr, "xsim: domain %u has no free %s devid\n",
		        d.domid, d.type);
	else if (err)
		fprintf(stderr, "xsim: device-add %u %s: %s\n", d.domid, d.type,
		        strerror(-err));
	if (err)
		return EXIT_FAIL;
	printf("%s\n", d.fe);
	return EXIT_OK;
}

/* ---- removal ---- */

/*
 * Read libxl's copy of the device's paths into d->fe and d->be and
 * check them against the layout (with the backend domid they name).
 */
static int trusted_paths(struct xstore *xs, struct dev *d)
{
	char path[XS_ABS_PATH_MAX + 1];
	char *fe = NULL, *be = NULL;
	const char *s;
	uint64_t b;
	int err;

	err = join(path, sizeof(path), d->lx, "frontend");
	if (!err)
		err = xstore_read(xs, XSTORE_TXN_NONE, path, &fe, NULL);
	if (!err)
		err = join(path, sizeof(path), d->lx, "backend");
	if (!err)
		err = xstore_read(xs, XSTORE_TXN_NONE, path, &be, NULL);
	if (err)
		goto out;
	err = -EINVAL;
	s = be + strlen("/local/domain/");
	if (strncmp(be, "/local/domain/", strlen("/local/domain/")) ||
	    simfs_parse_num(&s, SIM_DOMID_MAX, &b))
		goto out;
	d->backend = (unsigned int)b;
	if (paths_make(d) || strcmp(fe, d->fe) || strcmp(be, d->be))
		goto out;
	err = 0;
out:
	free(fe);
	free(be);
	return err;
}

static int closing_fn(struct xstore *xs, xstore_txn_t tx, void *arg)
{
	struct dev *d = arg;
	int err = xstore_exists(xs, tx, d->be);

	if (err <= 0)
		return err == 0 ? -ENOENT : err;
	err = put(xs, tx, d->be, "online", "0");
	if (!err)
		err = put(xs, tx, d->be, "state", XB_STATE_CLOSING);
	return err;
}

struct closed_check {
	struct xstore *xs;
	const char *path;
	char last[16]; /* the state last seen, for the report */
};

static int closed_fn(void *arg)
{
	struct closed_check *c = arg;
	char *v = NULL;
	int err = xstore_read(c->xs, XSTORE_TXN_NONE, c->path, &v, NULL);

	if (err == -ENOENT) {
		snprintf(c->last, sizeof(c->last), "gone");
		return 1; /* the backend went away: nothing to wait for */
	}
	if (err)
		return err;
	snprintf(c->last, sizeof(c->last), "%s", v);
	err = !strcmp(v, XB_STATE_CLOSED);
	free(v);
	return err;
}

/*
 * Remove `path` then its parents while they are empty, up to (not
 * including) `stop`, as libxl leaves no empty type directories behind.
 */
static int rm_up(struct xstore *xs, xstore_txn_t tx, const char *path,
                 size_t stop)
{
	char p[XS_ABS_PATH_MAX + 1];
	int err = rm_quiet(xs, tx, path);

	snprintf(p, sizeof(p), "%s", path);
	while (!err) {
		char *slash = strrchr(p, '/'), **names;
		unsigned int n;

		if (!slash || (size_t)(slash - p) <= stop)
			break;
		*slash = '\0';
		err = xstore_directory(xs, tx, p, &names, &n);
		if (err)
			return err == -ENOENT ? 0 : err;
		free(names);
		if (n)
			break;
		err = rm_quiet(xs, tx, p);
	}
	return err;
}

static int remove_fn(struct xstore *xs, xstore_txn_t tx, void *arg)
{
	struct dev *d = arg;
	char stop[64];
	int err;

	/* Up to the homes: /local/domain/<D>/device, .../<B>/backend. */
	snprintf(stop, sizeof(stop), "/local/domain/%u/device", d->domid);
	err = rm_up(xs, tx, d->fe, strlen(stop));
	snprintf(stop, sizeof(stop), "/local/domain/%u/backend", d->backend);
	if (!err)
		err = rm_up(xs, tx, d->be, strlen(stop));
	snprintf(stop, sizeof(stop), "/libxl/%u", d->domid);
	if (!err)
		err = rm_up(xs, tx, d->lx, strlen(stop));
	return err;
}

static int parse_dev(int argc, char **argv, const char *cmd, struct dev *d)
{
	unsigned long v;

	if (argc - optind != 3)
		return usage_error("%s: DOMID TYPE DEVID expected", cmd);
	if (parse_domid(argv[optind], &d->domid))
		return usage_error("bad domid '%s' (0..32751)", argv[optind]);
	d->type = argv[optind + 1];
	if (!is_name(d->type))
		return usage_error("%s: bad type '%s'", cmd, d->type);
	if (parse_ulong(argv[optind + 2], 0, 0xffffffffu, &v))
		return usage_error("%s: bad devid '%s'", cmd, argv[optind + 2]);
	d->devid = (unsigned int)v;
	snprintf(d->lx, sizeof(d->lx), "/libxl/%u/device/%s/%u", d->domid,
	         d->type, d->devid);
	return 0;
}

int cmd_device_remove(const struct ctx *x, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"force", no_argument, NULL, 'f'},
	    {"timeout", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	unsigned long timeout = DEFAULT_TIMEOUT_S;
	char spath[XS_ABS_PATH_MAX + 1];
	struct closed_check cc = {.last = "?"};
	const char *paths[1];
	bool is_forced = false, has_backend = true;
	struct dev d = {0};
	struct xstore *xs;
	int opt, err, rc, tries;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			is_forced = true;
			break;
		case 't':
			if (parse_ulong(optarg, 0, 3600, &timeout))
				return usage_error("bad --timeout: %s", optarg);
			break;
		case 'h':
			return usage_print();
		default:
			return EXIT_USAGE;
		}
	}
	if ((rc = parse_dev(argc, argv, "device-remove", &d)))
		return rc;
	if (daemon_connect(x, &xs))
		return EXIT_FAIL;
	err = trusted_paths(xs, &d);
	if (err == -ENOENT) {
		fprintf(stderr, "xsim: domain %u has no %s device %u\n",
		        d.domid, d.type, d.devid);
		goto out;
	}
	if (err) {
		fprintf(stderr, "xsim: %s: unusable device record: %s\n", d.lx,
		        strerror(-err));
		goto out;
	}
	/* 1. Ask the backend to close (libxl: online=0, state=Closing). */
	err = in_txn(xs, closing_fn, &d, &tries);
	if (err == -ENOENT) {
		has_backend = false; /* nothing to close: just clean up */
		err = 0;
	}
	if (err) {
		fprintf(stderr, "xsim: cannot ask backend %s to close: %s\n",
		        d.be, strerror(-err));
		goto out;
	}
	/* 2. Wait until it says Closed (6), or goes away. */
	if (has_backend && !is_forced) {
		join(spath, sizeof(spath), d.be, "state"); /* d.be is short */
		cc.xs = xs;
		cc.path = spath;
		paths[0] = spath;
		err = xsim_wait(xs, paths, 1, closed_fn, &cc, timeout * 1000);
		if (err == -ETIMEDOUT) {
			fprintf(stderr,
			        "xsim: the backend %s did not close within %lu "
			        "s (its state is %s, want " XB_STATE_CLOSED
			        "); the device stays (--force removes it "
			        "anyway)\n",
			        d.be, timeout, cc.last);
			goto out;
		}
		if (err) {
			fprintf(stderr, "xsim: waiting for %s: %s\n", spath,
			        strerror(-err));
			goto out;
		}
	}
	/* 3. Remove both halves and the copy. */
	err = in_txn(xs, remove_fn, &d, &tries);
	if (err)
		fprintf(stderr,
		        "xsim: cannot remove %s device %u of domain %u: "
		        "%s\n",
		        d.type, d.devid, d.domid, strerror(-err));
out:
	xstore_close(xs);
	return err ? EXIT_FAIL : EXIT_OK;
}

/* ---- listing ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Numeric names first, by value; the rest by name. */
static int cmp_num(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	size_t nx = strspn(x, "0123456789"), ny = strspn(y, "0123456789");

	if (nx && !x[nx] && ny && !y[ny] && strlen(x) != strlen(y))
		return strlen(x) < strlen(y) ? -1 : 1;
	return strcmp(x, y);
}

/* The value at "<dir>/<key>" into buf ("-" if unreadable). */
static void get(struct xstore *xs, const char *dir, const char *key, char *buf,
                size_t size)
{
	char path[XS_ABS_PATH_MAX + 1];
	char *v = NULL;

	if (!join(path, sizeof(path), dir, key) &&
	    xstore_read(xs, XSTORE_TXN_NONE, path, &v, NULL) == 0 && *v)
		snprintf(buf, size, "%s", v);
	else
		snprintf(buf, size, "-");
	free(v);
}

static void list_one(struct xstore *xs, unsigned int domid, const char *type,
                     const char *devid)
{
	char lx[XS_ABS_PATH_MAX + 1], fe[XS_ABS_PATH_MAX + 1];
	char be[XS_ABS_PATH_MAX + 1], fst[16], bst[16];
	const char *s;
	uint64_t b = 0;
	bool has_b;

	snprintf(lx, sizeof(lx), "/libxl/%u/device/%s/%s", domid, type, devid);
	get(xs, lx, "frontend", fe, sizeof(fe));
	get(xs, lx, "backend", be, sizeof(be));
	s = be + strlen("/local/domain/");
	has_b = !strncmp(be, "/local/domain/", strlen("/local/domain/")) &&
	        !simfs_parse_num(&s, SIM_DOMID_MAX, &b);
	get(xs, fe, "state", fst, sizeof(fst));
	get(xs, be, "state", bst, sizeof(bst));
	if (has_b)
		printf("%s %s %s %u %s %s\n", type, devid, fst, (unsigned int)b,
		       bst, be);
	else
		printf("%s %s %s - %s %s\n", type, devid, fst, bst, be);
}

int cmd_device_list(const struct ctx *x, int argc, char **argv)
{
	char dir[64], sub[XS_ABS_PATH_MAX + 1];
	char **types = NULL, **ids;
	unsigned int domid, nt = 0, ni;
	struct xstore *xs;
	int rc, err;

	if (getopt_long(argc, argv, "", (struct option[]){{NULL, 0, NULL, 0}},
	                NULL) != -1)
		return EXIT_USAGE;
	if ((rc = one_domid(argc, argv, "device-list", &domid)))
		return rc;
	if (daemon_connect(x, &xs))
		return EXIT_FAIL;
	snprintf(dir, sizeof(dir), "/libxl/%u", domid);
	err = xstore_exists(xs, XSTORE_TXN_NONE, dir);
	if (err == 0) {
		fprintf(stderr, "xsim: domain %u is not in the store (%s)\n",
		        domid, dir);
		err = -ENOENT;
		goto out;
	}
	snprintf(dir, sizeof(dir), "/libxl/%u/device", domid);
	err = xstore_directory(xs, XSTORE_TXN_NONE, dir, &types, &nt);
	if (err == -ENOENT) {
		err = 0; /* no devices */
		goto out;
	}
	if (err) {
		fprintf(stderr, "xsim: cannot list %s: %s\n", dir,
		        strerror(-err));
		goto out;
	}
	qsort(types, nt, sizeof(*types), cmp_str);
	for (unsigned int i = 0; i < nt; i++) {
		if (join(sub, sizeof(sub), dir, types[i]) ||
		    xstore_directory(xs, XSTORE_TXN_NONE, sub, &ids, &ni))
			continue;
		qsort(ids, ni, sizeof(*ids), cmp_num);
		for (unsigned int j = 0; j < ni; j++)
			list_one(xs, domid, types[i], ids[j]);
		free(ids);
	}
out:
	free(types);
	xstore_close(xs);
	return err ? EXIT_FAIL : EXIT_OK;
}

/* ---- a dead domain's backends ---- */

/*
 * The backends serving a dead domain D live in dom0 and in the backend
 * domains its devices name in libxl's copy (/libxl/D/device/<type>/<N>/
 * backend, checked against the layout), as libxl finds them: not in
 * every domain's backend directory, which cost a request per domain of
 * the host (1 000 domains: 1 000 requests per destroy).
 */
struct backends {
	unsigned int domid;
	uint8_t is_backend[SIM_DOMID_MAX / 8 + 1]; /* a bit per domid */
};

static void backend_dom_add(struct backends *b, unsigned int dom)
{
	b->is_backend[dom / 8] |= (uint8_t)(1u << (dom % 8));
}

static bool is_backend_dom(const struct backends *b, unsigned int dom)
{
	return b->is_backend[dom / 8] & (1u << (dom % 8));
}

/* Note the backend domain of device `lx` (type `type`, id `devid`) if
 * its recorded backend path is the layout's.  0 or -errno. */
static int backend_dom_of(struct xstore *xs, xstore_txn_t tx,
                          struct backends *b, const char *lx, const char *type,
                          const char *devid)
{
	char path[XS_ABS_PATH_MAX + 1], want[XS_ABS_PATH_MAX + 1];
	const char *prefix = "/local/domain/", *s;
	char *be = NULL;
	uint64_t dom;
	int err;

	err = join(path, sizeof(path), lx, "backend");
	if (!err)
		err = xstore_read(xs, tx, path, &be, NULL);
	if (err)
		return err == -ENOENT || err == -ENAMETOOLONG ? 0 : err;
	s = be + strlen(prefix);
	if (!strncmp(be, prefix, strlen(prefix)) &&
	    !simfs_parse_num(&s, SIM_DOMID_MAX, &dom) &&
	    (size_t)snprintf(want, sizeof(want), "%s%u/backend/%s/%u/%s",
	                     prefix, (unsigned int)dom, type, b->domid,
	                     devid) < sizeof(want) &&
	    !strcmp(be, want))
		backend_dom_add(b, (unsigned int)dom);
	free(be);
	return 0;
}

static int libxl_backends(struct xstore *xs, xstore_txn_t tx,
                          struct backends *b)
{
	char **types = NULL, **devs, path[XS_ABS_PATH_MAX + 1];
	unsigned int nt = 0, nd;
	int err;

	snprintf(path, sizeof(path), "/libxl/%u/device", b->domid);
	err = xstore_directory(xs, tx, path, &types, &nt);
	if (err)
		return err == -ENOENT ? 0 : err;
	for (unsigned int i = 0; i < nt && !err; i++) {
		snprintf(path, sizeof(path), "/libxl/%u/device/%s", b->domid,
		         types[i]);
		err = xstore_directory(xs, tx, path, &devs, &nd);
		if (err) {
			err = err == -ENOENT ? 0 : err;
			continue;
		}
		for (unsigned int j = 0; j < nd && !err; j++) {
			char lx[XS_ABS_PATH_MAX + 1];

			if (!join(lx, sizeof(lx), path, devs[j]))
				err = backend_dom_of(xs, tx, b, lx, types[i],
				                     devs[j]);
		}
		free(devs);
	}
	free(types);
	return err;
}

static int backends_fn(struct xstore *xs, xstore_txn_t tx, void *arg)
{
	struct backends *b = arg;
	char **types, path[XS_ABS_PATH_MAX + 1];
	unsigned int nt;
	int err;

	memset(b->is_backend, 0, sizeof(b->is_backend));
	backend_dom_add(b, 0);
	err = libxl_backends(xs, tx, b);
	for (unsigned int dom = 0; dom <= SIM_DOMID_MAX && !err; dom++) {
		if (!is_backend_dom(b, dom))
			continue;
		snprintf(path, sizeof(path), "/local/domain/%u/backend", dom);
		err = xstore_directory(xs, tx, path, &types, &nt);
		if (err) {
			err = err == -ENOENT || err == -EACCES ? 0 : err;
			continue;
		}
		for (unsigned int j = 0; j < nt && !err; j++) {
			snprintf(path, sizeof(path),
			         "/local/domain/%u/backend/%s/%u", dom,
			         types[j], b->domid);
			err = rm_quiet(xs, tx, path);
		}
		free(types);
	}
	return err;
}

int device_backends_remove(struct xstore *xs, unsigned int domid)
{
	struct backends b = {.domid = domid};
	int tries;

	return in_txn(xs, backends_fn, &b, &tries);
}
