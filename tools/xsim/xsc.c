/*
 * xsc.c - xsim's blocking XenStore client (see xsc.h).
 *
 * One request in flight: send the header and payload, then read messages
 * until the reply with our req_id arrives (watch events, which xsim
 * never asks for, are skipped).  Every length is checked against the
 * protocol's limit before a byte is read into a buffer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "tools/xsim/xsc.h"
#include "xstore/wire.h"

int xsc_connect(struct xsc *c, const char *path)
{
	struct timeval tv = {.tv_sec = XSC_TIMEOUT_S};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int err;

	c->fd = -1;
	c->next_id = 1;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		close(c->fd);
		c->fd = -1;
		return err;
	}
	return 0;
}

void xsc_close(struct xsc *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static int io_err(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
}

static int send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return io_err();
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int recv_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = recv(fd, p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return io_err();
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int xsc_call(struct xsc *c, uint32_t type, uint32_t tx, const void *payload,
             size_t len, char *reply, size_t cap, size_t *rlen)
{
	struct xs_wire_hdr h = {.type = type,
	                        .req_id = c->next_id++,
	                        .tx_id = tx,
	                        .len = (uint32_t)len};
	char buf[XS_PAYLOAD_MAX + 1];
	int err;

	if (len > XS_PAYLOAD_MAX)
		return -E2BIG;
	if ((err = send_all(c->fd, &h, sizeof(h))) ||
	    (err = send_all(c->fd, payload, len)))
		return err;
	for (;;) {
		struct xs_wire_hdr r;

		if ((err = recv_all(c->fd, &r, sizeof(r))))
			return err;
		if (r.len > XS_PAYLOAD_MAX)
			return -EPROTO;
		if ((err = recv_all(c->fd, buf, r.len)))
			return err;
		buf[r.len] = '\0';
		if (r.type == XS_WATCH_EVENT || r.req_id != h.req_id)
			continue;
		if (r.type == XS_ERROR)
			return -xs_errno_parse(buf, r.len);
		if (r.type != type)
			return -EPROTO;
		if (reply) {
			if (r.len >= cap)
				return -E2BIG;
			memcpy(reply, buf, (size_t)r.len + 1);
		}
		if (rlen)
			*rlen = r.len;
		return 0;
	}
}

/* A payload of nul-terminated strings, the last one optionally without. */
struct msg {
	char buf[XS_PAYLOAD_MAX];
	size_t len;
	bool is_full;
};

static void msg_add(struct msg *m, const char *s, bool with_nul)
{
	size_t n = strlen(s) + (with_nul ? 1 : 0);

	if (m->len + n > sizeof(m->buf)) {
		m->is_full = true;
		return;
	}
	memcpy(m->buf + m->len, s, n);
	m->len += n;
}

static int msg_call(struct xsc *c, uint32_t type, uint32_t tx,
                    const struct msg *m, char *reply, size_t cap)
{
	if (m->is_full)
		return -E2BIG;
	return xsc_call(c, type, tx, m->buf, m->len, reply, cap, NULL);
}

static int path_op(struct xsc *c, uint32_t type, uint32_t tx, const char *path)
{
	struct msg m = {.len = 0};

	msg_add(&m, path, true);
	return msg_call(c, type, tx, &m, NULL, 0);
}

int xsc_write(struct xsc *c, uint32_t tx, const char *path, const char *value)
{
	struct msg m = {.len = 0};

	msg_add(&m, path, true);
	msg_add(&m, value, false);
	return msg_call(c, XS_WRITE, tx, &m, NULL, 0);
}

int xsc_read(struct xsc *c, uint32_t tx, const char *path, char *buf,
             size_t cap)
{
	struct msg m = {.len = 0};

	msg_add(&m, path, true);
	return msg_call(c, XS_READ, tx, &m, buf, cap);
}

int xsc_mkdir(struct xsc *c, uint32_t tx, const char *path)
{
	return path_op(c, XS_MKDIR, tx, path);
}

int xsc_rm(struct xsc *c, uint32_t tx, const char *path)
{
	return path_op(c, XS_RM, tx, path);
}

int xsc_set_perms(struct xsc *c, uint32_t tx, const char *path,
                  const char *const *perms, size_t n)
{
	struct msg m = {.len = 0};

	msg_add(&m, path, true);
	for (size_t i = 0; i < n; i++)
		msg_add(&m, perms[i], true);
	return msg_call(c, XS_SET_PERMS, tx, &m, NULL, 0);
}

int xsc_txn_start(struct xsc *c, uint32_t *tx)
{
	char reply[32];
	unsigned long v;
	char *end;
	int err;

	err = xsc_call(c, XS_TRANSACTION_START, 0, "", 1, reply, sizeof(reply),
	               NULL);
	if (err)
		return err;
	errno = 0;
	v = strtoul(reply, &end, 10);
	if (errno || end == reply || *end || v == 0 || v > UINT32_MAX)
		return -EPROTO;
	*tx = (uint32_t)v;
	return 0;
}

int xsc_txn_end(struct xsc *c, uint32_t tx, bool commit)
{
	return xsc_call(c, XS_TRANSACTION_END, tx, commit ? "T" : "F", 2, NULL,
	                0, NULL);
}

int xsc_introduce(struct xsc *c, unsigned int domid, uint64_t gfn,
                  unsigned int port)
{
	char buf[64];
	int n;

	n = snprintf(buf, sizeof(buf), "%u%c%llu%c%u", domid, '\0',
	             (unsigned long long)gfn, '\0', port);
	return xsc_call(c, XS_INTRODUCE, 0, buf, (size_t)n + 1, NULL, 0, NULL);
}

int xsc_is_introduced(struct xsc *c, unsigned int domid, bool *is_introduced)
{
	char buf[16], reply[8];
	int n, err;

	n = snprintf(buf, sizeof(buf), "%u", domid);
	err = xsc_call(c, XS_IS_DOMAIN_INTRODUCED, 0, buf, (size_t)n + 1, reply,
	               sizeof(reply), NULL);
	if (err)
		return err;
	if (strcmp(reply, "T") && strcmp(reply, "F"))
		return -EPROTO;
	*is_introduced = reply[0] == 'T';
	return 0;
}
