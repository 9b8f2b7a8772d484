/*
 * main.c - xsmux: the per-guest multiplexer.  It owns the guest's xenstore
 * ring (the only user of it, as a guest kernel is) and serves the
 * XenStore wire protocol on the unix socket dom<D>/xenbus to any number
 * of processes of that guest (mux.c keeps them apart).
 *
 * One thread runs an epoll loop over the listening socket, the clients,
 * signals and the domain's directory (inotify, plus a 1 s check).  The
 * ring transport of libxstore is blocking, so a second thread only reads
 * the ring and queues whole messages for the loop (an eventfd wakes it);
 * the loop sends on the ring itself, briefly blocking when the ring is
 * full, which cannot deadlock because the reader never waits for the loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "lib/transport.h"
#include "tools/tool.h"
#include "tools/xsmux/dom.h"
#include "tools/xsmux/mux.h"
#include "xstore/wire.h"

#define DEFAULT_SIM_DIR "/var/run/xenstored/sim"
#define MAX_EVENTS      64
#define IOV_MAX_MSGS    64
#define MONITOR_MS      500

/* A message read from the ring, on its way from the reader to the loop. */
struct rx_msg {
	struct rx_msg *next;
	struct xs_wire_hdr hdr;
	char payload[]; /* hdr.len bytes and a nul */
};

struct xsmux {
	struct mux mux;
	struct xs_tr *tr;
	unsigned int domid;
	const char *sim;
	char dom[PATH_MAX];       /* sim/dom<D> */
	char sock[PATH_MAX + 16]; /* dom/xenbus */
	char pid[PATH_MAX + 16];  /* dom/xenbus.pid */
	int epfd, lfd, evfd, sigfd, infd, tfd;
	/* The reader thread's queue. */
	pthread_t reader;
	bool has_reader;
	pthread_mutex_t lock;
	struct rx_msg *rx_head, *rx_tail;
	int rx_err; /* the reader ended with it (0: still running) */
	/* Suspend: "suspend" seen and acknowledged; waiting for "running". */
	bool is_suspended;
	bool is_quitting;
	bool is_clean_exit; /* a signal: end the clients' business first */
	int exit_code;
	int ring_err; /* a send on the ring failed */
	/* The monitor thread and its wakeup. */
	pthread_t monitor;
	bool has_monitor;
	int mon_stop;
};

/* epoll tags for the fixed fds; a client's tag is its mux_client. */
static char tag_listen, tag_ring, tag_signal, tag_inotify, tag_timer;

/* ---- the ring reader thread ---- */

static void rx_push(struct xsmux *x, struct rx_msg *msg, int err)
{
	uint64_t one = 1;

	pthread_mutex_lock(&x->lock);
	if (msg) {
		if (x->rx_tail)
			x->rx_tail->next = msg;
		else
			x->rx_head = msg;
		x->rx_tail = msg;
	} else {
		x->rx_err = err;
	}
	pthread_mutex_unlock(&x->lock);
	if (write(x->evfd, &one, sizeof(one)) < 0) {
		/* Counter saturated: the loop is awake already. */
	}
}

static void *reader_main(void *arg)
{
	struct xsmux *x = arg;
	int err;

	for (;;) {
		struct xs_wire_hdr hdr;
		struct rx_msg *msg;

		err = x->tr->ops->recv(x->tr, &hdr, sizeof(hdr));
		if (err)
			break;
		if (hdr.len > XS_PAYLOAD_MAX) {
			err = -EPROTO;
			break;
		}
		msg = malloc(sizeof(*msg) + hdr.len + 1);
		if (!msg) {
			err = -ENOMEM;
			break;
		}
		msg->next = NULL;
		msg->hdr = hdr;
		err = x->tr->ops->recv(x->tr, msg->payload, hdr.len);
		if (err) {
			free(msg);
			break;
		}
		msg->payload[hdr.len] = '\0';
		rx_push(x, msg, 0);
	}
	rx_push(x, NULL, err);
	return NULL;
}

