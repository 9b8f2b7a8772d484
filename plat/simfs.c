/*
 * simfs.c - files of the simulated platform: strict parsers and careful
 * file operations (see simfs.h and docs/sim.md).
 *
 * A guest controls its own directory, so nothing read from a file is
 * trusted: every open refuses symlinks (O_NOFOLLOW, one path component
 * at a time), text files are size-capped and parsed in full, and a FIFO
 * or regular file is checked to be one before use.  Writers never let a
 * reader see half a file: write to a ".tmp." name, then rename or link.
 * This guards against garbage and accidents; it is not an isolation
 * boundary between processes of one user (docs/sim.md says so).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fdio.h"
#include "plat/simfs.h"

#define FILE_MODE 0644
#define DIR_MODE  0755
#define FIFO_MODE 0600

int simfs_path(char *buf, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, SIM_PATH_MAX, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= SIM_PATH_MAX)
		return -ENAMETOOLONG;
	return 0;
}

/* An error of open(O_NOFOLLOW) on a symlink reads as "not that kind". */
static int open_err(int err, int kind_err)
{
	return err == ELOOP ? -kind_err : -err;
}

int simfs_dir_open(int root, const char *rel, int *fd)
{
	char comp[SIM_PATH_MAX];
	const char *s = rel;
	int cur = root;

	*fd = -1;
	while (*s) {
		size_t n = strcspn(s, "/");
		int next;

		if (n == 0 || n >= sizeof(comp)) {
			if (cur != root)
				close(cur);
			return -EINVAL;
		}
		memcpy(comp, s, n);
		comp[n] = '\0';
		next = openat(cur, comp,
		              O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0) {
			int err = open_err(errno, ENOTDIR);

			if (cur != root)
				close(cur);
			return err;
		}
		if (cur != root)
			close(cur);
		cur = next;
		s += n;
		if (*s == '/')
			s++;
	}
	if (cur == root)
		return -EINVAL;
	*fd = cur;
	return 0;
}

/* Read an open regular file (from offset 0) as simfs_read does. */
static int read_text_fd(int fd, char *buf, size_t size, size_t *len)
{
	struct stat st;
	size_t got = 0;

	*len = 0;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || size == 0)
		return -EINVAL;
	for (;;) {
		ssize_t n = pread(fd, buf + got, size - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
		if (got == size) /* no room for the nul: too long */
			return -EINVAL;
	}
	buf[got] = '\0';
	if (memchr(buf, '\0', got))
		return -EINVAL;
	*len = got;
	return 0;
}

int simfs_read(int dir, const char *name, char *buf, size_t size, size_t *len)
{
	int fd, err;

	*len = 0;
	fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return open_err(errno, EINVAL);
	err = read_text_fd(fd, buf, size, len);
	close(fd);
	return err;
}

int simfs_write(int dir, const char *name, const void *data, size_t len,
                bool is_exclusive)
{
	static unsigned int counter;
	char tmp[SIM_PATH_MAX + 48];
	unsigned int seq = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
	int fd, err, n;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld.%u", name, (long)getpid(),
	             seq);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = openat(dir, tmp,
	            O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	            FILE_MODE);
	if (fd < 0)
		return -errno;
	err = fd_write_all(fd, data, len);
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err) {
		if (is_exclusive)
			err = linkat(dir, tmp, dir, name, 0) < 0 ? -errno : 0;
		else
			err = renameat(dir, tmp, dir, name) < 0 ? -errno : 0;
	}
	if (err || is_exclusive)
		unlinkat(dir, tmp, 0);
	return err;
}

