/*
 * sock.c - the unix-socket transport: listening on <rundir>/socket and
 * <rundir>/socket_ro, accepting, and moving bytes for the connections.
 *
 * Owns the listening fds (d->sock_fd, d->sock_ro_fd, -1 when closed), the
 * socket files, and per connection a struct sock_conn holding the fd's
 * loop interest.  Every fd is non-blocking and close-on-exec; writes use
 * MSG_NOSIGNAL so a vanished peer is an error, never a signal.  Requests
 * are read by peeking and taken off the socket once answered
 * (sock_settle), so that a client asleep in read(2) is woken by its
 * reply alone.  It knows bytes only: framing is conn.c's.  Under socket
 * activation the listening fds come from the service manager, which
 * keeps the files.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/num.h"
#include "common/xalloc.h"
#include "daemon/conn.h"
#include "daemon/state.h"
#include "daemon/loop.h"
#include "daemon/sock.h"

/*
 * Room for bursts of tools connecting at once (scripts run many
 * xenstore-* in parallel); Xen's backlog of 1 makes them queue in
 * connect().  The kernel caps it at net.core.somaxconn.
 */
#define SOCK_BACKLOG 128

/* Connections accepted per wakeup, so a connect storm cannot starve the
 * clients already served. */
#define SOCK_ACCEPT_BATCH 32

/* After running out of fds, wait this long before accepting again
 * (and logging again: at most two warnings a second)
 * (level-triggered epoll would otherwise spin on the pending connect). */
#define SOCK_ACCEPT_RETRY_MS 500

struct sock_conn {
	unsigned int events; /* LOOP_IN | LOOP_OUT now asked of the loop */
	/* Requests are read with MSG_PEEK (the socket's SO_PEEK_OFF moves
	 * past them) and taken off by sock_settle once their replies are
	 * out; false where the kernel cannot peek at an offset. */
	bool is_peeking;
	size_t peeked;         /* bytes read by peeking, not yet taken off */
	bool was_slow;         /* the last write took long: we were preempted */
	unsigned int deferred; /* settles put off in a row */
};

/*
 * A write of replies that took longer than this was preempted, most
 * likely by the client it woke, on our CPU.  A write of replies takes
 * under 1.5 us (Xeon VM, the client on another CPU); a client's turn in
 * between is its recv, its send and its own work.  8 us missed that
 * turn on a faster CPU (test_sock shared_cpu: 1.97 sleeps per request
 * instead of 1.1); 3 us catches it and leaves the other CPU's case at
 * 1.00.
 */
#define SOCK_SLOW_WRITE_NS 3000u
/* Settles put off in a row at most: then the client is woken once for
 * nothing, and its requests stop holding its send buffer. */
#define SOCK_DEFER_MAX 8u

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the transport ---- */

static void sock_settle(struct conn *c, bool force);

static long sock_read(struct conn *c, void *buf, size_t len)
{
	struct sock_conn *sc = c->transport;
	ssize_t n = recv(c->fd, buf, len,
	                 MSG_DONTWAIT | (sc->is_peeking ? MSG_PEEK : 0));

	if (n > 0) {
		if (sc->is_peeking)
			sc->peeked += (size_t)n;
		return n;
	}
	if (n == 0)
		return -EPIPE; /* orderly shutdown by the peer */
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
		/* Nothing new after input put off (sock_settle): the
		 * client is not sending, so holding it gains nothing,
		 * and the fd stays readable (level-triggered) while it
		 * is queued. */
		if (sc->deferred)
			sock_settle(c, true);
		return 0;
	}
	return -errno;
}

static long sock_write(struct conn *c, const void *buf, size_t len)
{
	ssize_t n = send(c->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);

	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return 0;
	return -errno;
}

static long sock_writev(struct conn *c, const struct iovec *iov, int iovcnt)
{
	struct sock_conn *sc = c->transport;
	struct msghdr msg = {
	    .msg_iov = (struct iovec *)iov,
	    .msg_iovlen = (size_t)iovcnt,
	};
	uint64_t t0 = sc->peeked ? mono_ns() : 0;
	ssize_t n = sendmsg(c->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	int err = errno;

	if (t0)
		sc->was_slow = mono_ns() - t0 > SOCK_SLOW_WRITE_NS;
	if (n >= 0)
		return n;
	if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR)
		return 0;
	return -err;
}

