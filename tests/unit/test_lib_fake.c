/*
 * test_lib_fake.c - libxstore against a fake daemon that misbehaves on
 * purpose: oversized and malformed replies, unknown req_ids, wrong reply
 * types, error strings, replies out of order, a broken ring.
 *
 * The fake speaks over a unix socket (the real transport, to a listening
 * socket of the test's) or over a ring page shared in-process with
 * lib/ring.c through pipes standing in for the event channel.  A server
 * thread runs one scenario (a function of the peer) per connection; the
 * test thread makes the calls and checks them.  Ring tests also start the
 * indexes near 2^32 so that every copy wraps.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/client_int.h"
#include "lib/ring.h"
#include "tests/support/check.h"
#include "xstore/xstore.h"

/* ---- the peer: the daemon's end of a socket or a ring ---- */

struct peer {
	int fd; /* the socket, or -1 for the ring */
	atomic_int
	    conn_fd;   /* fd once accepted, for finish() on the main thread */
	uint8_t *page; /* the ring page */
	int to_client[2], to_server[2]; /* event channel: pipes */
	atomic_bool stop;
	void (*scenario)(struct peer *p);
	pthread_t thread;
	int listen_fd;
	char dir[64], path[128];
};

static uint32_t *fld(struct peer *p, unsigned int off)
{
	return (uint32_t *)(void *)(p->page + off);
}

static void peer_notify(struct peer *p)
{
	char c = 1;

	if (write(p->to_client[1], &c, 1) < 0) {
		/* Full: an event is pending already. */
	}
}

/* Wait up to 10 ms for the client's event; drain it. */
static void peer_wait(struct peer *p)
{
	struct pollfd pfd = {p->to_server[0], POLLIN, 0};
	char buf[64];

	if (poll(&pfd, 1, 10) > 0)
		while (read(p->to_server[0], buf, sizeof(buf)) > 0)
			;
}

/* Read exactly len bytes of requests; -1 when the client is gone/stop. */
static int peer_read(struct peer *p, void *buf, size_t len)
{
	uint8_t *b = buf;

	if (p->fd >= 0) {
		while (len) {
			ssize_t n = read(p->fd, b, len);

			if (n <= 0)
				return -1;
			b += n;
			len -= (size_t)n;
		}
		return 0;
	}
	while (len) {
		uint32_t cons = __atomic_load_n(fld(p, XS_RING_OFF_REQ_CONS),
		                                __ATOMIC_RELAXED);
		uint32_t prod = __atomic_load_n(fld(p, XS_RING_OFF_REQ_PROD),
		                                __ATOMIC_ACQUIRE);
		uint32_t n, off;

		if (atomic_load(&p->stop))
			return -1;
		if (cons == prod) {
			peer_wait(p);
			continue;
		}
		off = cons % XS_RING_SIZE;
		n = XS_RING_SIZE - off;
		if (n > prod - cons)
			n = prod - cons;
		if (n > len)
			n = (uint32_t)len;
		memcpy(b, p->page + XS_RING_OFF_REQ + off, n);
		__atomic_store_n(fld(p, XS_RING_OFF_REQ_CONS), cons + n,
		                 __ATOMIC_SEQ_CST);
		peer_notify(p);
		b += n;
		len -= n;
	}
	return 0;
}

static int peer_write(struct peer *p, const void *buf, size_t len)
{
	const uint8_t *b = buf;

	if (p->fd >= 0)
		return send(p->fd, buf, len, MSG_NOSIGNAL) == (ssize_t)len ? 0
		                                                           : -1;
	while (len) {
		uint32_t cons = __atomic_load_n(fld(p, XS_RING_OFF_RSP_CONS),
		                                __ATOMIC_ACQUIRE);
		uint32_t prod = __atomic_load_n(fld(p, XS_RING_OFF_RSP_PROD),
		                                __ATOMIC_RELAXED);
		uint32_t n, off;

		if (atomic_load(&p->stop))
			return -1;
		if (prod - cons == XS_RING_SIZE) {
			peer_wait(p);
			continue;
		}
		off = prod % XS_RING_SIZE;
		n = XS_RING_SIZE - off;
		if (n > XS_RING_SIZE - (prod - cons))
			n = XS_RING_SIZE - (prod - cons);
		if (n > len)
			n = (uint32_t)len;
		memcpy(p->page + XS_RING_OFF_RSP + off, b, n);
		__atomic_store_n(fld(p, XS_RING_OFF_RSP_PROD), prod + n,
		                 __ATOMIC_RELEASE);
		peer_notify(p);
		b += n;
		len -= n;
	}
	return 0;
}

/* One request: header and payload (nul added).  -1 when gone. */
static int get_req(struct peer *p, struct xs_wire_hdr *h, char *buf)
{
	if (peer_read(p, h, sizeof(*h)) || h->len > XS_PAYLOAD_MAX ||
	    peer_read(p, buf, h->len))
		return -1;
	buf[h->len] = '\0';
	return 0;
}

