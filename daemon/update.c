/*
 * update.c - live update (update.h): CONTROL live-update as Xen's
 * xenstore-control drives it (-f FILE, -c OPTIONS, -s [-t SEC] [-F],
 * -a; BUSY while the journal is being compacted: open transactions go
 * across and need no waiting), the probe of the new binary,
 * and the exec at the loop's safe point, with the stream (update_stream.c)
 * in a memfd and every socket fd kept open across it.  The new binary
 * answers the -s.  Whatever fails before the exec leaves this daemon
 * serving; a successor that cannot load the stream execs us back.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/num.h"
#include "common/xalloc.h"
#include "daemon/conn.h"
#include "daemon/loop.h"
#include "daemon/persist.h"
#include "daemon/state.h"
#include "daemon/update.h"
#include "daemon/update_int.h"
#include "store/store.h"

extern char **environ;

/* The options a predecessor adds to our command line. */
#define OPT_FD    "--live-update-fd="
#define OPT_ERROR "--live-update-error="
/* What the previous binary, back, answers the -s with (then why). */
#define FALL_BACK_WHY "the new binary cannot load the state: "

/* How long the probe of a new binary may take. */
#define PROBE_MS 5000
/* Xen's default for -t. */
#define TIMEOUT_DEFAULT_S 60u
#define ARGS_MAX          256

static bool is_ours(const char *arg);

/* argv of the new binary: FILE, the -c options (split at blanks, in
 * `copy`, a copy of them) or ours, and `last` (the stream's fd option,
 * or the probe's).  NULL-terminated, into args[max]. */
static void build_argv(const struct update *u, char *copy, char *last,
                       char **args, size_t max)
{
	size_t n = 0;

	args[n++] = u->file;
	if (u->cmdline) {
		for (char *save = NULL, *t = strtok_r(copy, " \t\n", &save);
		     t && n < max - 2; t = strtok_r(NULL, " \t\n", &save))
			if (!is_ours(t))
				args[n++] = t;
	} else {
		for (int i = 1; i < u->argc && n < max - 2; i++)
			args[n++] = u->argv[i];
	}
	args[n++] = last;
	args[n] = NULL;
}

/* ---- the probe ---- */

/*
 * Is argv[0] an xstored that reads our stream and takes the options in
 * argv (the last: --state-format)?  It runs argv and reads its answer.
 * 0, or -errno with the reason in why[size].
 */
