/*
 * compat.c - the commands of Debian's xenstore-utils: read, write, ls,
 * list, rm, exists, chmod, watch, with their options, output, messages and
 * exit statuses, so that scripts written for them run unchanged.
 *
 * As there: read of several keys, write of several pairs, and every rm,
 * exists, list and chmod run in one transaction, retried on EAGAIN, and
 * aborted when a key fails; their output is held until the commit.  ls
 * and watch print as they go.  Trees are walked with an explicit stack,
 * never by recursion on the store's depth.
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "tools/xstore/cli.h"

enum mode { M_CHMOD, M_EXISTS, M_LIST, M_LS, M_READ, M_RM, M_WRITE, M_WATCH };

static const struct {
	const char *name;
	const char *usage;
} modes[] = {
    [M_CHMOD] = {"chmod", "[-h] [-u] [-r] [-s] key <mode [modes...]>"},
    [M_EXISTS] = {"exists", "[-h] [-p] [-s] key [...]"},
    [M_LIST] = {"list", "[-h] [-p] [-s] key [...]"},
    [M_LS] = {"ls", "[-h] [-f] [-p] [-s] [path]"},
    [M_READ] = {"read", "[-h] [-p] [-s] [-R] key [...]"},
    [M_RM] = {"rm", "[-h] [-s] [-t] key [...]"},
    [M_WRITE] = {"write", "[-h] [-s] [-R] key value [...]"},
    [M_WATCH] = {"watch", "[-h] [-n NR] key"},
};
#define NMODES (sizeof(modes) / sizeof(modes[0]))

/* The width of a value column, as xenstore-ls: ` = "..."`. */
#define TAG_LEN 8

struct opts {
	bool prefix, raw, tidy, upto, recurse, whole_path;
	long nr_events; /* watch: -1 = forever */
	int depth;      /* watch: -1 = whole subtree (xstore only) */
	int max_width, desired_width;
};

bool compat_has_mode(const char *name)
{
	for (size_t i = 0; i < NMODES; i++)
		if (!strcmp(modes[i].name, name))
			return true;
	return false;
}

static void usage(struct cli *c, enum mode m) __attribute__((noreturn));

static void usage(struct cli *c, enum mode m)
{
	const char *extra = c->is_xstore && m == M_WATCH ? " [-d DEPTH]" : "";

	if (c->mode_name)
		errx(1, "Usage: %s %s %s%s", c->argv0, c->mode_name,
		     modes[m].usage, extra);
	errx(1, "Usage: %s %s%s", c->argv0, modes[m].usage, extra);
}

/* ---- read, write, rm, exists, list ---- */

static int do_read(struct cli *c, const struct opts *o, xstore_txn_t t,
                   const char *key)
{
	char *val;
	size_t len;

	if (xstore_read(c->h, t, key, &val, &len)) {
		warnx("couldn't read path %s", key);
		return 1;
	}
	if (o->prefix)
		out_printf(&c->out, "%s: ", key);
	if (o->raw) {
		out_bytes(&c->out, val, len);
	} else {
		cli_escape(&c->out, val, len);
		out_bytes(&c->out, "\n", 1);
	}
	free(val);
	return 0;
}

static int do_write(struct cli *c, const struct opts *o, xstore_txn_t t,
                    const char *key, const char *spec)
{
	size_t len = strlen(spec);
	char *val = malloc(len + 1);
	int err;

	if (!val)
		errx(1, "out of memory");
	if (o->raw)
		memcpy(val, spec, len);
	else
		len = cli_unescape(spec, val);
	err = xstore_write(c->h, t, key, val, len);
	free(val);
	if (err) {
		warnx("could not write path %s", key);
		return 1;
	}
	return 0;
}

static int rm_one(struct cli *c, xstore_txn_t t, const char *path)
{
	if (xstore_rm(c->h, t, path)) {
		warnx("could not remove path %s", path);
		return 1;
	}
	return 0;
}

/*
 * -t: after the node, each parent that is left with neither value nor
 * children goes too, up to the root.
 */