static void put_msg(struct peer *p, uint32_t type, uint32_t req_id,
                    const void *payload, uint32_t len)
{
	struct xs_wire_hdr h = {type, req_id, 0, len};

	peer_write(p, &h, sizeof(h));
	if (len)
		peer_write(p, payload, len);
}

static void reply_str(struct peer *p, const struct xs_wire_hdr *req,
                      const char *s)
{
	put_msg(p, req->type, req->req_id, s, (uint32_t)strlen(s) + 1);
}

/* Wait until the client is gone (or the test says stop). */
static void drain(struct peer *p)
{
	struct xs_wire_hdr h;
	char buf[XS_PAYLOAD_MAX + 1];

	while (get_req(p, &h, buf) == 0)
		;
}

static void *server_main(void *arg)
{
	struct peer *p = arg;

	if (p->listen_fd >= 0) {
		p->fd = accept(p->listen_fd, NULL, NULL);
		if (p->fd < 0)
			return NULL;
		atomic_store(&p->conn_fd, p->fd);
	}
	p->scenario(p);
	return NULL;
}

/* ---- the client's end of the fake ring ---- */

static int cl_notify(void *arg)
{
	struct peer *p = arg;
	char c = 1;

	if (write(p->to_server[1], &c, 1) < 0) {
		/* Full: pending already. */
	}
	return 0;
}

static int cl_fd(void *arg)
{
	return ((struct peer *)arg)->to_client[0];
}

static void cl_ack(void *arg)
{
	struct peer *p = arg;
	char buf[64];

	while (read(p->to_client[0], buf, sizeof(buf)) > 0)
		;
}

static const struct ring_port_ops cl_ops = {
    .notify = cl_notify,
    .fd = cl_fd,
    .ack = cl_ack,
    .remap = NULL,
    .close = NULL,
};

enum kind { SOCK, RING };

/* Start a peer running `scenario` and connect a handle to it. */
static int start(struct peer *p, enum kind k, void (*scenario)(struct peer *),
                 struct xstore **h)
{
	struct xs_tr *tr;
	int err;

	memset(p, 0, sizeof(*p));
	p->fd = p->listen_fd = -1;
	atomic_init(&p->conn_fd, -1);
	p->scenario = scenario;
	if (k == SOCK) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};

		snprintf(p->dir, sizeof(p->dir), "/tmp/xsfake-XXXXXX");
		if (!mkdtemp(p->dir))
			return -errno;
		snprintf(p->path, sizeof(p->path), "%s/sock", p->dir);
		memcpy(sa.sun_path, p->path, strlen(p->path) + 1);
		p->listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (bind(p->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) ||
		    listen(p->listen_fd, 1))
			return -errno;
		pthread_create(&p->thread, NULL, server_main, p);
		err = sock_tr_open(p->path, &tr);
	} else {
		p->page = aligned_alloc(4096, XS_RING_PAGE_SIZE);
		memset(p->page, 0, XS_RING_PAGE_SIZE);
		/* Every index near the wrap: every copy crosses 2^32. */
		*fld(p, XS_RING_OFF_REQ_CONS) = 0xfffffe00u;
		*fld(p, XS_RING_OFF_REQ_PROD) = 0xfffffe00u;
		*fld(p, XS_RING_OFF_RSP_CONS) = 0xffffff00u;
		*fld(p, XS_RING_OFF_RSP_PROD) = 0xffffff00u;
		*fld(p, XS_RING_OFF_FEATURES) =
		    XS_FEATURE_ERROR | XS_FEATURE_RECONNECTION;
		if (pipe2(p->to_client, O_NONBLOCK) ||
		    pipe2(p->to_server, O_NONBLOCK))
			return -errno;
		pthread_create(&p->thread, NULL, server_main, p);
		err = ring_tr_new(p->page, &cl_ops, p, &tr);
	}
	if (!err) {
		err = xs_open_tr(tr, 0, h);
		if (err)
			tr->ops->free(tr);
	}
	return err;
}

static void finish(struct peer *p, struct xstore *h)
{
	xstore_close(h);
	atomic_store(&p->stop, true);
	/* p->fd is the server thread's until the join: use its copy. */
	if (p->listen_fd >= 0 && atomic_load(&p->conn_fd) >= 0)
		shutdown(atomic_load(&p->conn_fd), SHUT_RDWR);
	pthread_join(p->thread, NULL);
	if (p->listen_fd >= 0) {
		close(p->listen_fd);
		if (p->fd >= 0)
			close(p->fd);
		unlink(p->path);
		rmdir(p->dir);
	}
	if (p->page) {
		close(p->to_client[0]);
		close(p->to_client[1]);
		close(p->to_server[0]);
		close(p->to_server[1]);
		free(p->page);
	}
}

/* ---- scenarios ---- */