static int probe(char *const *argv, unsigned int format, char *why, size_t size)
{
	const char *file = argv[0];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char buf[128], expect[64];
	size_t got = 0;
	int pfd[2], err;
	sigset_t none;
	struct stat st;
	pid_t pid;

	if (file[0] != '/') {
		snprintf(why, size, "%s: not an absolute path", file);
		return -EINVAL;
	}
	if (stat(file, &st) < 0 || access(file, X_OK) < 0) {
		err = errno;
		snprintf(why, size, "%s: %s", file, strerror(err));
		return -err;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, size, "%s: not a regular file", file);
		return -EINVAL;
	}
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	sigemptyset(&none);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null",
	                                 O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null",
	                                 O_WRONLY, 0);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
	err = posix_spawn(&pid, file, &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(pfd[1]);
	if (err) {
		close(pfd[0]);
		snprintf(why, size, "%s: cannot run it: %s", file,
		         strerror(err));
		return -err;
	}
	for (uint64_t end = loop_now_ms() + PROBE_MS; got < sizeof(buf) - 1;) {
		struct pollfd p = {pfd[0], POLLIN, 0};
		uint64_t now = loop_now_ms();
		ssize_t n;

		if (now >= end || poll(&p, 1, (int)(end - now)) <= 0)
			break;
		n = read(pfd[0], buf + got, sizeof(buf) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	close(pfd[0]);
	kill(pid, SIGKILL); /* gone already, unless it hangs */
	waitpid(pid, NULL, 0);
	snprintf(expect, sizeof(expect), "xstored state-format %u\n", format);
	if (!strcmp(buf, expect))
		return 0;
	if (!strncmp(buf, "xstored state-format ", 21))
		snprintf(why, size,
		         "%s writes and reads state format %.*s, this daemon "
		         "%u: refused",
		         file, (int)strcspn(buf + 21, "\n"), buf + 21, format);
	else
		snprintf(why, size,
		         "%s is not an xstored that can take the state over "
		         "(it does not answer --state-format), or refuses "
		         "the options (-c)",
		         file);
	return -ENOEXEC;
}

void update_print_format(unsigned int format)
{
	printf("xstored state-format %u\n",
	       format ? format : UPDATE_STREAM_VERSION);
}

/* ---- CONTROL live-update ---- */

static void reset(struct update *u)
{
	xfree(u->file);
	xfree(u->cmdline);
	u->file = u->cmdline = NULL;
	u->started_ms = 0;
	u->is_due = false;
	u->is_probed = false;
}

static int answer(char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int answer(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, size, fmt, ap);
	va_end(ap);
	return 1;
}

static int set_str(char **dst, const char *src)
{
	char *s = xstrdup(src);

	if (!s)
		return -ENOMEM;
	xfree(*dst);
	*dst = s;
	return 0;
}

/* Is the file as it was when it was last probed with these options? */
static bool is_probed(const struct update *u)
{
	struct stat st;

	return u->is_probed && stat(u->file, &st) == 0 &&
	       st.st_dev == u->probed.st_dev && st.st_ino == u->probed.st_ino &&
	       st.st_size == u->probed.st_size &&
	       st.st_mtim.tv_sec == u->probed.st_mtim.tv_sec &&
	       st.st_mtim.tv_nsec == u->probed.st_mtim.tv_nsec &&
	       st.st_ctim.tv_sec == u->probed.st_ctim.tv_sec &&
	       st.st_ctim.tv_nsec == u->probed.st_ctim.tv_nsec;
}

/*
 * Probe u->file with the options it will get, unless it passed already
 * and has not changed since: the probe (a process start) stops the loop,
 * so it is done at -f and -c, and -s, which clients wait on, only checks
 * the file.  0 or -errno (why[size]).
 */
static int probe_update(struct update *u, char *why, size_t size)
{
	char *copy, *args[ARGS_MAX];
	struct stat st;
	int err;

	if (is_probed(u))
		return 0;
	u->is_probed = false;
	copy = u->cmdline ? xstrdup(u->cmdline) : NULL;
	if (u->cmdline && !copy)
		return -ENOMEM;
	build_argv(u, copy, "--state-format", args, ARGS_MAX);
	/* The file as probed: stat first, a change after it shows. */
	err = stat(u->file, &st) < 0 ? -errno : 0;
	if (!err)
		err = probe(args, u->format, why, size);
	xfree(copy);
	if (!err) {
		u->probed = st;
		u->is_probed = true;
	}
	return err;
}

/* -s [-t SEC] [-F]: accepted (0: the exec comes at the end of the
 * turn, and the new binary answers), or an answer now. */
static int start(struct daemon *d, struct conn *c,
                 const struct xs_wire_hdr *hdr, unsigned int argc,
                 const char *const *argv, char *out, size_t size)
{
	struct update *u = d->update;
	unsigned long timeout = TIMEOUT_DEFAULT_S;
	int err;
	char why[400];
	uint64_t now = loop_now_ms();

	for (unsigned int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-F"))
			continue; /* nothing to force: see below */
		if (!strcmp(argv[i], "-t") && i + 1 < argc &&
		    !parse_uint(argv[i + 1], 86400, &timeout))
			i++;
		else
			return answer(out, size,
			              "live-update -s: unknown option %s "
			              "(-t <seconds>, -F)",
			              argv[i]);
	}
	if (!u->file)
		return answer(out, size,
		              "live-update -s: no new binary given (-f <file> "
		              "first)");
	if (u->is_due)
		return answer(out, size, "BUSY"); /* another -s this turn */
	if (c->kind != CONN_SOCKET)
		return answer(out, size,
		              "live-update -s: only from a socket connection");
	if (!u->started_ms)
		u->started_ms = now;
	/*
	 * xenstore.txt: -s waits (-t) for transactions to finish unless
	 * -F.  Here open transactions go across the update and go on
	 * (session_save_txn), so there is nothing to wait for: -t and -F
	 * are accepted and only a running compaction of the journal (its
	 * child holds the lock) makes the answer BUSY.
	 */
	if (persist_is_busy(d)) {
		if (now - u->started_ms < timeout * 1000)
			return answer(out, size, "BUSY");
		/* The clock goes on (until -f or -a). */
		return answer(out, size,
		              "live-update: timeout: the journal is being "
		              "compacted or cannot be written");
	}
	err = probe_update(u, why, sizeof(why));
	if (err)
		return answer(out, size, "live-update: %s", why);
	u->is_due = true;
	u->conn_id = c->id;
	u->req_id = hdr->req_id;
	u->tx_id = hdr->tx_id;
	/* Its next requests wait for the answer, which comes after the
	 * exec: replies stay in order. */
	conn_pause_for(c, 1);
	return 0;
}

static int live_update(struct daemon *d, struct conn *c,
                       const struct xs_wire_hdr *hdr, unsigned int argc,
                       const char *const *argv, char *out, size_t size)
{
	struct update *u = d->update;
	char why[400];

	if (argc < 1)
		return -EINVAL;
	if (!strcmp(argv[0], "-f") && argc == 2) {
		if (set_str(&u->file, argv[1]))
			return -ENOMEM;
		u->started_ms = 0;
		u->is_probed = false;
		if (probe_update(u, why, sizeof(why))) {
			reset(u);
			return answer(out, size, "live-update: %s", why);
		}
		log_info("live update: new binary %s", u->file);
		return answer(out, size, "OK");
	}
	if (!strcmp(argv[0], "-c") && argc == 2) {
		if (set_str(&u->cmdline, argv[1]))
			return -ENOMEM;
		u->is_probed = false;
		if (u->file && probe_update(u, why, sizeof(why))) {
			xfree(u->cmdline);
			u->cmdline = NULL;
			return answer(out, size, "live-update: %s", why);
		}
		return answer(out, size, "OK");
	}
	if (!strcmp(argv[0], "-s"))
		return start(d, c, hdr, argc, argv, out, size);
	if (!strcmp(argv[0], "-a") && argc == 1) {
		if (u->file)
			log_info("live update: aborted");
		reset(u);
		return answer(out, size, "OK");
	}
	if (!strcmp(argv[0], "-b") || !strcmp(argv[0], "-d"))
		return answer(out, size,
		              "live-update %s: refused: -b and -d carry the "
		              "binary of a xenstore stub domain, and xstored "
		              "runs in domain 0: give its file with -f <file>",
		              argv[0]);
	return answer(out, size,
	              "live-update: unknown or incomplete parameters (-f "
	              "<file>, -c <options>, -s [-t <sec>] [-F], -a)");
}

/* ---- the exec ---- */

static bool is_ours(const char *arg)
{
	return !strncmp(arg, OPT_FD, strlen(OPT_FD)) ||
	       !strncmp(arg, OPT_ERROR, strlen(OPT_ERROR)) ||
	       !strcmp(arg, "-U") || !strcmp(arg, "--live-update");
}

int update_init(struct daemon *d, int argc, char *const *argv,
                unsigned int format)
{
	struct update *u = xcalloc(1, sizeof(*u));

	if (!u)
		return -ENOMEM;
	u->format = format ? format : UPDATE_STREAM_VERSION;
	u->argv = xcalloc((size_t)argc + 1, sizeof(*u->argv));
	if (!u->argv) {
		xfree(u);
		return -ENOMEM;
	}
	d->update = u;
	for (int i = 0; i < argc; i++) {
		if (i && is_ours(argv[i]))
			continue;
		u->argv[u->argc] = xstrdup(argv[i]);
		if (!u->argv[u->argc]) {
			update_fini(d);
			return -ENOMEM;
		}
		u->argc++;
	}
	d->live_update = live_update;
	return 0;
}

void update_fini(struct daemon *d)
{
	struct update *u = d->update;

	if (!u)
		return;
	reset(u);
	for (int i = 0; i < u->argc; i++)
		xfree(u->argv[i]);
	xfree(u->argv);
	xfree(u);
	d->update = NULL;
	d->live_update = NULL;
}

static int set_cloexec(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFD);

	if (fl < 0)
		return -errno;
	fl = on ? fl | FD_CLOEXEC : fl & ~FD_CLOEXEC;
	return fcntl(fd, F_SETFD, fl) < 0 ? -errno : 0;
}

/* Keep (or no longer keep) every fd the stream names across the exec. */
static int keep_fds(struct daemon *d, bool keep)
{
	int err = 0;

	if (d->sock_fd >= 0)
		err = set_cloexec(d->sock_fd, !keep);
	if (!err && d->sock_ro_fd >= 0)
		err = set_cloexec(d->sock_ro_fd, !keep);
	for (struct conn *c = d->conns; c && !err; c = c->next)
		if (c->kind == CONN_SOCKET && !c->is_dead && c->fd >= 0)
			err = set_cloexec(c->fd, !keep);
	return err;
}

/* Hand over and exec; returns only on failure (-errno, why[size]). */
static int handover(struct daemon *d, struct update *u, char *why, size_t size)
{
	struct conn *pending = NULL;
	char fd_opt[64], *copy = NULL, *args[ARGS_MAX];
	int memfd, exe_fd, err;
	uint64_t t0;

	for (struct conn *c = d->conns; c; c = c->next)
		if (c->id == u->conn_id && !c->is_dead)
			pending = c;
	memfd = memfd_create("xstored-live-update", 0);
	if (memfd < 0) {
		err = -errno;
		snprintf(why, size, "memfd_create: %s", strerror(-err));
		return err;
	}
	/* Our binary, kept open across the exec: a successor that cannot
	 * load the stream comes back to it, even if the file was
	 * replaced meanwhile. */
	exe_fd = open("/proc/self/exe", O_PATH);
	if (exe_fd < 0) {
		err = -errno;
		snprintf(why, size,
		         "cannot keep this binary open to come back to: %s",
		         strerror(-err));
		goto out;
	}
	t0 = loop_now_us();
	/* The sessions carry their unread input; the successor must not
	 * find what it holds on the sockets too. */
	conn_settle_all(d);
	err = ustream_write(d, u, memfd, exe_fd, pending);
	if (err) {
		snprintf(why, size, "cannot write the state: %s",
		         strerror(-err));
		goto out;
	}
	if (lseek(memfd, 0, SEEK_SET) < 0 ||
	    (u->cmdline && !(copy = xstrdup(u->cmdline)))) {
		err = -errno;
		snprintf(why, size, "cannot prepare the exec: %s",
		         strerror(-err));
		goto out;
	}
	snprintf(fd_opt, sizeof(fd_opt), OPT_FD "%d", memfd);
	build_argv(u, copy, fd_opt, args, ARGS_MAX);
	err = keep_fds(d, true);
	if (err) {
		snprintf(why, size, "cannot keep the sockets open: %s",
		         strerror(-err));
		goto out_fds;
	}
	log_info("live update: exec %s (stream of %lld bytes, written in "
	         "%.1f ms)",
	         u->file, (long long)lseek(memfd, 0, SEEK_END),
	         (double)(loop_now_us() - t0) / 1e3);
	lseek(memfd, 0, SEEK_SET);
	/* Tests: an exec that fails (the -s must get the error). */
	execve(getenv("XSTORED_TEST_EXEC_FAIL") ? "/nonexistent/xstored"
	                                        : u->file,
	       args, environ);
	err = -errno;
	snprintf(why, size, "cannot exec %s: %s", u->file, strerror(-err));
out_fds:
	keep_fds(d, false);
out:
	xfree(copy);
	close(memfd);
	if (exe_fd >= 0)
		close(exe_fd);
	return err;
}

void update_end_turn(struct daemon *d)
{
	struct update *u = d->update;
	char why[512], ans[600];

	if (!u || !u->is_due)
		return;
	u->is_due = false;
	if (handover(d, u, why, sizeof(why)) == 0) {
		return;
	} else {
		log_err("live update: aborted, serving on: %s", why);
		snprintf(ans, sizeof(ans), "live-update: %s", why);
	}
	for (struct conn *c = d->conns; c; c = c->next) {
		if (c->id != u->conn_id || c->is_dead)
			continue;
		if (conn_send(c, XS_CONTROL, u->req_id, u->tx_id, ans,
		              strlen(ans) + 1, false))
			conn_kill(c, "out of memory answering -s");
		conn_flush_all(d);
	}
	if (strcmp(ans, "BUSY"))
		reset(u);
}

/* ---- the new binary's side ---- */

static int map_stream(int fd, void **buf, size_t *len)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size <= 0)
		return -EINVAL;
	*len = (size_t)st.st_size;
	*buf = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0);
	return *buf == MAP_FAILED ? -errno : 0;
}

