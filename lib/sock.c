/*
 * sock.c - the unix socket transport of libxstore.
 *
 * A stream socket to the daemon.  The fd changes only in reopen(), which
 * the core calls with its send lock held and its receive thread stopped,
 * so send and recv read it without a lock of their own; shutdown() may
 * race with them and takes `lock`.  SIGPIPE is never raised: a dead peer
 * is an error return.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/transport.h"

struct sock_tr {
	struct xs_tr base;
	pthread_mutex_t lock;
	int fd;
	bool is_shutdown;
	char *path;
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

static int sock_recv(struct xs_tr *tr, void *buf, size_t len)
{
	struct sock_tr *s = (struct sock_tr *)tr;
	char *p = buf;

	while (len > 0) {
		ssize_t n = read(s->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (is_down(s))
			return -ESHUTDOWN;
		if (n == 0)
			return -ENOTCONN;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
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