/* A READ answered with a length over the limit (never trusted). */
static void sc_oversized(struct peer *p)
{
	struct xs_wire_hdr h, big;
	char buf[XS_PAYLOAD_MAX + 1];

	if (get_req(p, &h, buf))
		return;
	big = (struct xs_wire_hdr){XS_READ, h.req_id, 0, 0x7fffffffu};
	peer_write(p, &big, sizeof(big));
	drain(p);
}

static void check_dropped(struct xstore *h)
{
	char *v;

	/* Once the framing is broken, the connection is gone. */
	CHECK_EQ_INT(xstore_read(h, 0, "/a", &v, NULL), -ENOTCONN);
	CHECK_EQ_INT(xstore_write_str(h, 0, "/a", "x"), -ENOTCONN);
}

static void oversized(enum kind k)
{
	struct peer p;
	struct xstore *h;
	char *v;

	CHECK_EQ_INT(start(&p, k, sc_oversized, &h), 0);
	CHECK_EQ_INT(xstore_read(h, 0, "/a", &v, NULL), -EPROTO);
	check_dropped(h);
	finish(&p, h);
}

/* Exactly XS_PAYLOAD_MAX is fine. */
static void sc_max(struct peer *p)
{
	struct xs_wire_hdr h;
	char buf[XS_PAYLOAD_MAX + 1];
	static char val[XS_PAYLOAD_MAX];

	memset(val, 'm', sizeof(val));
	while (get_req(p, &h, buf) == 0)
		put_msg(p, h.type, h.req_id, val, sizeof(val));
}

static void max_reply(enum kind k)
{
	struct peer p;
	struct xstore *h;
	size_t len;
	char *v;

	CHECK_EQ_INT(start(&p, k, sc_max, &h), 0);
	for (int i = 0; i < 5; i++) {
		CHECK_EQ_INT(xstore_read(h, 0, "/a", &v, &len), 0);
		CHECK_EQ_UINT(len, XS_PAYLOAD_MAX);
		CHECK(v[0] == 'm' && v[XS_PAYLOAD_MAX - 1] == 'm' &&
		      v[XS_PAYLOAD_MAX] == 0);
		free(v);
	}
	finish(&p, h);
}

/* A reply nobody asked for. */
static void sc_unknown_id(struct peer *p)
{
	struct xs_wire_hdr h;
	char buf[XS_PAYLOAD_MAX + 1];

	if (get_req(p, &h, buf))
		return;
	put_msg(p, XS_READ, h.req_id + 1000, "x", 2);
	drain(p);
}

static void unknown_id(enum kind k)
{
	struct peer p;
	struct xstore *h;
	char *v;

	CHECK_EQ_INT(start(&p, k, sc_unknown_id, &h), 0);
	CHECK_EQ_INT(xstore_read(h, 0, "/a", &v, NULL), -EPROTO);
	check_dropped(h);
	finish(&p, h);
}

/* A reply of another type than the request's. */
static void sc_wrong_type(struct peer *p)
{
	struct xs_wire_hdr h;
	char buf[XS_PAYLOAD_MAX + 1];

	if (get_req(p, &h, buf))
		return;
	put_msg(p, XS_WRITE, h.req_id, "OK", 3);
	drain(p);
}

static void wrong_type(enum kind k)
{
	struct peer p;
	struct xstore *h;
	char *v;

	CHECK_EQ_INT(start(&p, k, sc_wrong_type, &h), 0);
	CHECK_EQ_INT(xstore_read(h, 0, "/a", &v, NULL), -EPROTO);
	check_dropped(h);
	finish(&p, h);
}

/* A watch event that is not two strings. */
static void sc_bad_event(struct peer *p)
{
	struct xs_wire_hdr h;
	char buf[XS_PAYLOAD_MAX + 1];

	if (get_req(p, &h, buf))
		return;
	put_msg(p, XS_WATCH_EVENT, 0, "no-nul-at-all", 13);
	drain(p);
}

static void bad_event(enum kind k)
{
	struct peer p;
	struct xstore *h;
	char *v;

	CHECK_EQ_INT(start(&p, k, sc_bad_event, &h), 0);
	CHECK_EQ_INT(xstore_read(h, 0, "/a", &v, NULL), -EPROTO);
	check_dropped(h);
	finish(&p, h);
}

/*
 * Errors by name (known, unknown, without the nul), an event for a token
 * nobody has, then sane replies: the connection lives on.
 */