/*
 * Decode the stream in a child first (ustream_verify): a new binary
 * that crashes on it (a bug in its loader) crashes there, and this
 * process, which has touched nothing yet, goes back to the old binary
 * instead of leaving no daemon.  The pause grows by the decode (the
 * tree's load: ~0.5 s at 1 M nodes).  0, or -errno with why[size].
 */
static int verify_in_child(const void *buf, size_t len, unsigned int format,
                           bool is_test_crash, char *why, size_t size)
{
	int pfd[2], status = 0;
	ssize_t n;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return 0; /* no check, no worse than before it existed */
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return 0;
	}
	if (pid == 0) {
		int err;

		close(pfd[0]);
		if (is_test_crash)
			raise(SIGKILL);
		err = ustream_verify(buf, len, format, why, size);
		if (err && write(pfd[1], why, strlen(why)) < 0)
			_exit(2);
		_exit(err ? 1 : 0);
	}
	close(pfd[1]);
	n = read(pfd[0], why, size - 1);
	why[n > 0 ? n : 0] = '\0';
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(status)) {
		snprintf(why, size, "it crashed loading the state (signal %d)",
		         WTERMSIG(status));
		return -EIO;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		if (!*why)
			snprintf(why, size, "it cannot load the state");
		return -EINVAL;
	}
	return 0;
}

