/*
 * client.c - the benchmark's own wire-protocol client: one unix-socket
 * connection with a read buffer and a write buffer, requests framed by
 * hand, replies parsed in place.
 *
 * Kept deliberately thin so that the client costs as little as possible
 * per op: one write(2) per flush, one read(2) that may bring many
 * replies.  Sockets stay blocking; multiplexing callers poll(2) first.
 * Any protocol surprise (bad length, closed connection) ends the program:
 * a benchmark must not carry on with a desynchronised stream.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench/xsbench/xsbench.h"

int xc_connect(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int tries, fd, err = EAGAIN;

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	/* Xen's daemons listen with a backlog of 1: a connect may find the
	 * queue full (EAGAIN) until the daemon's loop accepts. */
	for (tries = 0; tries < 50000; tries++) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			return fd;
		err = errno;
		close(fd);
		if (err != EAGAIN && err != EINTR)
			break;
		usleep(100);
	}
	return -err;
}

int xc_open(struct xconn *c, const char *path)
{
	memset(c, 0, sizeof(*c));
	c->fd = xc_connect(path);
	if (c->fd < 0)
		return c->fd;
	c->in = malloc(XB_IN_SIZE + 1);
	c->out = malloc(XB_OUT_SIZE);
	if (!c->in || !c->out) {
		xc_close(c);
		return -ENOMEM;
	}
	c->next_id = 1;
	return 0;
}

void xc_close(struct xconn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->in);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

uint32_t xc_queue(struct xconn *c, uint32_t type, uint32_t tx, const void *p1,
                  size_t l1, const void *p2, size_t l2)
{
	struct xs_wire_hdr h = {type, c->next_id++, tx, (uint32_t)(l1 + l2)};
	char *o;

	if (l1 + l2 > XS_PAYLOAD_MAX)
		die("request payload too long (%zu)", l1 + l2);
	if (c->out_len + XB_MSG_MAX > XB_OUT_SIZE)
		xc_flush(c);
	o = c->out + c->out_len;
	memcpy(o, &h, sizeof(h));
	if (l1)
		memcpy(o + sizeof(h), p1, l1);
	if (l2)
		memcpy(o + sizeof(h) + l1, p2, l2);
	c->out_len += sizeof(h) + l1 + l2;
	return h.req_id;
}

uint32_t xc_queue_str(struct xconn *c, uint32_t type, uint32_t tx,
                      const char *a, const char *b)
{
	return xc_queue(c, type, tx, a, strlen(a) + 1, b, b ? strlen(b) : 0);
}

void xc_flush(struct xconn *c)
{
	size_t done = 0;
	ssize_t n;

	while (done < c->out_len) {
		n = write(c->fd, c->out + done, c->out_len - done);
		if (n < 0 && errno != EINTR)
			die("write: %s", strerror(errno));
		if (n > 0)
			done += (size_t)n;
	}
	c->out_len = 0;
}

bool xc_parse(struct xconn *c, struct xmsg *m)
{
	size_t avail = c->in_have - c->in_off;
	char *p = c->in + c->in_off;

	if (avail < XS_HDR_SIZE)
		return false;
	memcpy(&m->h, p, sizeof(m->h));
	if (m->h.len > XS_PAYLOAD_MAX)
		die("reply with bad length %u (type %u)", m->h.len, m->h.type);
	if (avail < XS_HDR_SIZE + m->h.len)
		return false;
	/* The body is not nul-terminated (the next message follows it);
	 * XenStore replies carry their own nuls where strings end. */
	m->body = p + XS_HDR_SIZE;
	c->in_off += XS_HDR_SIZE + m->h.len;
	return true;
}

void xc_read_some(struct xconn *c)
{
	ssize_t n;

	if (c->in_off == c->in_have) {
		c->in_off = c->in_have = 0;
	} else if (c->in_off > XB_IN_SIZE / 2) {
		memmove(c->in, c->in + c->in_off, c->in_have - c->in_off);
		c->in_have -= c->in_off;
		c->in_off = 0;
	}
	if (c->in_have == XB_IN_SIZE)
		die("read buffer full");
	do
		n = read(c->fd, c->in + c->in_have, XB_IN_SIZE - c->in_have);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		die("server closed the connection");
	if (n < 0)
		die("read: %s", strerror(errno));
	c->in_have += (size_t)n;
}

void xc_recv(struct xconn *c, struct xmsg *m)
{
	while (!xc_parse(c, m))
		xc_read_some(c);
}

int xc_reply_err(const struct xmsg *m)
{
	size_t len = m->h.len;

	if (m->h.type != XS_ERROR)
		return 0;
	while (len && m->body[len - 1] == '\0')
		len--;
	return xs_errno_parse(m->body, len);
}

int xc_rpc(struct xconn *c, uint32_t type, uint32_t tx, const char *a,
           const char *b, struct xmsg *m)
{
	uint32_t id = xc_queue_str(c, type, tx, a, b);
	struct xmsg tmp;

	if (!m)
		m = &tmp;
	xc_flush(c);
	for (;;) {
		xc_recv(c, m);
		if (m->h.type == XS_WATCH_EVENT) {
			c->events++;
			continue;
		}
		if (m->h.req_id != id)
			die("reply for request %u, expected %u", m->h.req_id,
			    id);
		return xc_reply_err(m);
	}
}

void xc_rpc_ok(struct xconn *c, uint32_t type, uint32_t tx, const char *a,
               const char *b, struct xmsg *m)
{
	int err = xc_rpc(c, type, tx, a, b, m);

	if (err)
		die("%s %s: %s", xs_type_name(type), a, strerror(err));
}

void xc_drain(struct xconn *c, int ms)
{
	struct pollfd p = {.fd = c->fd, .events = POLLIN};
	struct xmsg m;

	for (;;) {
		while (xc_parse(c, &m))
			;
		if (poll(&p, 1, ms) <= 0)
			return;
		xc_read_some(c);
	}
}

long xb_pipeline_write(struct xconn *c, long from, long to, int depth,
                       xb_key_fn *key, void *arg, double deadline)
{
	char path[256], val[256];
	long next = from, done = from;
	int inflight = 0, err;
	struct xmsg m;

	while (done < to) {
		while (
		    inflight < depth && next < to &&
		    !(deadline > 0 && (next & 255) == 0 && now() > deadline)) {
			key(next++, path, sizeof(path), val, sizeof(val), arg);
			xc_queue_str(c, XS_WRITE, 0, path, val);
			inflight++;
		}
		xc_flush(c);
		if (!inflight)
			break;
		xc_read_some(c);
		while (xc_parse(c, &m)) {
			if (m.h.type == XS_WATCH_EVENT)
				continue;
			err = xc_reply_err(&m);
			if (err)
				die("pipelined WRITE: %s", strerror(err));
			inflight--;
			done++;
		}
	}
	return done - from;
}