static void sc_errors(struct peer *p)
{
	static const char *const errs[] = {"EACCES", "EWHATEVER", "ENOENT",
	                                   "EAGAIN", ""};
	struct xs_wire_hdr h;
	char buf[XS_PAYLOAD_MAX + 1];
	int i = 0;

	while (get_req(p, &h, buf) == 0) {
		if (i < 5) {
			/* The third one without its nul. */
			put_msg(p, XS_ERROR, h.req_id, errs[i],
			        (uint32_t)strlen(errs[i]) + (i != 2));
		} else if (i == 5) {
			put_msg(p, XS_WATCH_EVENT, 0, "/x\0nobody's", 12);
			reply_str(p, &h, "fine");
		} else if (h.type == XS_IS_DOMAIN_INTRODUCED) {
			reply_str(p, &h, "maybe");
		} else if (h.type == XS_TRANSACTION_START) {
			reply_str(p, &h, i == 7 ? "12x" : "0");
		} else if (h.type == XS_GET_PERMS) {
			reply_str(p, &h, "z1");
		} else if (h.type == XS_GET_QUOTA) {
			reply_str(p, &h, "99999999999999999999999");
		} else {
			reply_str(p, &h, "fine");
		}
		i++;
	}
}

static void errors(enum kind k)
{
	struct peer p;
	struct xstore *h;
	struct xstore_perm *perms;
	xstore_txn_t t;
	unsigned int n;
	uint64_t q;
	char *v;

	CHECK_EQ_INT(start(&p, k, sc_errors, &h), 0);
	CHECK_EQ_INT(xstore_read(h, 0, "/a", &v, NULL), -EACCES);
	CHECK_EQ_INT(xstore_read(h, 0, "/a", &v, NULL), -EINVAL);
	CHECK_EQ_INT(xstore_read(h, 0, "/a", &v, NULL), -ENOENT);
	CHECK_EQ_INT(xstore_read(h, 0, "/a", &v, NULL), -EAGAIN);
	CHECK_EQ_INT(xstore_read(h, 0, "/a", &v, NULL), -EINVAL);
	CHECK_EQ_INT(xstore_read(h, 0, "/a", &v, NULL), 0);
	CHECK_EQ_STR(v, "fine");
	free(v);
	/* Well framed but nonsense: refused, the connection stays. */
	CHECK_EQ_INT(xstore_is_introduced(h, 1), -EPROTO);
	CHECK_EQ_INT(xstore_txn_start(h, &t), -EPROTO);
	CHECK_EQ_INT(xstore_txn_start(h, &t), -EPROTO);
	CHECK_EQ_INT(xstore_get_perms(h, 0, "/a", &perms, &n), -EPROTO);
	CHECK_EQ_INT(xstore_get_quota(h, -1, "nodes", &q), -EPROTO);
	CHECK_EQ_INT(xstore_read(h, 0, "/a", &v, NULL), 0);
	free(v);
	/* The failed starts hold nothing open: suspend goes through. */
	CHECK_EQ_INT(xstore_suspend(h), 0);
	finish(&p, h);
}

/* Three requests in flight, answered in reverse order. */
static void sc_reverse(struct peer *p)
{
	struct xs_wire_hdr h[3];
	char buf[3][XS_PAYLOAD_MAX + 1];

	for (int i = 0; i < 3; i++)
		if (get_req(p, &h[i], buf[i]))
			return;
	for (int i = 2; i >= 0; i--)
		reply_str(p, &h[i], buf[i]); /* echo the path */
	drain(p);
}

struct reader {
	struct xstore *h;
	char path[16];
	char *got;
	int err;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;

	r->err = xstore_read(r->h, 0, r->path, &r->got, NULL);
	return NULL;
}

/* READs of /p0 .. /p<n-1> at once, one thread each; all done on return. */
static void read_at_once(struct xstore *h, struct reader *r, int n)
{
	pthread_t t[3];

	for (int i = 0; i < n && i < 3; i++) {
		r[i].h = h;
		snprintf(r[i].path, sizeof(r[i].path), "/p%d", i);
		r[i].got = NULL;
		pthread_create(&t[i], NULL, reader_main, &r[i]);
	}
	for (int i = 0; i < n && i < 3; i++)
		pthread_join(t[i], NULL);
}

static void reverse(enum kind k)
{
	struct peer p;
	struct xstore *h;
	struct reader r[3];

	CHECK_EQ_INT(start(&p, k, sc_reverse, &h), 0);
	read_at_once(h, r, 3);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ_INT(r[i].err, 0);
		CHECK_EQ_STR(r[i].got, r[i].path);
		free(r[i].got);
	}
	finish(&p, h);
}

/*
 * Replies framed every way a stream may cut them: one byte per send,
 * and two whole replies in one send (two of the largest: more than one
 * read's buffer in lib/sock.c).
 */