int update_load(struct daemon *d, int fd, const char *error, char *why,
                size_t size)
{
	struct update *u = d->update;
	struct ustream_head h;
	uint64_t t0 = loop_now_us();
	/* Tests: this binary's loader crashes, in the check and in the
	 * load (once: the previous binary coming back does not inherit
	 * it). */
	bool is_test_crash = !error && getenv("XSTORED_TEST_LOAD_CRASH");
	void *buf;
	size_t len;
	int err = map_stream(fd, &buf, &len);

	unsetenv("XSTORED_TEST_LOAD_CRASH");
	if (err) {
		snprintf(why, size, "cannot read the stream (fd %d): %s", fd,
		         strerror(-err));
		log_err("live update: %s", why);
		return err;
	}
	err = ustream_head(buf, len, &h);
	/* The previous binary coming back loads without a check: there is
	 * nowhere else to go. */
	if (!err && !error) {
		err = verify_in_child(buf, len, u->format, is_test_crash, why,
		                      size);
		if (err) {
			log_err("live update: %s", why);
			ustream_head_free(&h);
			munmap(buf, len);
			return err;
		}
	}
	if (!err) {
		if (is_test_crash)
			raise(SIGKILL);
		err = ustream_load(d, buf, len, u->format, error, why, size);
		if (err)
			log_err("live update: cannot load the state: %s", why);
		else if (h.exe_fd >= 0)
			close(h.exe_fd);
		ustream_head_free(&h);
	} else {
		snprintf(why, size, "fd %d holds no stream", fd);
		log_err("live update: %s", why);
	}
	munmap(buf, len);
	if (err)
		return err;
	close(fd);
	if (error)
		log_warn("live update: the new binary failed (%s): this one "
		         "serves on",
		         error);
	log_info("live update: state taken over in %.1f ms: %u connections",
	         (double)(loop_now_us() - t0) / 1e3, d->nr_conns);
	return 0;
}