static int reader_start(struct xsmux *x)
{
	int err;

	x->rx_err = 0;
	err = pthread_create(&x->reader, NULL, reader_main, x);
	if (err)
		return -err;
	x->has_reader = true;
	return 0;
}

static void reader_stop(struct xsmux *x)
{
	if (!x->has_reader)
		return;
	x->tr->ops->shutdown(x->tr);
	pthread_join(x->reader, NULL);
	x->has_reader = false;
}

/* Hand what the reader queued to the mux.  Returns the reader's end. */
static int rx_drain(struct xsmux *x)
{
	struct rx_msg *msg;
	int err;

	pthread_mutex_lock(&x->lock);
	msg = x->rx_head;
	x->rx_head = x->rx_tail = NULL;
	err = x->rx_err;
	pthread_mutex_unlock(&x->lock);
	while (msg) {
		struct rx_msg *next = msg->next;

		mux_ring_input(&x->mux, &msg->hdr, msg->payload);
		free(msg);
		msg = next;
	}
	return err;
}

/*
 * ---- the monitor thread ----
 *
 * The loop may sit in a ring send waiting for room that a released
 * domain's daemon never makes; the loop's own checks of the domain cannot
 * run then.  This thread only looks at the domain's state and, when it is
 * going, shuts the transport down: the send fails, the loop sees why.
 */

static void *monitor_main(void *arg)
{
	struct xsmux *x = arg;

	for (;;) {
		struct pollfd pfd = {x->mon_stop, POLLIN, 0};
		enum dom_state st;

		if (poll(&pfd, 1, MONITOR_MS) != 0)
			break;
		st = dom_state(x->dom);
		if (st == DOM_DYING || st == DOM_GONE) {
			x->tr->ops->shutdown(x->tr);
			break;
		}
	}
	return NULL;
}

static int monitor_start(struct xsmux *x)
{
	int err;

	x->mon_stop = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (x->mon_stop < 0)
		return -errno;
	err = pthread_create(&x->monitor, NULL, monitor_main, x);
	if (err)
		return -err;
	x->has_monitor = true;
	return 0;
}

static void monitor_stop(struct xsmux *x)
{
	uint64_t one = 1;

	if (x->has_monitor) {
		if (write(x->mon_stop, &one, sizeof(one)) < 0) {
		}
		pthread_join(x->monitor, NULL);
		x->has_monitor = false;
	}
	if (x->mon_stop >= 0)
		close(x->mon_stop);
	x->mon_stop = -1;
}

/* ---- the mux's callbacks ---- */

static int cb_ring_send(struct mux *m, const struct xs_wire_hdr *hdr,
                        const void *payload)
{
	struct xsmux *x = m->arg;
	char buf[XS_HDR_SIZE + XS_PAYLOAD_MAX];

	int err;

	memcpy(buf, hdr, XS_HDR_SIZE);
	memcpy(buf + XS_HDR_SIZE, payload, hdr->len);
	err = x->tr->ops->send(x->tr, buf, XS_HDR_SIZE + hdr->len);
	if (err && !x->ring_err)
		x->ring_err = err; /* seen at the end of the turn */
	return err;
}