static void sc_framing(struct peer *p)
{
	static char big[XS_PAYLOAD_MAX];
	struct xs_wire_hdr h[2];
	char buf[2][XS_PAYLOAD_MAX + 1];
	char out[2 * (XS_HDR_SIZE + XS_PAYLOAD_MAX)];
	size_t len = 0;

	if (get_req(p, &h[0], buf[0]))
		return;
	{
		struct xs_wire_hdr r = {XS_READ, h[0].req_id, 0, 5};
		char msg[XS_HDR_SIZE + 5];

		memcpy(msg, &r, sizeof(r));
		memcpy(msg + XS_HDR_SIZE, "split", 5);
		for (size_t i = 0; i < sizeof(msg); i++) {
			peer_write(p, msg + i, 1);
			usleep(200);
		}
	}
	for (int i = 0; i < 2; i++)
		if (get_req(p, &h[i], buf[i]))
			return;
	memset(big, 'b', sizeof(big) - 1);
	for (int i = 0; i < 2; i++) {
		struct xs_wire_hdr r = {XS_READ, h[i].req_id, 0, sizeof(big)};

		big[0] = buf[i][2]; /* which reader: "/p0" or "/p1" */
		memcpy(out + len, &r, sizeof(r));
		memcpy(out + len + XS_HDR_SIZE, big, sizeof(big));
		len += XS_HDR_SIZE + sizeof(big);
	}
	peer_write(p, out, len);
	drain(p);
}

static void framing_sock(void)
{
	struct peer p;
	struct xstore *h;
	struct reader r[2];
	char *v;
	size_t n;

	CHECK_EQ_INT(start(&p, SOCK, sc_framing, &h), 0);
	CHECK_EQ_INT(xstore_read(h, 0, "/a", &v, &n), 0);
	CHECK_EQ_STR(v, "split");
	CHECK_EQ_INT((long)n, 5);
	free(v);
	read_at_once(h, r, 2);
	for (int i = 0; i < 2; i++) {
		CHECK_EQ_INT(r[i].err, 0);
		if (r[i].got) {
			CHECK_EQ_INT((long)strlen(r[i].got),
			             XS_PAYLOAD_MAX - 1);
			CHECK_EQ_INT(r[i].got[0], '0' + i);
			CHECK_EQ_INT(r[i].got[XS_PAYLOAD_MAX - 2], 'b');
		}
		free(r[i].got);
	}
	finish(&p, h);
}

/*
 * The receive thread sleeps once per reply, not twice.  A thread
 * blocked in read(2) on a unix socket is also woken when the peer
 * reads what it sent (one wait queue for both directions), so with the
 * daemon reading each request late, as a busy one does, the old
 * receive loop woke for nothing once per request.  Counted, not timed:
 * the thread's voluntary context switches over WAKE_REQS requests, each read
 * by the fake daemon 0.5 ms after it came and answered 0.5 ms later.
 */
#define WAKE_REQS 100

static void sc_late(struct peer *p)
{
	struct xs_wire_hdr h;
	char buf[XS_PAYLOAD_MAX + 1];

	for (;;) {
		struct pollfd pfd = {.fd = p->fd, .events = POLLIN};

		if (poll(&pfd, 1, -1) < 0)
			return;
		usleep(500);
		if (get_req(p, &h, buf))
			return;
		usleep(500);
		{
			/* One send, as the daemon's: no wakeup between the
			 * header and the payload. */
			struct xs_wire_hdr r = {h.type, h.req_id, 0, 2};
			char msg[XS_HDR_SIZE + 2];

			memcpy(msg, &r, sizeof(r));
			memcpy(msg + XS_HDR_SIZE, "v", 2);
			peer_write(p, msg, sizeof(msg));
		}
	}
}

/* The first line of /proc/self/task/<tid>/<file> that starts with
 * `prefix` (any line when it is ""), into line[size]; false if none. */
static bool task_line(const char *tid, const char *file, const char *prefix,
                      char *line, size_t size)
{
	char path[300];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%s/%s", tid, file);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (!found && fgets(line, (int)size, f))
		found = !strncmp(line, prefix, strlen(prefix));
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	return found;
}

/* The voluntary context switches of this process's thread named
 * `name`, or -1 if there is none. */
static long thread_vcsw(const char *name)
{
	DIR *dir = opendir("/proc/self/task");
	struct dirent *e;
	char line[128];
	long found = -1;

	if (!dir)
		return -1;
	while (found < 0 && (e = readdir(dir))) {
		if (e->d_name[0] == '.' ||
		    !task_line(e->d_name, "comm", "", line, sizeof(line)) ||
		    strcmp(line, name))
			continue;
		if (task_line(e->d_name, "status",
		              "voluntary_ctxt_switches:", line, sizeof(line)))
			sscanf(line, "voluntary_ctxt_switches: %ld", &found);
	}
	closedir(dir);
	return found;
}

static void rx_wakeups_sock(void)
{
	struct peer p;
	struct xstore *h;
	long before, after;
	char *v;

	CHECK_EQ_INT(start(&p, SOCK, sc_late, &h), 0);
	/* One request first, so the thread has started and named itself. */
	CHECK_EQ_INT(xstore_read(h, 0, "/a", &v, NULL), 0);
	free(v);
	before = thread_vcsw("xstore-rx");
	CHECK(before >= 0);
	for (int i = 0; i < WAKE_REQS; i++) {
		CHECK_EQ_INT(xstore_read(h, 0, "/a", &v, NULL), 0);
		free(v);
	}
	after = thread_vcsw("xstore-rx");
	printf("# xstore-rx: %ld voluntary switches for %d requests\n",
	       after - before, WAKE_REQS);
	CHECK(after - before < WAKE_REQS * 3 / 2);
	finish(&p, h);
}