static int do_rm(struct cli *c, const struct opts *o, xstore_txn_t t,
                 const char *key)
{
	char *p, *slash;
	int ret = 0;

	if (!o->tidy)
		return rm_one(c, t, key);
	p = strdup(key);
	if (!p)
		errx(1, "out of memory");
	for (;;) {
		char *val, **d;
		size_t len;
		unsigned int n;

		ret = rm_one(c, t, p);
		if (ret)
			break;
		slash = strrchr(p, '/');
		if (!slash)
			break;
		*slash = '\0';
		if (xstore_read(c->h, t, p, &val, &len))
			break;
		free(val);
		if (len != 0 || xstore_directory(c->h, t, p, &d, &n))
			break;
		free(d);
		if (n != 0)
			break;
	}
	free(p);
	return ret;
}

static int do_exists(struct cli *c, xstore_txn_t t, const char *key)
{
	char *val;

	if (xstore_read(c->h, t, key, &val, NULL))
		return 1;
	free(val);
	return 0;
}

static int do_list(struct cli *c, const struct opts *o, xstore_txn_t t,
                   const char *key)
{
	unsigned int n;
	char **d;

	if (xstore_directory(c->h, t, key, &d, &n)) {
		warnx("could not list path %s", key);
		return 1;
	}
	for (unsigned int i = 0; i < n; i++) {
		if (o->prefix)
			out_printf(&c->out, "%s/", key);
		out_printf(&c->out, "%s\n", d[i]);
	}
	free(d);
	return 0;
}

/* ---- chmod ---- */

static void set_or_die(struct cli *c, xstore_txn_t t, const char *path,
                       const struct xstore_perm *perms, unsigned int n)
{
	int err = xstore_set_perms(c->h, t, path, perms, n);

	if (err)
		errx(1, "Error occurred setting permissions on '%s': %s", path,
		     strerror(-err));
}

/* Every node below `root`, parents before children, in list order. */
static void chmod_below(struct cli *c, xstore_txn_t t, const char *root,
                        const struct xstore_perm *perms, unsigned int n)
{
	size_t sp = 0, cap = 16;
	char **stack = malloc(cap * sizeof(char *));

	if (!stack || !(stack[sp++] = strdup(root)))
		errx(1, "out of memory");
	while (sp > 0) {
		char *path = stack[--sp], **d;
		unsigned int num;

		if (strcmp(path, root))
			set_or_die(c, t, path, perms, n);
		if (xstore_directory(c->h, t, path, &d, &num) == 0) {
			for (unsigned int i = num; i-- > 0;) {
				char *child =
				    malloc(strlen(path) + strlen(d[i]) + 2);

				if (!child)
					errx(1, "out of memory");
				sprintf(child, "%s/%s", path, d[i]);
				if (sp == cap) {
					cap *= 2;
					stack = realloc(stack,
					                cap * sizeof(char *));
					if (!stack)
						errx(1, "out of memory");
				}
				stack[sp++] = child;
			}
			free(d);
		}
		free(path);
	}
	free(stack);
}

static int do_chmod(struct cli *c, const struct opts *o, xstore_txn_t t,
                    int argc, char **argv)
{
	unsigned int n = (unsigned int)(argc - 1);
	struct xstore_perm *perms = calloc(n ? n : 1, sizeof(*perms));
	const char *key = argv[0];

	if (!perms)
		errx(1, "out of memory");
	/* All modes are checked before anything is changed. */
	for (unsigned int i = 0; i < n; i++) {
		const char *m = argv[i + 1];

		switch (m[0]) {
		case 'n':
			perms[i].access = XS_PERM_NONE;
			break;
		case 'r':
			perms[i].access = XS_PERM_READ;
			break;
		case 'w':
			perms[i].access = XS_PERM_WRITE;
			break;
		case 'b':
			perms[i].access = XS_PERM_BOTH;
			break;
		default:
			errx(1, "Invalid permission specification: '%c'", m[0]);
		}
		/* atoi, as the original: "r" is r0, "r-1" a huge domid. */
		perms[i].domid = (unsigned int)atoi(m + 1);
	}
	if (key[0]) {
		set_or_die(c, t, key, perms, n);
		if (o->upto) {
			char *p = strdup(key), *slash;

			if (!p)
				errx(1, "out of memory");
			for (;;) {
				slash = strrchr(p, '/');
				if (!slash)
					errx(1,
					     "Unable to locate path "
					     "separator '/' in '%s'",
					     p);
				*slash = '\0';
				if (!p[0])
					break;
				set_or_die(c, t, p, perms, n);
			}
			free(p);
		}
		if (o->recurse)
			chmod_below(c, t, key, perms, n);
	}
	free(perms);
	return 0;
}

