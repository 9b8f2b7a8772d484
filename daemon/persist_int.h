/*
 * persist_int.h - what persist.c (the journal's use at run time and the
 * restart) and persist_rec.c (the encoding of records and snapshots)
 * share: the record kinds, a growing byte buffer, the table of domains
 * being loaded, and the module's state.
 */
#ifndef XSTORE_PERSIST_INT_H
#define XSTORE_PERSIST_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/domain.h"
#include "daemon/journal.h"
#include "daemon/state.h"

enum {
	REC_STORE = 1,
	REC_DOMAIN = 2,
	REC_GONE = 3,
	REC_SESSION = 4,
	REC_GLOBALS = 5,
};

#define SNAP_MAGIC   0x53445358u /* "XSDS" */
#define SNAP_VERSION 1u
/* While the journal cannot be written, a snapshot is tried this often. */
#define RETRY_MS     1000u
#define RETRY_MAX_MS 60000u
/* How long a restart waits for the lock of a daemon still exiting. */
#define LOCK_WAIT_MS 2000u

struct wbuf {
	unsigned char *p;
	size_t len, cap;
	bool is_oom;
};

/* prec_w_room - room for n more bytes at the end of w (NULL: no memory,
 * and w stays failed); the others append, or do nothing once failed. */
void *prec_w_room(struct wbuf *w, size_t n);
void prec_w_bytes(struct wbuf *w, const void *src, size_t n);
void prec_w_u64(struct wbuf *w, uint64_t v, size_t size); /* LE, size bytes */
void prec_w_put32_at(struct wbuf *w, size_t off, uint32_t v);
#define w_u8(w, v)  prec_w_u64(w, v, 1)
#define w_u16(w, v) prec_w_u64(w, v, 2)
#define w_u32(w, v) prec_w_u64(w, v, 4)

struct saved_watch {
	char *path, *token;
	int depth;
	size_t rel;
};

/* A domain as the journal left it: its record and its guest session. */
struct saved_dom {
	struct domain_saved rec;
	bool has_session;
	uint32_t req_cons, rsp_from, next_txid;
	uint32_t *txids;
	unsigned int ntxids;
	struct saved_watch *watches;
	unsigned int nwatches;
	unsigned char *in, *out;
	size_t in_len, out_len;
};

struct persist {
	struct daemon *d;
	struct journal *j;
	/* Domain records changed this turn, each once. */
	unsigned int *dirty;
	unsigned int nr_dirty, cap_dirty;
	unsigned char *is_dirty;      /* by domid */
	struct quota_set quota_saved; /* the global quotas last recorded */
	struct wbuf scratch;
	uint64_t retry_timer;
	unsigned int retry_ms; /* the next retry's delay */
	int compact_fd;        /* on the loop while a compaction runs, or -1 */
	double last_pause_sec; /* the last compaction's start: freeze, file */
	/* Only while loading. */
	struct saved_dom **saved; /* by domid */
	uint64_t loaded_records;
	uint64_t loaded_nodes;
};

/* Encoding records (see persist_rec.c for the formats). */
void prec_enc_quota(struct wbuf *w, const struct quota_set *q);
void prec_enc_domain(struct wbuf *w, const struct domain_saved *s);
/* A guest connection's session; false if its ring cannot be read. */
bool prec_enc_session(struct wbuf *w, struct conn *c);
/* The body of a SESSION for any connection `c` (a socket's too: its
 * live update), with the ring's position given. */
void prec_enc_conn(struct wbuf *w, struct conn *c, uint32_t req_cons,
                   uint32_t rsp_from);
/* Decoding one DOMAIN body (quotas it lacks from `def`) or SESSION body
 * (*domid, and the rest into `s`, which prec_saved_session_clear frees;
 * nothing kept on error): 0, -EINVAL, -ENOMEM.  For the live update. */
int prec_dec_domain(const void *buf, size_t len, const struct quota_set *def,
                    struct domain_saved *out);
int prec_dec_session(const void *buf, size_t len, unsigned int *domid,
                     struct saved_dom *s);
void prec_saved_session_clear(struct saved_dom *s);
/* Is `c` a live guest connection whose session is saved? */
bool prec_is_guest_session(const struct conn *c);

/* Loading: a journal record, the snapshot (journal_recover's callbacks,
 * `arg` the struct persist), and freeing a loaded domain. */
int prec_on_record(void *arg, unsigned int kind, const void *buf, size_t len);
int prec_on_snapshot(void *arg, const void *buf, size_t len);
void prec_saved_free(struct persist *p, unsigned int domid);

/*
 * The whole state as a snapshot payload, in two halves so that the
 * writing can run on the compaction's thread: prec_freeze (loop thread)
 * encodes the daemon's entries and freezes the store into *out;
 * prec_frozen_dump (a journal_dump_fn, any one thread) writes them;
 * prec_frozen_release (a journal_release_fn, loop thread) frees them.
 * prec_freeze: 0 or -ENOMEM.  prec_dump does all three at once
 * (journal_dump_fn, `arg` the struct persist).
 */
struct prec_frozen;
int prec_freeze(struct persist *p, struct prec_frozen **out);
int prec_frozen_dump(void *arg, journal_write_fn *write, void *warg);
void prec_frozen_release(void *arg);
int prec_dump(void *arg, journal_write_fn *write, void *warg);

#endif