int simfs_unlink(int dir, const char *name)
{
	if (unlinkat(dir, name, 0) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int simfs_fifo_open(int dir, const char *name, int *fd)
{
	struct stat st;
	int f;

	*fd = -1;
	f = openat(dir, name, O_RDWR | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (f < 0)
		return open_err(errno, EINVAL);
	if (fstat(f, &st) < 0 || !S_ISFIFO(st.st_mode)) {
		close(f);
		return -EINVAL;
	}
	*fd = f;
	return 0;
}

int simfs_fifo_poke(int fd)
{
	const char b = 1;

	for (;;) {
		if (write(fd, &b, 1) == 1)
			return 0;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN ? 0 : -errno;
	}
}

int simfs_exc_raise(int fd, unsigned int domid)
{
	char line[16];
	int n = snprintf(line, sizeof(line), "%u\n", domid);

	for (;;) {
		if (write(fd, line, (size_t)n) == n)
			return 0;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN ? 0 : -errno;
	}
}

static void exc_add(struct plat_exc *out, unsigned int domid)
{
	if (out->is_all)
		return;
	for (unsigned int i = 0; i < out->n; i++)
		if (out->domid[i] == domid)
			return;
	if (out->n == PLAT_EXC_MAX)
		out->is_all = true;
	else
		out->domid[out->n++] = domid;
}

size_t simfs_exc_parse(const char *buf, size_t len, struct plat_exc *out)
{
	size_t used = 0;

	for (;;) {
		const char *nl = memchr(buf + used, '\n', len - used);
		unsigned int domid = 0;
		size_t i = used;

		if (!nl)
			return used;
		/* A domid: decimal, no sign, no leading zero but "0". */
		for (; buf + i < nl && buf[i] >= '0' && buf[i] <= '9'; i++)
			domid = domid * 10 + (unsigned int)(buf[i] - '0');
		if (buf + i != nl || i == used || i - used > 5 ||
		    (buf[used] == '0' && i - used > 1) || domid > SIM_DOMID_MAX)
			out->is_all = true;
		else
			exc_add(out, domid);
		used = (size_t)(nl - buf) + 1;
	}
}

void simfs_exc_take(int fd, struct plat_exc *out)
{
	/* A line is at most "32751\n": what a read cuts is carried. */
	char buf[4096];
	size_t have = 0, total = 0, used;
	int cap = fcntl(fd, F_GETPIPE_SZ);
	size_t full = cap > 0 ? (size_t)cap / 2 : sizeof(buf);

	out->is_all = false;
	out->n = 0;
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		total += (size_t)n;
		have += (size_t)n;
		used = simfs_exc_parse(buf, have, out);
		if (used == 0 && have == sizeof(buf)) {
			used = have; /* a line that long is not a domid */
			out->is_all = true;
		}
		memmove(buf, buf + used, have - used);
		have -= used;
	}
	/* An unfinished line names nothing; a pipe that was (nearly) full
	 * may have refused some writer's line.  Linux fills whole pages
	 * with small writes, and only the page being read can be partly
	 * free, so a writer refused leaves at least half the capacity. */
	if (have || total >= full)
		out->is_all = true;
}

bool simfs_fifo_take(int fd)
{
	/* One read takes what a busy guest's notifies pile up between two
	 * turns: only a full buffer needs another. */
	char buf[512];
	bool has_event = false;

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0)
			has_event = true;
		if (n != (ssize_t)sizeof(buf))
			return has_event;
	}
}