/*
 * Take the bytes read so far off the socket, now that their replies are
 * out.  A client blocked in read(2) for its reply is woken by any read
 * that frees what it sent (one wait queue for both directions): taken
 * at once, a request woke its client for nothing, a second wakeup (an
 * IPI in a VM) and a sleep per request.  Taken right after the reply,
 * the reply has woken it already.
 *
 * Unless the reply's wakeup preempted us (a client on our CPU: a dom0
 * with one vCPU, or busy): the client has then read the reply, sent its
 * next request and gone to sleep before we got here, and taking now
 * would wake it for nothing again.  So a slow write puts the taking off
 * to the next settle (after the next reply), up to SOCK_DEFER_MAX in a
 * row; a read that finds nothing new takes at once (sock_read), and so
 * does `force`.
 */
static void sock_settle(struct conn *c, bool force)
{
	struct sock_conn *sc = c->transport;
	char scratch[CONN_IN_BUF_SIZE];

	if (!force && sc->was_slow && sc->deferred < SOCK_DEFER_MAX) {
		sc->was_slow = false;
		sc->deferred++;
		return;
	}
	sc->was_slow = false;
	sc->deferred = 0;
	while (sc->peeked > 0) {
		size_t want =
		    sc->peeked < sizeof(scratch) ? sc->peeked : sizeof(scratch);
		ssize_t n = recv(c->fd, scratch, want, MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* Peeked bytes are queued: only a reset loses them. */
			conn_kill(c, n < 0 ? strerror(errno)
			                   : "peeked input vanished");
			return;
		}
		sc->peeked -= (size_t)n;
	}
}

/*
 * Does a second MSG_PEEK start where the first one stopped?  Linux
 * moves SO_PEEK_OFF for unix streams; a kernel that accepted the option
 * and peeked from the start again would have every request served
 * twice, so the daemon asks once, on a pair of its own.
 */
static bool peek_works(void)
{
	int sv[2], off = 0;
	char c[2] = {0, 0};
	bool ok;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return false;
	ok = setsockopt(sv[1], SOL_SOCKET, SO_PEEK_OFF, &off, sizeof(off)) ==
	         0 &&
	     send(sv[0], "ab", 2, MSG_DONTWAIT | MSG_NOSIGNAL) == 2 &&
	     recv(sv[1], &c[0], 1, MSG_PEEK | MSG_DONTWAIT) == 1 &&
	     recv(sv[1], &c[1], 1, MSG_PEEK | MSG_DONTWAIT) == 1 &&
	     c[0] == 'a' && c[1] == 'b';
	close(sv[0]);
	close(sv[1]);
	return ok;
}

/* Read `fd`'s requests by peeking (sock_settle) where the kernel can. */
static void sock_try_peek(struct daemon *d, struct sock_conn *sc, int fd)
{
	int off = 0;

	if (!d->sock_peek_ok) {
		d->sock_peek_ok = peek_works() ? 1 : -1;
		if (d->sock_peek_ok < 0)
			log_info("sockets: no peeking at an offset here; "
			         "requests are read at once");
	}
	sc->is_peeking =
	    d->sock_peek_ok > 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof(off)) == 0;
}

static void sock_want(struct conn *c, unsigned int bit, bool on)
{
	struct sock_conn *sc = c->transport;
	unsigned int events = on ? sc->events | bit : sc->events & ~bit;
	int err;

	if (events == sc->events)
		return;
	sc->events = events;
	err = loop_mod(c->d->loop, c->fd, events);
	if (err < 0 && err != -ENOENT)
		conn_kill(c, "cannot change the fd's events");
}

static void sock_want_write(struct conn *c, bool on)
{
	sock_want(c, LOOP_OUT, on);
}

static void sock_want_read(struct conn *c, bool on)
{
	sock_want(c, LOOP_IN, on);
}

static void sock_conn_close(struct conn *c)
{
	loop_del(c->d->loop, c->fd);
	close(c->fd);
	c->fd = -1;
	xfree(c->transport);
	c->transport = NULL;
}

static const struct transport_ops sock_ops = {
    .name = "socket",
    .read = sock_read,
    .write = sock_write,
    .writev = sock_writev,
    .want_write = sock_want_write,
    .want_read = sock_want_read,
    .close = sock_conn_close,
    .settle = sock_settle,
};