/* The peer hangs up in the middle of a reply. */
static void sc_hangup(struct peer *p)
{
	struct xs_wire_hdr h;
	char buf[XS_PAYLOAD_MAX + 1];

	if (get_req(p, &h, buf))
		return;
	put_msg(p, XS_READ, h.req_id, NULL, 0);
	if (get_req(p, &h, buf))
		return;
	peer_write(p, &h, 8); /* half a header */
	if (p->fd >= 0)
		shutdown(p->fd, SHUT_RDWR);
}

static void hangup_sock(void)
{
	struct peer p;
	struct xstore *h;
	char *v;

	CHECK_EQ_INT(start(&p, SOCK, sc_hangup, &h), 0);
	/* Without reconnection (test_lib_reconnect.c has it). */
	xstore_set_reconnect(h, 0);
	CHECK_EQ_INT(xstore_read(h, 0, "/a", &v, NULL), 0);
	free(v);
	CHECK_EQ_INT(xstore_read(h, 0, "/a", &v, NULL), -ENOTCONN);
	CHECK_EQ_INT(xstore_read(h, 0, "/a", &v, NULL), -ENOTCONN);
	finish(&p, h);
}

/* A daemon that takes requests and never answers (a stopped one). */
static void sc_mute(struct peer *p)
{
	drain(p);
}

/* One answer, then silence. */
static void sc_answer_once(struct peer *p)
{
	struct xs_wire_hdr h;
	char buf[XS_PAYLOAD_MAX + 1];

	if (get_req(p, &h, buf))
		return;
	reply_str(p, &h, "v");
	drain(p);
}

/* xstore_set_timeout: the first bound, then the later one; a timed-out
 * request ends the connection. */
static void timeouts(enum kind k)
{
	struct peer p;
	struct xstore *h;
	char *v;

	CHECK_EQ_INT(start(&p, k, sc_mute, &h), 0);
	xstore_set_timeout(h, 50, 0);
	CHECK_EQ_INT(xstore_read(h, 0, "/a", &v, NULL), -ETIMEDOUT);
	CHECK_EQ_INT(xstore_read(h, 0, "/a", &v, NULL), -ENOTCONN);
	finish(&p, h);

	/* Answered once: the second bound applies, not the first. */
	CHECK_EQ_INT(start(&p, k, sc_answer_once, &h), 0);
	xstore_set_timeout(h, 60000, 50);
	CHECK_EQ_INT(xstore_read(h, 0, "/a", &v, NULL), 0);
	free(v);
	CHECK_EQ_INT(xstore_read(h, 0, "/a", &v, NULL), -ETIMEDOUT);
	finish(&p, h);
}

/*
 * DIRECTORY refused as too big, then DIRECTORY_PART in pieces, the
 * node changing (a new generation) after the first piece once.
 */
static void sc_dirpart(struct peer *p)
{
	struct xs_wire_hdr h;
	char buf[XS_PAYLOAD_MAX + 1];
	int parts = 0;

	while (get_req(p, &h, buf) == 0) {
		char msg[64];
		size_t len;
		const char *off = buf + strlen(buf) + 1;
		/* The second piece finds the node changed: start again. */
		const char *gen = parts == 1 ? "2" : "1";

		if (h.type == XS_DIRECTORY) {
			put_msg(p, XS_ERROR, h.req_id, "E2BIG", 6);
			continue;
		}
		parts++;
		/* "gen\0" then names; the last piece ends with "\0". */
		len = (size_t)snprintf(msg, sizeof(msg), "%s", gen) + 1;
		if (!strcmp(off, "0")) {
			memcpy(msg + len, "a\0bb\0", 5);
			len += 5;
		} else if (!strcmp(off, "5")) {
			memcpy(msg + len, "ccc\0\0", 5);
			len += 5;
		}
		put_msg(p, XS_DIRECTORY_PART, h.req_id, msg, (uint32_t)len);
	}
}

static void dirpart(enum kind k)
{
	struct peer p;
	struct xstore *h;
	char **d;
	unsigned int n;

	CHECK_EQ_INT(start(&p, k, sc_dirpart, &h), 0);
	CHECK_EQ_INT(xstore_directory(h, 0, "/big", &d, &n), 0);
	CHECK_EQ_UINT(n, 3);
	CHECK_EQ_STR(d[0], "a");
	CHECK_EQ_STR(d[1], "bb");
	CHECK_EQ_STR(d[2], "ccc");
	CHECK(d[3] == NULL);
	free(d);
	finish(&p, h);
}

/* ---- the ring's own failures ---- */

