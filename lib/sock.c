/*
 * sock.c - the unix socket transport of libxstore.
 *
 * A stream socket to the daemon.  The fd changes only in reopen(), which
 * the core calls with its send lock held and its receive thread stopped,
 * so send and recv read it without a lock of their own; shutdown() may
 * race with them and takes `lock`.  SIGPIPE is never raised: a dead peer
 * is an error return.
 *
 * Receiving waits in poll(POLLIN), then reads what has come into a
 * buffer.  A thread blocked in read(2) on a unix socket is woken each
 * time the daemon reads our request (the kernel wakes writers and
 * readers of a socket through one queue, and a reader in read(2) does
 * not filter by event), so every request cost the receive thread a
 * wakeup for nothing, often a preemption of the daemon that caused it;
 * poll's wait only wakes for input.  The buffer makes a message one
 * read(2) instead of two (header, payload).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/transport.h"

/* Two largest messages: one read usually brings a whole reply. */
#define SOCK_RX_BUF 8192

struct sock_tr {
	struct xs_tr base;
	pthread_mutex_t lock;
	int fd;
	bool is_shutdown;
	char *path;
	/* Received, not yet taken: rx[rx_off .. rx_len).  The receive
	 * thread's alone (transport.h); emptied by reopen. */
	size_t rx_off, rx_len;
	char rx[SOCK_RX_BUF];
};

static int sock_connect(const char *path, int *fd)
{
	struct sockaddr_un sa;
	int s, err;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, path);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		close(s);
		return err;
	}
	*fd = s;
	return 0;
}

static bool is_down(struct sock_tr *s)
{
	bool down;

	pthread_mutex_lock(&s->lock);
	down = s->is_shutdown;
	pthread_mutex_unlock(&s->lock);
	return down;
}

static int sock_send(struct xs_tr *tr, const void *buf, size_t len)
{
	struct sock_tr *s = (struct sock_tr *)tr;
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(s->fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return is_down(s) ? -ESHUTDOWN
			       : n < 0    ? -errno
			                  : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Wait for input (see the top), then read what there is.  0 or -errno
 * as sock_recv returns them. */
static int fill(struct sock_tr *s)
{
	struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
	ssize_t n;

	for (;;) {
		if (poll(&pfd, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return is_down(s) ? -ESHUTDOWN : -errno;
		}
		n = read(s->fd, s->rx, sizeof(s->rx));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (is_down(s))
			return -ESHUTDOWN;
		if (n == 0)
			return -ENOTCONN;
		if (n < 0)
			return -errno;
		s->rx_off = 0;
		s->rx_len = (size_t)n;
		return 0;
	}
}

static int sock_recv(struct xs_tr *tr, void *buf, size_t len)
{
	struct sock_tr *s = (struct sock_tr *)tr;
	char *p = buf;

	while (len > 0) {
		size_t take;
		int err;

		if (s->rx_off == s->rx_len) {
			err = fill(s);
			if (err)
				return err;
		}
		take = s->rx_len - s->rx_off;
		if (take > len)
			take = len;
		memcpy(p, s->rx + s->rx_off, take);
		s->rx_off += take;
		p += take;
		len -= take;
	}
	return 0;
}

static void sock_shutdown(struct xs_tr *tr)
{
	struct sock_tr *s = (struct sock_tr *)tr;

	pthread_mutex_lock(&s->lock);
	s->is_shutdown = true;
	if (s->fd >= 0)
		shutdown(s->fd, SHUT_RDWR);
	pthread_mutex_unlock(&s->lock);
}

static int sock_reopen(struct xs_tr *tr)
{
	struct sock_tr *s = (struct sock_tr *)tr;
	int fd, err = sock_connect(s->path, &fd);

	if (err)
		return err;
	pthread_mutex_lock(&s->lock);
	if (s->fd >= 0)
		close(s->fd);
	s->fd = fd;
	s->is_shutdown = false;
	s->rx_off = s->rx_len = 0; /* the old connection's, never this one's */
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static void sock_free(struct xs_tr *tr)
{
	struct sock_tr *s = (struct sock_tr *)tr;

	if (s->fd >= 0)
		close(s->fd);
	pthread_mutex_destroy(&s->lock);
	free(s->path);
	free(s);
}

static const struct xs_tr_ops sock_ops = {
    .name = "unix",
    .send = sock_send,
    .recv = sock_recv,
    .shutdown = sock_shutdown,
    .reopen = sock_reopen,
    .reset = NULL,
    .can_reset = NULL,
    .free = sock_free,
};

int sock_tr_open(const char *path, struct xs_tr **out)
{
	struct sock_tr *s;
	int err;

	if (!path || !*path)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->path = strdup(path);
	if (!s->path) {
		free(s);
		return -ENOMEM;
	}
	s->base.ops = &sock_ops;
	s->fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	err = sock_connect(path, &s->fd);
	if (err) {
		sock_free(&s->base);
		return err;
	}
	*out = &s->base;
	return 0;
}