static void cb_client_changed(struct mux_client *c)
{
	struct xsmux *x = c->mux->arg;
	struct epoll_event ev = {0};

	if (c->is_dead || c->fd < 0)
		return;
	ev.events = (mux_client_can_read(c) ? EPOLLIN : 0) |
	            (c->out_head ? EPOLLOUT : 0);
	ev.data.ptr = c;
	epoll_ctl(x->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

#define SHUTDOWN_NODE  "control/shutdown"
#define SHUTDOWN_TOKEN "xsmux:shutdown"

static int watch_shutdown(struct xsmux *x)
{
	static const char req[] = SHUTDOWN_NODE "\0" SHUTDOWN_TOKEN;

	return mux_send_internal(&x->mux, XS_WATCH, req, sizeof(req));
}

static void cb_on_event(struct mux *m, const char *path, const char *token)
{
	static const char req[] = SHUTDOWN_NODE;

	if (strcmp(token, SHUTDOWN_TOKEN) != 0)
		return;
	(void)mux_send_internal(m, XS_READ, req, sizeof(req));
}

/*
 * The suspend handshake: control/shutdown read "suspend" -> hold the
 * clients, acknowledge with "" -> on the write's reply, state
 * "suspended".
 */
static void cb_on_reply(struct mux *m, uint32_t type, uint32_t req_type,
                        const char *payload, uint32_t len)
{
	struct xsmux *x = m->arg;
	static const char ack[] = SHUTDOWN_NODE; /* and an empty value */
	int err;

	if (req_type == XS_READ && type == XS_READ && !x->is_suspended &&
	    len == 7 && !memcmp(payload, "suspend", 7)) {
		log_info("dom%u: suspending", x->domid);
		x->is_suspended = true;
		mux_set_held(m, true);
		(void)mux_send_internal(m, XS_WRITE, ack, sizeof(ack));
	} else if (req_type == XS_WRITE && x->is_suspended) {
		err = dom_write_atomic(x->dom, "state", "suspended\n");
		if (err)
			log_err("dom%u: cannot write state: %s", x->domid,
			        strerror(-err));
		dom_signal_exc(x->sim, x->domid);
	}
}

static const struct mux_ops ops = {
    .ring_send = cb_ring_send,
    .client_changed = cb_client_changed,
    .on_reply = cb_on_reply,
    .on_event = cb_on_event,
};

/* ---- resume ---- */

static int resume(struct xsmux *x)
{
	int err;

	log_info("dom%u: resuming", x->domid);
	reader_stop(x);
	/* Replies that made it before the reset are still answers. */
	(void)rx_drain(x);
	err = x->tr->ops->reopen(x->tr);
	if (!err && x->tr->ops->can_reset(x->tr))
		err = x->tr->ops->reset(x->tr);
	if (!err)
		err = reader_start(x);
	if (!err)
		err = mux_resumed(&x->mux);
	if (!err)
		err = watch_shutdown(x);
	x->is_suspended = false;
	mux_set_held(&x->mux, false);
	return err;
}

/* ---- clients ---- */

static void client_kill(struct xsmux *x, struct mux_client *c)
{
	if (c->fd >= 0) {
		epoll_ctl(x->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
	c->is_dead = true; /* reaped at the end of the turn */
}

static void client_accept(struct xsmux *x)
{
	for (;;) {
		int fd =
		    accept4(x->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev = {.events = EPOLLIN};
		struct mux_client *c;

		if (fd < 0)
			return;
		c = mux_client_new(&x->mux, fd);
		if (!c) {
			close(fd);
			continue;
		}
		ev.data.ptr = c;
		if (epoll_ctl(x->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
			client_kill(x, c);
		else
			cb_client_changed(c);
	}
}

static void client_read(struct xsmux *x, struct mux_client *c, bool hup)
{
	ssize_t n;

	if (!mux_client_can_read(c)) {
		/*
		 * A hangup is reported whatever the interest: a client
		 * held back that hangs up would wake us forever.  What it
		 * left unread would have no one to answer to anyway.
		 */
		if (hup)
			client_kill(x, c);
		return;
	}
	n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_kill(x, c);
		return;
	}
	c->in_len += (size_t)n;
	/* Other errors are the ring's (ring_err). */
	if (mux_client_input(c) == -EPROTO) {
		log_warn("dom%u client %llu: bad message: closed", x->domid,
		         (unsigned long long)c->serial);
		client_kill(x, c);
	}
}

static void client_write(struct xsmux *x, struct mux_client *c)
{
	struct iovec iov[IOV_MAX_MSGS];
	struct mux_msg *msg;
	int i = 0;
	ssize_t n;

	for (msg = c->out_head; msg && i < IOV_MAX_MSGS; msg = msg->next, i++) {
		size_t off = msg == c->out_head ? c->out_off : 0;

		iov[i].iov_base = msg->data + off;
		iov[i].iov_len = msg->size - off;
	}
	if (i == 0)
		return;
	n = writev(c->fd, iov, i);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		client_kill(x, c);
		return;
	}
	mux_client_wrote(c, (size_t)n);
}

static void client_event(struct xsmux *x, struct mux_client *c, uint32_t events)
{
	if (c->is_dead)
		return;
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		client_read(x, c, events & (EPOLLHUP | EPOLLERR));
	if (!c->is_dead && c->out_head && (events & EPOLLOUT))
		client_write(x, c);
}

/* End of a turn: free the dead, feed the live what they have buffered. */
static void clients_turn(struct xsmux *x)
{
	struct mux_client *c, *next;

	for (c = x->mux.clients; c; c = next) {
		next = c->next;
		if (c->is_dead) {
			mux_client_close(c);
			continue;
		}
		if (mux_client_can_read(c) && c->in_len >= XS_HDR_SIZE &&
		    mux_client_input(c) == -EPROTO)
			client_kill(x, c);
	}
}

/* ---- setup ---- */

static int listen_socket(struct xsmux *x)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char tmp[PATH_MAX + 32];
	int fd, err;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", x->sock, (int)getpid());
	if (strlen(tmp) >= sizeof(sa.sun_path) ||
	    strlen(x->sock) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	/* Someone answering there already: another xsmux. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	strcpy(sa.sun_path, x->sock);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(fd);
		return -EADDRINUSE;
	}
	close(fd);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	strcpy(sa.sun_path, tmp);
	unlink(tmp);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 64) < 0 || rename(tmp, x->sock) < 0) {
		err = -errno;
		unlink(tmp);
		close(fd);
		return err;
	}
	x->lfd = fd;
	return 0;
}

static int epoll_add(struct xsmux *x, int fd, void *tag)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = tag};

	return epoll_ctl(x->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static int setup(struct xsmux *x, const char **what)
{
	struct itimerspec its = {{1, 0}, {1, 0}};
	char pidtext[32];
	sigset_t sigs;
	int err;

	x->epfd = x->lfd = x->evfd = x->sigfd = x->infd = x->tfd = -1;
	x->mon_stop = -1;
	*what = "the domain";
	if (dom_state(x->dom) == DOM_GONE)
		return -ENOENT;
	*what = "the ring";
	err = ring_tr_open(x->domid, x->sim, &x->tr);
	if (err)
		return err;
	mux_init(&x->mux, &ops, x, x->domid);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	/* Before the reader starts, so that it inherits the mask. */
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	*what = "the event loop";
	x->epfd = epoll_create1(EPOLL_CLOEXEC);
	x->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	x->sigfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	x->infd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	x->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (x->epfd < 0 || x->evfd < 0 || x->sigfd < 0 || x->infd < 0 ||
	    x->tfd < 0)
		return -errno;
	if (inotify_add_watch(x->infd, x->dom,
	                      IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE_SELF |
	                          IN_MOVE_SELF) < 0 ||
	    timerfd_settime(x->tfd, 0, &its, NULL) < 0)
		return -errno;
	err = epoll_add(x, x->evfd, &tag_ring);
	if (!err)
		err = epoll_add(x, x->sigfd, &tag_signal);
	if (!err)
		err = epoll_add(x, x->infd, &tag_inotify);
	if (!err)
		err = epoll_add(x, x->tfd, &tag_timer);
	if (err)
		return err;
	err = reader_start(x);
	if (!err)
		err = monitor_start(x);
	if (!err)
		err = watch_shutdown(x);
	if (err)
		return err;
	*what = "the socket";
	err = listen_socket(x);
	if (!err)
		err = epoll_add(x, x->lfd, &tag_listen);
	if (err)
		return err;
	*what = "the pid file";
	snprintf(pidtext, sizeof(pidtext), "%d\n", (int)getpid());
	return dom_write_atomic(x->dom, "xenbus.pid", pidtext);
}

static void teardown(struct xsmux *x)
{
	if (x->lfd >= 0) {
		unlink(x->sock);
		unlink(x->pid);
		close(x->lfd);
	}
	/*
	 * Stopped by a signal with the domain alive: its clients'
	 * transactions and watches end on the daemon as if each had left.
	 */
	if (x->is_clean_exit && !x->ring_err &&
	    dom_state(x->dom) == DOM_RUNNING)
		while (x->mux.clients) {
			struct mux_client *c = x->mux.clients;

			if (c->fd >= 0)
				close(c->fd);
			c->fd = -1;
			mux_client_close(c);
		}
	monitor_stop(x);
	if (x->tr)
		reader_stop(x);
	(void)rx_drain(x);
	mux_fini(&x->mux);
	if (x->tr)
		x->tr->ops->free(x->tr);
	if (x->epfd >= 0)
		close(x->epfd);
	if (x->evfd >= 0)
		close(x->evfd);
	if (x->sigfd >= 0)
		close(x->sigfd);
	if (x->infd >= 0)
		close(x->infd);
	if (x->tfd >= 0)
		close(x->tfd);
}

/* ---- the loop ---- */

static void check_domain(struct xsmux *x)
{
	enum dom_state st = dom_state(x->dom);

	if (st == DOM_GONE || st == DOM_DYING) {
		log_info("dom%u: %s: exiting", x->domid,
		         st == DOM_GONE ? "gone" : "dying");
		x->is_quitting = true;
	} else if (st == DOM_RUNNING && x->is_suspended) {
		int err = resume(x);

		if (err) {
			log_err("dom%u: resume failed: %s", x->domid,
			        strerror(-err));
			x->is_quitting = true;
			x->exit_code = 1;
		}
	}
}

static void drain_fd(int fd)
{
	char buf[4096];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

static void on_ring(struct xsmux *x)
{
	int err;

	drain_fd(x->evfd);
	err = rx_drain(x);
	if (!err)
		return;
	/* The reader ended: the domain going away, or a broken ring. */
	check_domain(x);
	if (!x->is_quitting) {
		log_err("dom%u: ring lost: %s", x->domid, strerror(-err));
		x->is_quitting = true;
		x->exit_code = 1;
	}
}

static int run(struct xsmux *x)
{
	struct epoll_event evs[MAX_EVENTS];

	while (!x->is_quitting) {
		int i, n = epoll_wait(x->epfd, evs, MAX_EVENTS, -1);

		if (n < 0 && errno != EINTR)
			return 1;
		for (i = 0; i < n && !x->is_quitting; i++) {
			void *tag = evs[i].data.ptr;

			if (tag == &tag_listen) {
				client_accept(x);
			} else if (tag == &tag_ring) {
				on_ring(x);
			} else if (tag == &tag_signal) {
				struct signalfd_siginfo si;

				while (read(x->sigfd, &si, sizeof(si)) > 0)
					if (si.ssi_signo != SIGHUP)
						x->is_quitting =
						    x->is_clean_exit = true;
			} else if (tag == &tag_inotify || tag == &tag_timer) {
				drain_fd(tag == &tag_timer ? x->tfd : x->infd);
				check_domain(x);
			} else {
				client_event(x, tag, evs[i].events);
			}
		}
		clients_turn(x);
		if (x->ring_err && !x->is_quitting) {
			check_domain(x);
			if (!x->is_quitting) {
				log_err("dom%u: ring: %s", x->domid,
				        strerror(-x->ring_err));
				x->is_quitting = true;
				x->exit_code = 1;
			}
		}
	}
	return x->exit_code;
}

/* ---- main ---- */

static void usage(FILE *f)
{
	fprintf(f, "usage: xsmux --dir SIMDIR --domid D [--foreground] "
	           "[--log FILE]\n"
	           "Serve guest D's xenstore ring to many processes on the "
	           "unix socket SIMDIR/domD/xenbus.\n"
	           "  -h, --help     this text\n"
	           "  -V, --version  version and the platforms built in\n");
}

/*
 * Fork; the parent waits for the child to say it is serving ("" on the
 * pipe) or why not, and exits 0 or 1 accordingly.
 */
static int daemonise(int *ready_fd)
{
	int fds[2];
	pid_t pid;
	char msg[512];
	ssize_t n;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(fds[1]);
		n = read(fds[0], msg, sizeof(msg) - 1);
		if (n == 0)
			_exit(0);
		msg[n < 0 ? 0 : n] = '\0';
		fprintf(stderr, "xsmux: %s\n", n > 0 ? msg : "failed to start");
		_exit(1);
	}
	close(fds[0]);
	setsid();
	*ready_fd = fds[1];
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"dir", required_argument, NULL, 'd'},
	    {"domid", required_argument, NULL, 'D'},
	    {"foreground", no_argument, NULL, 'f'},
	    {"log", required_argument, NULL, 'l'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	static struct xsmux x;
	const char *log_file = NULL, *what = "";
	bool is_foreground = false, has_domid = false;
	int ready_fd = -1, opt, err, rc;
	unsigned long d;
	char *end;

	while ((opt = getopt_long(argc, argv, "d:D:fl:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			x.sim = optarg;
			break;
		case 'D':
			errno = 0;
			d = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end ||
			    d >= XS_DOMID_FIRST_SPECIAL || d == 0) {
				fprintf(stderr, "xsmux: bad domid: %s\n",
				        optarg);
				return 2;
			}
			x.domid = (unsigned int)d;
			has_domid = true;
			break;
		case 'f':
			is_foreground = true;
			break;
		case 'l':
			log_file = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			tool_version(stdout, "xsmux");
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!has_domid || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (!x.sim)
		x.sim =
		    getenv("XSIM_DIR") ? getenv("XSIM_DIR") : DEFAULT_SIM_DIR;
	if ((size_t)snprintf(x.dom, sizeof(x.dom), "%s/dom%u", x.sim,
	                     x.domid) >= sizeof(x.dom) - 16) {
		fprintf(stderr, "xsmux: path too long\n");
		return 2;
	}
	snprintf(x.sock, sizeof(x.sock), "%s/xenbus", x.dom);
	snprintf(x.pid, sizeof(x.pid), "%s/xenbus.pid", x.dom);
	pthread_mutex_init(&x.lock, NULL);
	if (log_file && (err = log_open(log_file, LOG_INFO)) < 0) {
		fprintf(stderr, "xsmux: %s: %s\n", log_file, strerror(-err));
		return 1;
	}
	if (!is_foreground && (err = daemonise(&ready_fd)) < 0) {
		fprintf(stderr, "xsmux: fork: %s\n", strerror(-err));
		return 1;
	}
	err = setup(&x, &what);
	if (err) {
		char msg[512];
		int len = snprintf(msg, sizeof(msg), "dom%u: %s: %s", x.domid,
		                   what, strerror(-err));

		log_err("%s", msg);
		if (ready_fd >= 0 && write(ready_fd, msg, (size_t)len) < 0) {
		}
		teardown(&x);
		return 1;
	}
	log_info("dom%u: serving %s", x.domid, x.sock);
	if (ready_fd >= 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		/*
		 * A starter capturing our output must see its end; what
		 * still reaches stderr (a sanitizer's report) goes to the
		 * log.
		 */
		int err_fd = log_file
		                 ? open(log_file, O_WRONLY | O_APPEND |
		                                      O_NOFOLLOW | O_CLOEXEC)
		                 : -1;

		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(err_fd >= 0 ? err_fd : null, 2);
			close(null);
		}
		if (err_fd >= 0)
			close(err_fd);
		close(ready_fd);
	}
	rc = run(&x);
	teardown(&x);
	log_info("dom%u: exit %d", x.domid, rc);
	return rc;
}
