/*
 * mux.h - the multiplexing core of xsmux: many clients' XenStore
 * conversations over one guest ring, each client's ids, transactions and
 * watches kept apart, as Linux's xenbus device does for its processes.
 *
 * mux.c owns the protocol state and does no I/O of its own: bytes leave
 * through the mux_ops callbacks (main.c: the ring, the client sockets).
 * Single-threaded: every function is called from the event loop.
 */
#ifndef XSTORE_XSMUX_MUX_H
#define XSTORE_XSMUX_MUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xstore/wire.h"

/* Requests a client may have unanswered plus replies it has not read. */
#define MUX_CLIENT_REQS_MAX 128u
/* Watch events queued for one client; past it the oldest are dropped. */
#define MUX_CLIENT_EVENTS_MAX 1024u
/* Watches one client may hold through the mux. */
#define MUX_CLIENT_WATCHES_MAX 1024u

/* One message queued for a client: header then payload.  Owned by it. */
struct mux_msg {
	struct mux_msg *next;
	size_t size;
	bool is_event;
	char data[];
};

struct mux_watch {
	struct mux_watch *next;  /* the owner's list */
	struct mux_watch *hnext; /* the mux's table, by id */
	struct mux_client *owner;
	uint32_t id; /* the daemon sees the token "#xsmux:<id>" */
	char *path;  /* as the client sent it */
	char *token; /* the client's own */
	size_t path_len, token_len;
	char *extra; /* what followed the token (WATCH's depth), or NULL */
	size_t extra_len;
};

struct mux_txn {
	struct mux_txn *next;
	uint32_t id;
	bool is_stale; /* from before a resume: the daemon forgot it */
};

struct mux_client {
	struct mux_client *next;
	struct mux *mux;
	int fd;
	uint64_t serial; /* for the log */
	char in[XS_HDR_SIZE + XS_PAYLOAD_MAX];
	size_t in_len;
	struct mux_msg *out_head, *out_tail;
	size_t out_off;        /* bytes of out_head already written */
	unsigned int inflight; /* requests sent to the ring, unanswered */
	unsigned int nr_replies, nr_events; /* queued */
	unsigned int nr_watches;
	unsigned long dropped; /* events dropped for it */
	struct mux_watch *watches;
	struct mux_txn *txns;
	bool is_dead;
};

/* A request sent to the ring, waiting for its reply. */
struct mux_pending {
	struct mux_pending *hnext;
	struct mux_client *client; /* NULL: the mux's own, or an orphan */
	uint32_t id;               /* on the ring */
	uint32_t client_req_id;
	uint32_t type;
	uint32_t tx_id;
	uint32_t watch_id; /* WATCH: the record made for it, else 0 */
	bool is_internal;  /* the mux's own: the reply goes to on_reply */
};

struct mux;

struct mux_ops {
	/* Send one message on the ring; 0 or -errno (fatal for the mux). */
	int (*ring_send)(struct mux *m, const struct xs_wire_hdr *hdr,
	                 const void *payload);
	/* Something changed for `c`: its output, or whether it may send. */
	void (*client_changed)(struct mux_client *c);
	/* A reply to a request the mux made itself (mux_send_internal). */
	void (*on_reply)(struct mux *m, uint32_t type, uint32_t req_type,
	                 const char *payload, uint32_t len);
	/* A watch event for the mux's own token. */
	void (*on_event)(struct mux *m, const char *path, const char *token);
};

#define MUX_HASH 256u

struct mux {
	const struct mux_ops *ops;
	void *arg;
	unsigned int domid;
	uint32_t next_id;     /* ring req_ids and watch ids */
	uint64_t next_serial; /* client serials */
	bool is_held;         /* suspended: client requests wait */
	struct mux_client *clients;
	struct mux_pending *pending[MUX_HASH];
	struct mux_watch *watches[MUX_HASH];
	unsigned int nr_pending;
};

void mux_init(struct mux *m, const struct mux_ops *ops, void *arg,
              unsigned int domid);
/* mux_fini - free every client record (not their fds: main.c's). */
void mux_fini(struct mux *m);

/* mux_client_new - a connected client on `fd`; NULL on -ENOMEM. */
struct mux_client *mux_client_new(struct mux *m, int fd);

/*
 * mux_client_input - take the bytes now in c->in (c->in_len): handle
 * every whole request while the client may send.  0, or -EPROTO when the
 * client broke the framing (the caller closes it).
 */
int mux_client_input(struct mux_client *c);

/* mux_client_can_read - may we read more from the client now? */
bool mux_client_can_read(const struct mux_client *c);

/* mux_client_wrote - `n` bytes of the output queue went out. */
void mux_client_wrote(struct mux_client *c, size_t n);

/*
 * mux_client_close - the client is gone: end its transactions and remove
 * its watches on the daemon, forget its pending requests, free it.
 * The caller has closed (or will close) its fd.
 */
void mux_client_close(struct mux_client *c);

/* mux_ring_input - a message from the ring (payload nul-terminated). */
void mux_ring_input(struct mux *m, const struct xs_wire_hdr *hdr,
                    const char *payload);

/*
 * mux_send_internal - a request of the mux's own (suspend handling);
 * the reply goes to ops->on_reply.  0 or -errno.
 */
int mux_send_internal(struct mux *m, uint32_t type, const void *payload,
                      uint32_t len);

/*
 * mux_resumed - the ring was reset after a resume: answer every request
 * that was in flight with EAGAIN, mark transactions stale, register every
 * watch again.  0 or -errno from the ring.
 */
int mux_resumed(struct mux *m);

/* mux_set_held - hold (suspend) or release client requests. */
void mux_set_held(struct mux *m, bool is_held);

#endif