static void sock_conn_cb(struct loop *l, int fd, unsigned int events, void *arg)
{
	struct conn *c = arg;

	if (events & LOOP_OUT)
		conn_handle_output(c);
	if (c->is_dead)
		return;
	/*
	 * Read before acting on a hang-up: the peer may have sent requests
	 * and closed, and those still count.  The read then sees the end.
	 * While reading is paused the hang-up alone is reported; nothing
	 * queued can be delivered then, so the connection goes.
	 */
	if (events & (LOOP_IN | LOOP_ERR)) {
		if (!c->is_read_paused)
			conn_handle_input(c);
		else if (events & LOOP_ERR)
			conn_kill(c, "hang-up while output was pending");
	}
}

/* ---- accepting ---- */

static void accept_resume_cb(struct loop *l, void *arg)
{
	struct daemon *d = arg;

	if (d->sock_fd >= 0)
		loop_mod(l, d->sock_fd, LOOP_IN);
	if (d->sock_ro_fd >= 0)
		loop_mod(l, d->sock_ro_fd, LOOP_IN);
}

/* Out of fds or memory: stop accepting for a moment. */
static void accept_backoff(struct daemon *d, int fd, int err)
{
	log_warn("accept on %s: %s; pausing accepts for %d ms",
	         fd == d->sock_ro_fd ? SOCK_RO_NAME : SOCK_NAME, strerror(err),
	         SOCK_ACCEPT_RETRY_MS);
	loop_mod(d->loop, fd, 0);
	if (!loop_timer_add(d->loop, SOCK_ACCEPT_RETRY_MS, accept_resume_cb, d))
		loop_mod(d->loop, fd, LOOP_IN); /* better spin than stall */
}

static void accept_one(struct daemon *d, int cfd, bool is_readonly)
{
	struct sock_conn *sc = xcalloc(1, sizeof(*sc));
	struct conn *c;

	if (!sc)
		goto err_close;
	c = conn_new(d, CONN_SOCKET, &sock_ops, sc, cfd);
	if (!c)
		goto err_free;
	c->domid = 0;
	c->is_privileged = true;
	c->is_readonly = is_readonly;
	sc->events = LOOP_IN;
	sock_try_peek(d, sc, cfd);
	if (loop_add(d->loop, cfd, LOOP_IN, sock_conn_cb, c) < 0)
		conn_kill(c, "cannot watch its fd"); /* freed at the reap */
	return;

err_free:
	xfree(sc);
err_close:
	log_warn("dropping a new %s connection: out of memory",
	         is_readonly ? SOCK_RO_NAME : SOCK_NAME);
	close(cfd);
}

static void sock_accept_cb(struct loop *l, int fd, unsigned int events,
                           void *arg)
{
	struct daemon *d = arg;
	bool is_readonly = fd == d->sock_ro_fd;

	for (int i = 0; i < SOCK_ACCEPT_BATCH; i++) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd < 0) {
			int err = errno;

			if (err == EINTR || err == ECONNABORTED)
				continue;
			if (err == EMFILE || err == ENFILE || err == ENOBUFS ||
			    err == ENOMEM)
				accept_backoff(d, fd, err);
			else if (err != EAGAIN && err != EWOULDBLOCK)
				log_err("accept: %s", strerror(err));
			return;
		}
		accept_one(d, cfd, is_readonly);
	}
}

/* ---- listening ---- */

