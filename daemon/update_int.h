/*
 * update_int.h - what update.c (the CONTROL command, the probe, the
 * exec) and update_stream.c (the stream: written by the old binary, read
 * by the new) share.  The stream's layout is in update_stream.c and
 * docs/live-update.md.
 */
#ifndef XSTORE_UPDATE_INT_H
#define XSTORE_UPDATE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

struct conn;
struct daemon;

#define UPDATE_MAGIC 0x554c5358u /* "XSLU" */

/* The state of live update in one daemon (d->update). */
struct update {
	/* This process's command line, without the options that only a
	 * predecessor gives (--live-update-fd, --live-update-error). */
	char **argv;
	int argc;
	unsigned int format; /* the stream version we write and read */
	/* -f and -c: the new binary and its options (NULL: ours). */
	char *file;
	char *cmdline;
	/* The file passed the probe with these options, and was then: */
	bool is_probed;
	struct stat probed;
	/* -s: when the first -s came (0: none), its options. */
	uint64_t started_ms;
	/* Accepted: exec at the end of this turn, answering this. */
	bool is_due;
	uint64_t conn_id;
	uint32_t req_id, tx_id;
};

/* The header every version of the stream starts with, so that a binary
 * can always go back to the one that wrote it. */
struct ustream_head {
	uint32_t version;
	int exe_fd;         /* the writer's binary (O_PATH), or -1 */
	char **argv;        /* its command line (NULL-terminated) */
	size_t records_off; /* where the version's records start */
};

/*
 * ustream_write - write the whole state of `d` to `fd` (a memfd at
 * offset 0) as stream version u->format; `pending` the connection whose
 * -s the new binary answers (NULL: none).  The fds it names (listening
 * sockets, socket connections) must stay open across the exec.
 * 0 or -errno.
 */
int ustream_write(struct daemon *d, const struct update *u, int fd, int exe_fd,
                  const struct conn *pending);

/*
 * ustream_head - read the header of the stream mapped at buf[0..len)
 * into *h (h->argv malloc'ed: ustream_head_free).  0 or -EINVAL.
 */
int ustream_head(const void *buf, size_t len, struct ustream_head *h);
void ustream_head_free(struct ustream_head *h);

/*
 * ustream_load - make `d` (just made by daemon_init) the state of the
 * stream; `error` NULL to answer the pending -s with OK, else with it.
 * Fails (-errno, logged, into why[size]) only before anything outside
 * this process changed.
 */
int ustream_load(struct daemon *d, const void *buf, size_t len,
                 unsigned int format, const char *error, char *why,
                 size_t size);

/*
 * ustream_verify - decode everything ustream_load would (the tree, the
 * transactions' images into it, the domains' and sessions' records)
 * without touching anything outside, and free it: what the new binary
 * runs in a child first, so that a binary that crashes on the stream
 * crashes there and the old one comes back.  0, or -errno (why[size])
 * where ustream_load would fail.
 */
int ustream_verify(const void *buf, size_t len, unsigned int format, char *why,
                   size_t size);

#endif