void update_fall_back(int fd, const char *why)
{
	struct ustream_head h;
	char fd_opt[64], *err_opt, **args;
	size_t n = 0, argc = 0;
	void *buf;
	size_t len;

	if (map_stream(fd, &buf, &len))
		return;
	if (ustream_head(buf, len, &h)) {
		munmap(buf, len);
		return;
	}
	munmap(buf, len);
	while (h.argv[argc])
		argc++;
	args = xcalloc(argc + 3, sizeof(*args));
	size_t err_size = strlen(OPT_ERROR FALL_BACK_WHY) + strlen(why) + 1;

	err_opt = xmalloc(err_size);
	if (h.exe_fd < 0 || !args || !err_opt)
		goto out;
	snprintf(fd_opt, sizeof(fd_opt), OPT_FD "%d", fd);
	snprintf(err_opt, err_size, OPT_ERROR FALL_BACK_WHY "%s", why);
	for (size_t i = 0; i < argc; i++)
		args[n++] = h.argv[i];
	args[n++] = fd_opt;
	args[n++] = err_opt;
	args[n] = NULL;
	log_err("live update: going back to the previous binary");
	execveat(h.exe_fd, "", args, environ, AT_EMPTY_PATH);
	log_err("live update: cannot exec the previous binary: %s",
	        strerror(errno));
out:
	xfree(args);
	xfree(err_opt);
	ustream_head_free(&h);
}