/* ---- ls ---- */

static void ls_perms(struct cli *c, const char *path, const char *name)
{
	struct xstore_perm *p;
	char buf[XSTORE_PERM_STRLEN];
	unsigned int n;
	int err = xstore_get_perms(c->h, 0, path, &p, &n);

	if (err) {
		warnx("\ncould not access permissions for %s: %s", name,
		      strerror(-err));
		return;
	}
	fputs("  (", stdout);
	for (unsigned int i = 0; i < n; i++) {
		if (i)
			putchar(',');
		fputs(xstore_perm_format(&p[i], buf), stdout);
	}
	putchar(')');
	free(p);
}

/* One line of xenstore-ls: name (or whole path), value, permissions. */
static void ls_line(struct cli *c, const struct opts *o, const char *path,
                    const char *name, int depth)
{
	int linewid = 0;
	char *val, *esc;
	size_t len;

	if (o->whole_path) {
		fputs(path, stdout);
	} else {
		for (; linewid < depth; linewid++)
			putchar(' ');
		linewid +=
		    printf("%.*s", o->max_width - TAG_LEN - linewid, name);
	}
	if (xstore_read(c->h, 0, path, &val, &len)) {
		printf(":\n");
	} else {
		esc = cli_escape_str(val, len);
		/* Judged on the raw length, as the original does. */
		if ((long long)o->max_width <
		    (long long)linewid + (long long)len + TAG_LEN) {
			printf(" = \"%.*s\\...\"",
			       o->max_width - TAG_LEN - linewid, esc);
		} else {
			linewid += printf(" = \"%s\"", esc);
			if (o->prefix) {
				int stop = o->desired_width < o->max_width
				               ? o->desired_width
				               : o->max_width;

				putchar(' ');
				for (linewid++; linewid < stop; linewid++)
					putchar(linewid & 1 ? '.' : ' ');
			}
		}
		free(esc);
		free(val);
	}
	if (o->prefix)
		ls_perms(c, path, name);
	putchar('\n');
}

struct ls_frame {
	char *path;
	char **names;
	unsigned int n, i;
};

static void ls_tree(struct cli *c, const struct opts *o, const char *root)
{
	struct ls_frame *st;
	size_t sp = 0, cap = 16;
	int err;

	st = malloc(cap * sizeof(*st));
	if (!st)
		errx(1, "out of memory");
	st[0].path = strdup(root);
	st[0].i = 0;
	err = xstore_directory(c->h, 0, root, &st[0].names, &st[0].n);
	if (err)
		errx(1, "xs_directory (%s): %s", root, strerror(-err));
	sp = 1;
	while (sp > 0) {
		struct ls_frame *f = &st[sp - 1];
		const char *name, *sep;
		char *child, **names;
		unsigned int n;

		if (f->i == f->n) {
			free(f->path);
			free(f->names);
			sp--;
			continue;
		}
		name = f->names[f->i++];
		sep = f->path[0] && f->path[strlen(f->path) - 1] == '/' ? ""
		                                                        : "/";
		child = malloc(strlen(f->path) + strlen(name) + 2);
		if (!child)
			errx(1, "out of memory");
		sprintf(child, "%s%s%s", f->path, sep, name);
		ls_line(c, o, child, name, (int)(sp - 1));
		err = xstore_directory(c->h, 0, child, &names, &n);
		if (err == -EACCES) {
			/* Below the top, what we may not read is skipped. */
			free(child);
			continue;
		}
		if (err)
			errx(1, "xs_directory (%s): %s", child, strerror(-err));
		if (sp == cap) {
			cap *= 2;
			st = realloc(st, cap * sizeof(*st));
			if (!st)
				errx(1, "out of memory");
		}
		st[sp].path = child;
		st[sp].names = names;
		st[sp].n = n;
		st[sp].i = 0;
		sp++;
	}
	free(st);
}