/* The daemon breaks the response indexes: reported, never "fixed". */
static void sc_bad_rsp_index(struct peer *p)
{
	struct xs_wire_hdr h;
	char buf[XS_PAYLOAD_MAX + 1];

	if (get_req(p, &h, buf))
		return;
	__atomic_store_n(
	    fld(p, XS_RING_OFF_RSP_PROD),
	    __atomic_load_n(fld(p, XS_RING_OFF_RSP_CONS), __ATOMIC_ACQUIRE) +
	        2000,
	    __ATOMIC_RELEASE);
	peer_notify(p);
	drain(p);
}

static void bad_rsp_index_ring(void)
{
	struct peer p;
	struct xstore *h;
	uint32_t cons, prod;
	char *v;

	CHECK_EQ_INT(start(&p, RING, sc_bad_rsp_index, &h), 0);
	CHECK_EQ_INT(xstore_read(h, 0, "/a", &v, NULL), -EPROTO);
	check_dropped(h);
	/* The client left the indexes as they were. */
	cons = *fld(&p, XS_RING_OFF_RSP_CONS);
	prod = *fld(&p, XS_RING_OFF_RSP_PROD);
	CHECK_EQ_UINT(prod - cons, 2000);
	finish(&p, h);
}

/* A ring already broken at open is refused. */
static void bad_index_at_open_ring(void)
{
	uint8_t *page = aligned_alloc(4096, XS_RING_PAGE_SIZE);
	struct xs_tr *tr = NULL;
	uint32_t *req_prod = (uint32_t *)(void *)(page + XS_RING_OFF_REQ_PROD);
	struct peer p;

	memset(&p, 0, sizeof(p));
	CHECK(page != NULL);
	memset(page, 0, XS_RING_PAGE_SIZE);
	CHECK_EQ_INT(pipe2(p.to_client, O_NONBLOCK), 0);
	CHECK_EQ_INT(pipe2(p.to_server, O_NONBLOCK), 0);
	*req_prod = 5000;
	CHECK_EQ_INT(ring_tr_new(page, &cl_ops, &p, &tr), -EIO);
	CHECK_EQ_UINT(*req_prod, 5000);
	close(p.to_client[0]);
	close(p.to_client[1]);
	close(p.to_server[0]);
	close(p.to_server[1]);
	free(page);
}

/* The daemon flags an error and stops: requests fail, nothing hangs. */
static void sc_error_flag(struct peer *p)
{
	struct xs_wire_hdr h;
	char buf[XS_PAYLOAD_MAX + 1];

	if (get_req(p, &h, buf))
		return;
	__atomic_store_n(fld(p, XS_RING_OFF_ERROR), XS_ERROR_PROTO,
	                 __ATOMIC_RELEASE);
	peer_notify(p);
	drain(p);
}

static void error_flag_ring(void)
{
	struct peer p;
	struct xstore *h;
	char *v;

	CHECK_EQ_INT(start(&p, RING, sc_error_flag, &h), 0);
	CHECK_EQ_INT(xstore_read(h, 0, "/a", &v, NULL), -ENOTCONN);
	CHECK_EQ_INT(xstore_read(h, 0, "/a", &v, NULL), -ENOTCONN);
	finish(&p, h);
}

/*
 * Payloads of every size up to the limit through a 1024-byte ring whose
 * indexes wrap: chunked copies both ways, flow control both ways.
 */
static void sc_echo(struct peer *p)
{
	struct xs_wire_hdr h;
	char buf[XS_PAYLOAD_MAX + 1];

	while (get_req(p, &h, buf) == 0) {
		if (h.type == XS_WRITE) {
			size_t pl = strlen(buf) + 1;

			/* Send the value back as a READ-sized answer. */
			put_msg(p, h.type, h.req_id, buf + pl,
			        h.len - (uint32_t)pl);
		} else if (h.type == XS_WATCH) {
			reply_str(p, &h, "OK");
		} else {
			reply_str(p, &h, "OK");
		}
	}
}

static void echo_sizes_ring(void)
{
	struct peer p;
	struct xstore *h;
	static char val[XS_PAYLOAD_MAX];
	size_t room = XS_PAYLOAD_MAX - 3;

	for (size_t i = 0; i < sizeof(val); i++)
		val[i] = (char)('a' + i % 26);
	CHECK_EQ_INT(start(&p, RING, sc_echo, &h), 0);
	for (size_t len = 0; len <= room; len += 97) {
		char *r;
		size_t rlen;
		struct iovec iov[2] = {{(void *)"/x", 3}, {val, len}};

		CHECK_EQ_INT(
		    xs_talk(h, XS_WRITE, 0, iov, 2, 0, &r, &rlen, NULL), 0);
		CHECK_EQ_UINT(rlen, len);
		CHECK_EQ_MEM(r, val, len);
		free(r);
	}
	finish(&p, h);
}

/* Reconnection: the peer resets the ring; watches are sent again. */
struct reconnect_state {
	atomic_int watches;
};