/* mkdir -p `dir` with `mode` for what it creates. */
static int mkdir_p(const char *dir, mode_t mode)
{
	char path[PATH_MAX];
	size_t len = strlen(dir);
	struct stat st;

	if (len == 0 || len >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, dir, len + 1);
	for (char *p = path + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;

		*p = '\0';
		if (mkdir(path, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = saved;
		if (saved == '\0')
			break;
	}
	if (stat(path, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static int sock_path(const struct daemon *d, const char *name,
                     struct sockaddr_un *sun)
{
	int n;

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	n = snprintf(sun->sun_path, sizeof(sun->sun_path), "%s/%s",
	             d->cfg.rundir, name);
	if (n < 0 || (size_t)n >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	return 0;
}

/*
 * Make way for our socket at `sun`: nothing there is fine; a socket no
 * one answers on is a leftover of a daemon that died, and goes; a live
 * one, or anything that is not a socket, is refused.
 */
static int clear_stale(const struct sockaddr_un *sun)
{
	struct stat st;
	int probe, err;

	if (lstat(sun->sun_path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		err = errno;
		log_err("cannot check %s: %s", sun->sun_path, strerror(err));
		return -err;
	}
	if (!S_ISSOCK(st.st_mode)) {
		log_err("%s exists and is not a socket; not replacing it",
		        sun->sun_path);
		return -EEXIST;
	}
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (probe < 0) {
		err = errno;
		log_err("socket: %s", strerror(err));
		return -err;
	}
	/* Non-blocking: a live daemon with a full backlog answers EAGAIN. */
	err = connect(probe, (const struct sockaddr *)sun, sizeof(*sun)) < 0
	          ? errno
	          : 0;
	close(probe);
	if (err == 0 || err == EAGAIN || err == EINPROGRESS) {
		log_err("%s is in use by a running daemon", sun->sun_path);
		return -EADDRINUSE;
	}
	if (err != ECONNREFUSED) {
		log_err("cannot check %s: %s", sun->sun_path, strerror(err));
		return -err;
	}
	if (unlink(sun->sun_path) < 0 && errno != ENOENT) {
		err = errno;
		log_err("cannot remove stale %s: %s", sun->sun_path,
		        strerror(err));
		return -err;
	}
	log_info("replaced stale socket %s", sun->sun_path);
	return 0;
}

static int listen_one(struct daemon *d, const char *name, mode_t mode,
                      int *out_fd)
{
	struct sockaddr_un sun;
	mode_t old_mask;
	int fd, err;

	err = sock_path(d, name, &sun);
	if (err) {
		log_err("socket path %s/%s is too long (max %zu bytes)",
		        d->cfg.rundir, name, sizeof(sun.sun_path) - 1);
		return err;
	}
	err = clear_stale(&sun);
	if (err)
		return err;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		log_err("socket: %s", strerror(-err));
		return err;
	}
	/*
	 * The socket file is created by bind with the umask's mode; make it
	 * owner-only until the chmod, so it is never looser than `mode`.
	 * The daemon has one thread, so the umask change is not racy.
	 */
	old_mask = umask(077);
	err = bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ? -errno : 0;
	umask(old_mask);
	if (err) {
		log_err("cannot bind %s: %s", sun.sun_path, strerror(-err));
		goto err_close;
	}
	if (chmod(sun.sun_path, mode) < 0) {
		err = -errno;
		log_err("cannot chmod %s: %s", sun.sun_path, strerror(-err));
		goto err_unlink;
	}
	if (listen(fd, SOCK_BACKLOG) < 0) {
		err = -errno;
		log_err("cannot listen on %s: %s", sun.sun_path,
		        strerror(-err));
		goto err_unlink;
	}
	err = loop_add(d->loop, fd, LOOP_IN, sock_accept_cb, d);
	if (err) {
		log_err("cannot watch %s: %s", sun.sun_path, strerror(-err));
		goto err_unlink;
	}
	*out_fd = fd;
	return 0;

err_unlink:
	unlink(sun.sun_path);
err_close:
	close(fd);
	return err;
}

/* ---- socket activation ---- */

/* Far more than we could use: fds passed beyond are not looked at. */
#define SOCK_ACTIVATION_FDS_MAX 64

/*
 * Which of our sockets inherited `fd` is: by its $LISTEN_FDNAMES name
 * (FileDescriptorName= in the unit) when that is one of ours, else by
 * the file name it is bound to.  SOCK_INHERITED_RW/_RO, or 0 for a fd
 * that is no listening unix stream socket of ours.
 */
static unsigned int inherited_kind(int fd, const char *name, size_t name_len)
{
	struct sockaddr_un sun;
	socklen_t len = sizeof(sun);
	int type = 0, is_listening = 0;
	socklen_t olen = sizeof(int);
	const char *base;

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &olen) < 0 ||
	    type != SOCK_STREAM)
		return 0;
	olen = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &is_listening, &olen) <
	        0 ||
	    !is_listening)
		return 0;
	memset(&sun, 0, sizeof(sun));
	if (getsockname(fd, (struct sockaddr *)&sun, &len) < 0 ||
	    sun.sun_family != AF_UNIX)
		return 0;
	if (name_len == strlen(SOCK_NAME) && !memcmp(name, SOCK_NAME, name_len))
		return SOCK_INHERITED_RW;
	if (name_len == strlen(SOCK_RO_NAME) &&
	    !memcmp(name, SOCK_RO_NAME, name_len))
		return SOCK_INHERITED_RO;
	sun.sun_path[sizeof(sun.sun_path) - 1] = '\0';
	base = strrchr(sun.sun_path, '/');
	base = base ? base + 1 : sun.sun_path;
	if (!strcmp(base, SOCK_NAME))
		return SOCK_INHERITED_RW;
	if (!strcmp(base, SOCK_RO_NAME))
		return SOCK_INHERITED_RO;
	return 0;
}

/* The file `fd` is bound to, for the log (into *sun). */
static const char *bound_path(int fd, struct sockaddr_un *sun)
{
	socklen_t len = sizeof(*sun);

	memset(sun, 0, sizeof(*sun));
	if (getsockname(fd, (struct sockaddr *)sun, &len) < 0 ||
	    !sun->sun_path[0])
		return "unnamed";
	sun->sun_path[sizeof(sun->sun_path) - 1] = '\0';
	return sun->sun_path;
}

/* Make inherited `fd` one of ours (non-blocking, close-on-exec, watched)
 * as d->sock_fd or d->sock_ro_fd.  0 or -errno. */
static int adopt(struct daemon *d, int fd, unsigned int kind)
{
	int fl = fcntl(fd, F_GETFL);
	int err;

	/* systemd passes blocking fds unless NonBlocking=; accept4 in a
	 * loop must not block. */
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	err = loop_add(d->loop, fd, LOOP_IN, sock_accept_cb, d);
	if (err)
		return err;
	if (kind == SOCK_INHERITED_RW)
		d->sock_fd = fd;
	else
		d->sock_ro_fd = fd;
	d->sock_inherited |= kind;
	return 0;
}

/* A variable's strict decimal value (<= INT_MAX): 0 or -EINVAL. */
static int env_number(const char *s, unsigned long *out)
{
	return parse_uint(s, INT_MAX, out);
}

/*
 * Take the sockets passed by socket activation, if any are for us.  The
 * variables go either way: a process we started must not take them.
 * 0 or -errno (a passed fd we could not use).
 */
static int take_inherited(struct daemon *d)
{
	const char *pid_s = getenv("LISTEN_PID");
	const char *fds_s = getenv("LISTEN_FDS");
	const char *names = getenv("LISTEN_FDNAMES");
	unsigned long pid = 0, nfds = 0;
	struct sockaddr_un sun;
	int err = 0;

	if (!pid_s || !fds_s)
		goto out;
	if (env_number(pid_s, &pid) || pid != (unsigned long)getpid())
		goto out;
	if (env_number(fds_s, &nfds)) {
		log_warn("LISTEN_FDS=%s is not a number: ignored", fds_s);
		goto out;
	}
	if (nfds > SOCK_ACTIVATION_FDS_MAX) {
		log_warn("socket activation: %lu fds passed, only the first "
		         "%d looked at",
		         nfds, SOCK_ACTIVATION_FDS_MAX);
		nfds = SOCK_ACTIVATION_FDS_MAX;
	}
	for (unsigned long i = 0; i < nfds; i++) {
		int fd = 3 + (int)i;
		const char *name = "", *colon;
		size_t name_len = 0;
		unsigned int kind;

		if (names && *names) {
			colon = strchr(names, ':');
			name = names;
			name_len =
			    colon ? (size_t)(colon - names) : strlen(names);
			names = colon ? colon + 1 : "";
		}
		if (err) {
			close(fd); /* failing anyway: leave nothing open */
			continue;
		}
		kind = inherited_kind(fd, name, name_len);
		if (!kind || (d->sock_inherited & kind)) {
			log_warn("socket activation: fd %d (%.*s) is not a "
			         "listening unix socket named %s or %s, or "
			         "came twice: closed",
			         fd, (int)name_len, name, SOCK_NAME,
			         SOCK_RO_NAME);
			close(fd);
			continue;
		}
		err = adopt(d, fd, kind);
		if (err) {
			log_err("socket activation: cannot use fd %d: %s", fd,
			        strerror(-err));
			close(fd);
			continue;
		}
		log_info("socket activation: %s is fd %d (%s)",
		         kind == SOCK_INHERITED_RW ? SOCK_NAME : SOCK_RO_NAME,
		         fd, bound_path(fd, &sun));
	}
out:
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return err;
}

/*
 * The guests' batches yield to a client's request once the client has
 * paid its debt (conn.h): the loop asks this of each ready prompt fd.
 * A new client (a listening socket's fd) and the other prompt fds owe
 * nothing.
 */
static bool may_yield_to(loop_fd_cb *cb, void *cb_arg, void *arg)
{
	return cb != sock_conn_cb || conn_sock_may_go(cb_arg);
}

int sock_listen(struct daemon *d)
{
	struct sockaddr_un sun;
	struct stat st;
	int err;

	loop_set_yield_filter(d->loop, may_yield_to, d);
	d->sock_fd = -1;
	d->sock_ro_fd = -1;
	d->sock_inherited = 0;
	err = take_inherited(d);
	if (err) {
		sock_close(d);
		return err;
	}
	if (d->sock_fd >= 0 && d->sock_ro_fd >= 0)
		return 0;
	/* Check the longer name now, not after creating directories. */
	if (sock_path(d, SOCK_RO_NAME, &sun) < 0) {
		log_err("socket path %s/%s is too long (max %zu bytes)",
		        d->cfg.rundir, SOCK_RO_NAME, sizeof(sun.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	err = mkdir_p(d->cfg.rundir, 0755);
	if (err) {
		log_err("cannot create run directory %s: %s", d->cfg.rundir,
		        strerror(-err));
		return err;
	}
	if (stat(d->cfg.rundir, &st) == 0 && st.st_uid != geteuid())
		log_warn("run directory %s belongs to uid %u, not to us (%u)",
		         d->cfg.rundir, (unsigned int)st.st_uid,
		         (unsigned int)geteuid());
	if (access(d->cfg.rundir, W_OK | X_OK) < 0) {
		err = -errno;
		log_err("cannot create sockets in %s: %s", d->cfg.rundir,
		        strerror(-err));
		return err;
	}
	if (d->sock_fd < 0)
		err = listen_one(d, SOCK_NAME, 0600, &d->sock_fd);
	if (!err && d->sock_ro_fd < 0)
		err = listen_one(d, SOCK_RO_NAME, 0660, &d->sock_ro_fd);
	if (err) {
		sock_close(d);
		return err;
	}
	return 0;
}

/* ---- the live update: fds handed over by our previous binary ---- */

int sock_adopt_listen(struct daemon *d, int fd_rw, int fd_ro,
                      unsigned int inherited)
{
	int err = 0;

	loop_set_yield_filter(d->loop, may_yield_to, d);
	d->sock_fd = -1;
	d->sock_ro_fd = -1;
	d->sock_inherited = 0;
	if (fcntl(fd_rw, F_SETFD, FD_CLOEXEC) < 0 ||
	    fcntl(fd_ro, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	err = loop_add(d->loop, fd_rw, LOOP_IN, sock_accept_cb, d);
	if (err)
		return err;
	d->sock_fd = fd_rw;
	err = loop_add(d->loop, fd_ro, LOOP_IN, sock_accept_cb, d);
	if (err)
		return err;
	d->sock_ro_fd = fd_ro;
	d->sock_inherited = inherited & (SOCK_INHERITED_RW | SOCK_INHERITED_RO);
	return 0;
}

int sock_adopt_conn(struct daemon *d, int fd, bool is_readonly,
                    struct conn **out)
{
	struct sock_conn *sc;
	struct conn *c;

	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	sc = xcalloc(1, sizeof(*sc));
	if (!sc)
		return -ENOMEM;
	c = conn_new(d, CONN_SOCKET, &sock_ops, sc, fd);
	if (!c) {
		xfree(sc);
		return -ENOMEM;
	}
	c->domid = 0;
	c->is_privileged = true;
	c->is_readonly = is_readonly;
	sc->events = LOOP_IN;
	sock_try_peek(d, sc, fd);
	if (loop_add(d->loop, fd, LOOP_IN, sock_conn_cb, c) < 0)
		conn_kill(c, "cannot watch its fd"); /* freed at the reap */
	*out = c;
	return 0;
}

static void close_one(struct daemon *d, int *fd, const char *name,
                      unsigned int inherited)
{
	struct sockaddr_un sun;

	if (*fd < 0)
		return;
	loop_del(d->loop, *fd);
	close(*fd);
	*fd = -1;
	if (d->sock_inherited & inherited) {
		d->sock_inherited &= ~inherited;
		return; /* the service manager's file: it may pass it again */
	}
	if (sock_path(d, name, &sun) == 0 && unlink(sun.sun_path) < 0 &&
	    errno != ENOENT)
		log_warn("cannot remove %s: %s", sun.sun_path, strerror(errno));
}

void sock_close(struct daemon *d)
{
	close_one(d, &d->sock_fd, SOCK_NAME, SOCK_INHERITED_RW);
	close_one(d, &d->sock_ro_fd, SOCK_RO_NAME, SOCK_INHERITED_RO);
}