/* ---- watch ---- */

struct watch_queue {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct wq_item *head, *tail;
};

struct wq_item {
	struct wq_item *next;
	char path[];
};

/* The callback only queues: nothing prints before every watch is set. */
static void watch_cb(struct xstore *h, struct xstore_watch *w, const char *path,
                     unsigned int flags, void *arg)
{
	struct watch_queue *q = arg;
	struct wq_item *it = malloc(sizeof(*it) + strlen(path) + 1);

	if (!it)
		return;
	strcpy(it->path, path);
	it->next = NULL;
	pthread_mutex_lock(&q->lock);
	if (q->tail)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

static int do_watch(struct cli *c, const struct opts *o, int argc, char **argv)
{
	struct watch_queue q = {PTHREAD_MUTEX_INITIALIZER,
	                        PTHREAD_COND_INITIALIZER, NULL, NULL};
	long count;

	for (int i = 0; i < argc; i++) {
		/* The original's token is the path: a repeat is EEXIST. */
		for (int j = 0; j < i; j++)
			if (!strcmp(argv[i], argv[j]))
				errx(1, "Unable to add watch on %s\n", argv[i]);
		if (xstore_watch_add(c->h, argv[i], o->depth, watch_cb, &q,
		                     NULL))
			errx(1, "Unable to add watch on %s\n", argv[i]);
	}
	for (count = 0; o->nr_events == -1 || count < o->nr_events; count++) {
		struct wq_item *it;

		pthread_mutex_lock(&q.lock);
		while (!q.head)
			pthread_cond_wait(&q.cond, &q.lock);
		it = q.head;
		q.head = it->next;
		if (!q.head)
			q.tail = NULL;
		pthread_mutex_unlock(&q.lock);
		printf("%s\n", it->path);
		fflush(stdout);
		free(it);
	}
	/* Stop the callbacks before the queue goes. */
	xstore_close(c->h);
	c->h = NULL;
	while (q.head) {
		struct wq_item *it = q.head;

		q.head = it->next;
		free(it);
	}
	return 0;
}

/* ---- the driver ---- */

static const struct option long_opts[] = {
    {"help", no_argument, NULL, 'h'},
    {"flat", no_argument, NULL, 'f'},
    {"socket", no_argument, NULL, 's'},
    {"prefix", no_argument, NULL, 'p'},
    {"tidy", no_argument, NULL, 't'},
    {"upto", no_argument, NULL, 'u'},
    {"recurse", no_argument, NULL, 'r'},
    {"number", required_argument, NULL, 'n'},
    {"raw", no_argument, NULL, 'R'},
    {"depth", required_argument, NULL, 'd'},
    {NULL, 0, NULL, 0},
};

static void parse(struct cli *c, enum mode m, struct opts *o, int argc,
                  char **argv)
{
	/* xstore adds -d; the xenstore-* names take exactly the originals. */
	const char *optstr = c->is_xstore ? "hfspturn:Rd:" : "hfspturn:R";
	const struct option *lo = long_opts;
	struct option plain[sizeof(long_opts) / sizeof(long_opts[0])];
	int ch;

	if (!c->is_xstore) {
		size_t k = 0;

		for (size_t i = 0; long_opts[i].name; i++)
			if (long_opts[i].val != 'd')
				plain[k++] = long_opts[i];
		memset(&plain[k], 0, sizeof(plain[k]));
		lo = plain;
	}
	optind = 0;
	while ((ch = getopt_long(argc, argv, optstr, lo, NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage(c, m);
		case 'f':
			if (m != M_LS)
				usage(c, m);
			o->max_width = 0x3fffffff;
			o->desired_width = 0;
			o->whole_path = true;
			break;
		case 's':
			/* Socket only: we never use anything else. */
			break;
		case 'p':
			if (m != M_READ && m != M_LIST && m != M_LS)
				usage(c, m);
			o->prefix = true;
			break;
		case 't':
			if (m != M_RM)
				usage(c, m);
			o->tidy = true;
			break;
		case 'u':
			if (m != M_CHMOD)
				usage(c, m);
			o->upto = true;
			break;
		case 'r':
			if (m != M_CHMOD)
				usage(c, m);
			o->recurse = true;
			break;
		case 'n':
			if (m != M_WATCH)
				usage(c, m);
			o->nr_events = atol(optarg);
			break;
		case 'R':
			if (m != M_READ && m != M_WRITE)
				usage(c, m);
			o->raw = true;
			break;
		case 'd':
			if (m != M_WATCH)
				usage(c, m);
			o->depth = atoi(optarg);
			break;
		default:
			/* getopt said why; the original carries on too. */
			break;
		}
	}
}

static int perform(struct cli *c, enum mode m, const struct opts *o,
                   xstore_txn_t t, int argc, char **argv)
{
	const char *root = "/";

	if (m == M_LS && argc == 0) {
		ls_tree(c, o, root);
		return 0;
	}
	if (m == M_CHMOD)
		return do_chmod(c, o, t, argc, argv);
	for (int i = 0; i < argc; i++) {
		int ret = 0;

		switch (m) {
		case M_READ:
			ret = do_read(c, o, t, argv[i]);
			break;
		case M_WRITE:
			ret = do_write(c, o, t, argv[i], argv[i + 1]);
			i++;
			break;
		case M_RM:
			ret = do_rm(c, o, t, argv[i]);
			break;
		case M_EXISTS:
			ret = do_exists(c, t, argv[i]);
			break;
		case M_LIST:
			ret = do_list(c, o, t, argv[i]);
			break;
		case M_LS:
			ls_tree(c, o, argv[i]);
			break;
		default:
			break;
		}
		if (ret)
			return ret;
	}
	return 0;
}

int compat_main(struct cli *c, const char *name, int argc, char **argv)
{
	struct opts o = {
	    .nr_events = -1, .depth = -1, .max_width = 80, .desired_width = 60};
	enum mode m = M_READ;
	bool use_txn;
	int nargs, ret, err;

	for (size_t i = 0; i < NMODES; i++)
		if (!strcmp(modes[i].name, name))
			m = (enum mode)i;
	parse(c, m, &o, argc, argv);
	nargs = argc - optind;
	argv += optind;
	if ((m == M_WRITE && nargs % 2 == 1) || (m != M_LS && nargs == 0))
		usage(c, m);
	switch (m) {
	case M_READ:
		use_txn = nargs > 1;
		break;
	case M_WRITE:
		use_txn = nargs > 2;
		break;
	case M_LS:
	case M_WATCH:
		use_txn = false;
		break;
	default:
		use_txn = true;
	}
	if (m == M_LS) {
		struct winsize ws;

		/* On a terminal, its width (even with -f, as the original). */
		memset(&ws, 0, sizeof(ws));
		if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)
			o.max_width = ws.ws_col - 2;
	}
	cli_connect(c);
	if (m == M_WATCH)
		return do_watch(c, &o, nargs, argv);

	for (;;) {
		xstore_txn_t t = XSTORE_TXN_NONE;

		if (use_txn && xstore_txn_start(c->h, &t))
			errx(1, "couldn't start transaction");
		c->out.len = 0;
		ret = perform(c, m, &o, t, nargs, argv);
		if (!use_txn)
			break;
		err = xstore_txn_end(c->h, t, ret == 0);
		if (!err)
			break;
		if (ret == 0 && err == -EAGAIN)
			continue;
		errx(1, "couldn't end transaction");
	}
	out_flush(&c->out);
	return ret;
}