static struct reconnect_state rs;

static void sc_reconnect(struct peer *p)
{
	struct xs_wire_hdr h;
	char buf[XS_PAYLOAD_MAX + 1];

	while (!atomic_load(&p->stop)) {
		if (__atomic_load_n(fld(p, XS_RING_OFF_CONNECTION),
		                    __ATOMIC_ACQUIRE) == XS_RECONNECT) {
			/* Empty both queues, then say so. */
			*fld(p, XS_RING_OFF_REQ_CONS) = __atomic_load_n(
			    fld(p, XS_RING_OFF_REQ_PROD), __ATOMIC_ACQUIRE);
			*fld(p, XS_RING_OFF_RSP_PROD) = __atomic_load_n(
			    fld(p, XS_RING_OFF_RSP_CONS), __ATOMIC_ACQUIRE);
			__atomic_store_n(fld(p, XS_RING_OFF_CONNECTION),
			                 XS_CONNECTED, __ATOMIC_RELEASE);
			peer_notify(p);
			continue;
		}
		if (*fld(p, XS_RING_OFF_REQ_CONS) ==
		    __atomic_load_n(fld(p, XS_RING_OFF_REQ_PROD),
		                    __ATOMIC_ACQUIRE)) {
			peer_wait(p);
			continue;
		}
		if (get_req(p, &h, buf))
			return;
		if (h.type == XS_WATCH)
			atomic_fetch_add(&rs.watches, 1);
		reply_str(p, &h, "OK");
	}
}

static void nop_cb(struct xstore *h, struct xstore_watch *w, const char *path,
                   unsigned int flags, void *arg)
{
}

static void reconnect_ring(void)
{
	struct peer p;
	struct xstore *h;

	atomic_store(&rs.watches, 0);
	CHECK_EQ_INT(start(&p, RING, sc_reconnect, &h), 0);
	CHECK_EQ_INT(xstore_watch_add(h, "/w1", -1, nop_cb, NULL, NULL), 0);
	CHECK_EQ_INT(xstore_watch_add(h, "/w2", 2, nop_cb, NULL, NULL), 0);
	CHECK_EQ_INT(atomic_load(&rs.watches), 2);
	CHECK_EQ_INT(xstore_reconnect(h), 0);
	CHECK_EQ_INT(atomic_load(&rs.watches), 4);
	CHECK_EQ_INT(xstore_write_str(h, 0, "/a", "1"), 0);
	/* Resume of a ring that did not move: watches again. */
	CHECK_EQ_INT(xstore_suspend(h), 0);
	CHECK_EQ_INT(xstore_resume(h), 0);
	CHECK_EQ_INT(atomic_load(&rs.watches), 6);
	finish(&p, h);
}

/* No reconnection feature: xstore_reconnect says so. */
static void sc_plain(struct peer *p)
{
	struct xs_wire_hdr h;
	char buf[XS_PAYLOAD_MAX + 1];

	while (get_req(p, &h, buf) == 0)
		reply_str(p, &h, "OK");
}

static void no_reconnect_feature_ring(void)
{
	struct peer p;
	struct xstore *h;

	CHECK_EQ_INT(start(&p, RING, sc_plain, &h), 0);
	__atomic_store_n(fld(&p, XS_RING_OFF_FEATURES), 0, __ATOMIC_RELEASE);
	CHECK_EQ_INT(xstore_reconnect(h), -EOPNOTSUPP);
	finish(&p, h);
}

#define BOTH(fn)                                                               \
	static void test_##fn##_sock(void)                                     \
	{                                                                      \
		fn(SOCK);                                                      \
	}                                                                      \
	static void test_##fn##_ring(void)                                     \
	{                                                                      \
		fn(RING);                                                      \
	}
BOTH(oversized)
BOTH(max_reply)
BOTH(unknown_id)
BOTH(wrong_type)
BOTH(bad_event)
BOTH(errors)
BOTH(reverse)
BOTH(dirpart)
BOTH(timeouts)

#define T2(fn) CHECK_TEST(test_##fn##_sock), CHECK_TEST(test_##fn##_ring)
static const struct check_test tests[] = {
    T2(oversized),
    T2(max_reply),
    T2(unknown_id),
    T2(wrong_type),
    T2(bad_event),
    T2(errors),
    T2(reverse),
    T2(dirpart),
    T2(timeouts),
    CHECK_TEST(hangup_sock),
    CHECK_TEST(framing_sock),
    CHECK_TEST(rx_wakeups_sock),
    CHECK_TEST(bad_rsp_index_ring),
    CHECK_TEST(bad_index_at_open_ring),
    CHECK_TEST(error_flag_ring),
    CHECK_TEST(echo_sizes_ring),
    CHECK_TEST(reconnect_ring),
    CHECK_TEST(no_reconnect_feature_ring),
};

CHECK_MAIN(tests)