int simfs_page_map(int dir, const char *name, bool is_writable, void *at,
                   void **addr)
{
	struct stat st;
	void *p;
	int fd, err = 0;

	*addr = NULL;
	fd = openat(dir, name,
	            (is_writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW |
	                O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return open_err(errno, EINVAL);
	if (fstat(fd, &st) < 0)
		err = -errno;
	else if (!S_ISREG(st.st_mode) || st.st_size != PLAT_PAGE_SIZE)
		err = -EINVAL;
	if (!err) {
		p = mmap(at, PLAT_PAGE_SIZE,
		         PROT_READ | (is_writable ? PROT_WRITE : 0),
		         MAP_SHARED | (at ? MAP_FIXED : 0), fd, 0);
		if (p == MAP_FAILED)
			err = -errno;
		else
			*addr = p;
	}
	close(fd);
	return err;
}

/*
 * Grant files double as the record of who maps them: a mapper holds an
 * OFD read lock on the whole file for as long as its mapping lives (the
 * lock goes with the open file description, so it vanishes when the
 * mapper closes it or dies), and whoever ends the grant must first take
 * the write lock, which it holds across the unlink.  So a mapper that got
 * its read lock either sees the file already unlinked or keeps the grant
 * from ending; no window lets a mapping outlive its grant unseen.
 */
static int ofd_lock(int fd, short type)
{
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET};

	if (fcntl(fd, F_OFD_SETLK, &fl) < 0)
		return errno == EACCES || errno == EAGAIN ? -EBUSY : -errno;
	return 0;
}

/* Is `fd` still the file called `name` in `dir`? */
static bool is_linked_as(int dir, const char *name, int fd)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && a.st_nlink > 0 &&
	       fstatat(dir, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int simfs_grant_hold(int dir, const char *name, char *buf, size_t size, int *fd)
{
	size_t len;
	int f, err;

	*fd = -1;
	f = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (f < 0)
		return open_err(errno, EINVAL);
	err = read_text_fd(f, buf, size, &len); /* checks: a regular file */
	if (!err) {
		err = ofd_lock(f, F_RDLCK);
		if (err == -EBUSY) /* being ended right now */
			err = -ENOENT;
	}
	/* Read again under the lock: the text a mapper acts on is the
	 * text of a grant that cannot end while the lock is held. */
	if (!err && !is_linked_as(dir, name, f))
		err = -ENOENT;
	if (!err)
		err = read_text_fd(f, buf, size, &len);
	if (err) {
		close(f);
		return err;
	}
	*fd = f;
	return 0;
}

int simfs_grant_end(int dir, const char *name)
{
	int f, err;

	f = openat(dir, name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (f < 0)
		return open_err(errno, EINVAL);
	err = ofd_lock(f, F_WRLCK);
	if (!err && !is_linked_as(dir, name, f))
		err = -ENOENT; /* somebody else ended it meanwhile */
	if (!err && unlinkat(dir, name, 0) < 0)
		err = -errno;
	close(f); /* drops the write lock, after the unlink */
	return err;
}

static int rmtree_at(int dir, const char *name, int depth)
{
	struct dirent *e;
	DIR *d;
	int fd, err = 0;

	if (unlinkat(dir, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -errno;
	if (depth == 0)
		return -ENOTEMPTY;
	fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		err = -errno;
		close(fd);
		return err;
	}
	while ((e = readdir(d)) != NULL) {
		int r;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		r = rmtree_at(dirfd(d), e->d_name, depth - 1);
		if (r && !err)
			err = r;
	}
	closedir(d);
	if (!err && unlinkat(dir, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		err = -errno;
	return err;
}

int simfs_rmtree(int dir, const char *name)
{
	return rmtree_at(dir, name, 3);
}

/* ---- parsers ---- */

static bool is_end(const char *s)
{
	return s[0] == '\0' || (s[0] == '\n' && s[1] == '\0');
}

int simfs_parse_num(const char **s, uint64_t max, uint64_t *out)
{
	const char *p = *s;
	uint64_t v = 0;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	if (*p == '0' && p[1] >= '0' && p[1] <= '9')
		return -EINVAL; /* leading zero */
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned int d = (unsigned int)(*p - '0');

		if (d > max || v > (max - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*s = p;
	*out = v;
	return 0;
}

int simfs_parse_name_num(const char *name, uint64_t min, uint64_t max,
                         uint64_t *out)
{
	const char *s = name;
	uint64_t v;

	if (simfs_parse_num(&s, max, &v) || *s || v < min)
		return -EINVAL;
	*out = v;
	return 0;
}

static const char *const state_names[] = {
    [PLAT_DOM_RUNNING] = "running",
    [PLAT_DOM_SHUTDOWN] = "shutdown",
    [PLAT_DOM_DYING] = "dying",
    [PLAT_DOM_SUSPENDED] = "suspended",
};

int simfs_parse_state(const char *text, enum plat_dom_state *out)
{
	for (size_t i = 0; i < sizeof(state_names) / sizeof(*state_names);
	     i++) {
		size_t n = strlen(state_names[i]);

		if (!strncmp(text, state_names[i], n) && is_end(text + n)) {
			*out = (enum plat_dom_state)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *simfs_state_name(enum plat_dom_state st)
{
	if ((size_t)st < sizeof(state_names) / sizeof(*state_names))
		return state_names[st];
	return "?";
}

int simfs_parse_grant(const char *text, uint64_t *gfn, unsigned int *grantee,
                      bool *is_writable)
{
	const char *s = text;
	uint64_t g, d;

	if (simfs_parse_num(&s, SIM_GFN_MAX, &g) || *s++ != ' ' ||
	    simfs_parse_num(&s, SIM_DOMID_MAX, &d) || *s++ != ' ')
		return -EINVAL;
	if (!strncmp(s, "rw", 2))
		*is_writable = true;
	else if (!strncmp(s, "ro", 2))
		*is_writable = false;
	else
		return -EINVAL;
	if (!is_end(s + 2))
		return -EINVAL;
	*gfn = g;
	*grantee = (unsigned int)d;
	return 0;
}

int simfs_parse_peer(const char *text, unsigned int *domid, unsigned int *port)
{
	const char *s = text;
	uint64_t d, p;

	if (simfs_parse_num(&s, SIM_DOMID_MAX, &d) || *s++ != ' ' ||
	    simfs_parse_num(&s, SIM_PORT_MAX, &p) || p == 0 || !is_end(s))
		return -EINVAL;
	*domid = (unsigned int)d;
	*port = (unsigned int)p;
	return 0;
}

int simfs_parse_domid(const char *text, unsigned int *domid)
{
	const char *s = text;
	uint64_t d;

	if (simfs_parse_num(&s, SIM_DOMID_MAX, &d) || !is_end(s))
		return -EINVAL;
	*domid = (unsigned int)d;
	return 0;
}

/* One "key=<number>" line at *s; advances past it and its '\n'. */
static int parse_key(const char **s, uint64_t min, uint64_t max, bool *seen,
                     uint64_t *out)
{
	if (*seen || simfs_parse_num(s, max, out) || *out < min)
		return -EINVAL;
	if (**s == '\n')
		(*s)++;
	else if (**s != '\0')
		return -EINVAL;
	*seen = true;
	return 0;
}

int simfs_parse_start_info(const char *text, struct plat_start_info *out)
{
	static const char k_gfn[] = "store_gfn=", k_port[] = "store_evtchn=";
	bool has_gfn = false, has_port = false;
	uint64_t gfn = 0, port = 0;
	const char *s = text;

	while (*s) {
		int err = 0;

		if (!strncmp(s, k_gfn, sizeof(k_gfn) - 1)) {
			s += sizeof(k_gfn) - 1;
			err = parse_key(&s, 0, SIM_GFN_MAX, &has_gfn, &gfn);
		} else if (!strncmp(s, k_port, sizeof(k_port) - 1)) {
			s += sizeof(k_port) - 1;
			err = parse_key(&s, 1, SIM_PORT_MAX, &has_port, &port);
		} else { /* another key: skip the line */
			s += strcspn(s, "\n");
			if (*s)
				s++;
		}
		if (err)
			return err;
	}
	if (!has_gfn || !has_port)
		return -EINVAL;
	out->store_gfn = gfn;
	out->store_evtchn = (unsigned int)port;
	return 0;
}

int simfs_fifo_make(int dir, const char *name)
{
	return mkfifoat(dir, name, FIFO_MODE) < 0 ? -errno : 0;
}

int simfs_mkdir(int dir, const char *name)
{
	return mkdirat(dir, name, DIR_MODE) < 0 ? -errno : 0;
}

/* ---- dom0 ---- */

static int mkdir_ok(int dir, const char *name)
{
	int err = simfs_mkdir(dir, name);

	return err == -EEXIST ? 0 : err;
}

int simfs_ensure_dom0(int root)
{
	static const char *const subdirs[] = {"page", "grant", "evtchn"};
	static const char running[] = "running\n", name[] = "Domain-0\n";
	int dir, err;

	err = mkdir_ok(root, "dom0");
	if (!err)
		err = simfs_dir_open(root, "dom0", &dir);
	if (err)
		return err;
	for (size_t i = 0; !err && i < sizeof(subdirs) / sizeof(*subdirs); i++)
		err = mkdir_ok(dir, subdirs[i]);
	if (!err) {
		err = simfs_write(dir, "state", running, sizeof(running) - 1,
		                  true);
		if (err == -EEXIST)
			err = 0;
	}
	if (!err) {
		err = simfs_write(dir, "name", name, sizeof(name) - 1, true);
		if (err == -EEXIST)
			err = 0;
	}
	close(dir);
	if (!err) {
		err = simfs_fifo_make(root, SIM_VIRQ_DOM_EXC);
		if (err == -EEXIST)
			err = 0;
	}
	return err;
}
