/*
 * xstore/xstore.h - libxstore, the XenStore client library.
 *
 * A handle (`struct xstore`) is one connection to a XenStore daemon, over
 * a unix socket or over a domain's shared ring page.  There is no global
 * state: every call names its handle.
 *
 * Conventions, for every function below unless it says otherwise:
 *   - Return 0 on success or a negative errno value.  Errors the daemon
 *     reports come back as the errno named by its reply ("ENOENT" gives
 *     -ENOENT, an unknown name -EINVAL).  The library's own errors:
 *       -EINVAL      a bad argument (NULL where a value is needed, ...)
 *       -E2BIG       the request payload would exceed XS_PAYLOAD_MAX
 *                    (4096); nothing was sent
 *       -ENOMEM      out of memory
 *       -ENOTCONN    the connection is lost (daemon gone, ring error);
 *                    over a socket, after the automatic reconnection
 *                    gave up (see "When the daemon restarts")
 *       -ECONNRESET  the connection was reset while this request was
 *                    waiting for its reply (xstore_reconnect(), resume),
 *                    or the daemon went away meanwhile and the request
 *                    may have been applied (outcome unknown)
 *       -ETIMEDOUT   no reply within xstore_set_timeout()'s bound, or
 *                    still reconnecting when that bound ran out
 *       -EPROTO      the daemon broke the protocol.  When the framing
 *                    cannot be trusted any more (a length over 4096, an
 *                    unknown req_id, a reply of the wrong type, a
 *                    malformed watch event, a broken ring) the
 *                    connection is dropped: the requests waiting get
 *                    -EPROTO, later calls -ENOTCONN.  A well-framed reply
 *                    whose payload makes no sense (a transaction id that
 *                    is not a number) fails only its own call.
 *   - Memory returned through an out-pointer is allocated with malloc()
 *     and owned by the caller, who releases it with free() -- one free()
 *     per returned pointer, even for arrays of strings (those are one
 *     block).  On error nothing is returned and out-pointers are left
 *     untouched.
 *   - Paths are absolute ("/local/domain/1/name") or, over a ring,
 *     relative to the guest's home ("name"), as the protocol defines.
 *   - `t` is a transaction from xstore_txn_start(), or XSTORE_TXN_NONE.
 *   - Thread-safety: every function may be called concurrently on one
 *     handle from any number of threads, and requests from different
 *     threads are in flight at the same time (replies are matched by
 *     req_id).  The exceptions are xstore_close() (no call may be running
 *     or start on that handle) and those documented at the function.
 *     Watch callbacks run on the handle's watch thread, one at a time, in
 *     the order the events arrived.
 */
#ifndef XSTORE_XSTORE_H
#define XSTORE_XSTORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xstore/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

struct xstore;

/* ------------------------------------------------------------------ */
/* Connections                                                         */
/* ------------------------------------------------------------------ */

/* xstore_open flags */
#define XSTORE_OPEN_READONLY (1u << 0) /* default socket: use socket_ro */

/*
 * xstore_open - connect to a XenStore daemon.
 *
 * `spec` selects the transport:
 *   "unix:PATH"        the daemon's unix socket at PATH
 *   "ring:DOMID"       act as simulated guest DOMID over its xenstore ring
 *                      page and event channel (the sim under $XSIM_DIR,
 *                      else the platform's default directory).  A ring
 *                      found broken (indexes out of range) is refused
 *                      with -EIO, never reset.  When the daemon offers
 *                      ring reconnection, the ring is reset at open, so
 *                      that nothing an earlier client left (watches,
 *                      transactions, half a message) leaks into this one.
 *                      One handle per ring: a domain has one.  But when
 *                      the guest's multiplexer (xsmux, which xsim create
 *                      starts) answers on the unix socket
 *                      SIMDIR/dom<DOMID>/xenbus, the handle connects
 *                      there instead (xstore_transport() says "unix"):
 *                      the multiplexer owns the ring and keeps any number
 *                      of handles' transactions and watches apart, as
 *                      Linux's /dev/xen/xenbus does; no reset at open
 *                      then (it would hit every process of the guest).
 *                      A socket nobody answers is ignored.
 *   "ring:DOMID:DIR"   the same with the sim directory DIR
 *   NULL or ""         $XENSTORED_PATH if set (Xen's variable), else the
 *                      daemon's default socket: $XENSTORED_RUNDIR/socket,
 *                      else /var/run/xenstored/socket for root, else
 *                      $XDG_RUNTIME_DIR/xstored/socket, else
 *                      /tmp/xstored-UID/socket.
 *   any other string   taken as a socket path (Xen's tools accept that)
 * `flags` is a mask of XSTORE_OPEN_*.  On success *out gets the handle,
 * which the caller releases with xstore_close().  The handle starts a
 * receive thread ("xstore-rx"); a watch thread ("xstore-watch") starts
 * with the first watch.
 * Errors: -EINVAL bad spec; the connect(2)/platform error (-ENOENT no
 * such socket or domain, -ECONNREFUSED, -EACCES ...); -ENOMEM.
 */
int xstore_open(const char *spec, unsigned int flags, struct xstore **out);

/*
 * xstore_close - disconnect and free the handle: unregisters nothing on
 * the daemon's side (closing the connection drops its watches and
 * transactions there), stops the threads, frees every watch.  Must not be
 * called from a watch callback, nor while another thread uses the handle.
 * NULL is ignored.
 */
void xstore_close(struct xstore *h);

/*
 * xstore_default_path - the socket path that xstore_open(NULL, flags)
 * would use, into buf (size bytes, nul-terminated).  -ENAMETOOLONG if it
 * does not fit.
 */
int xstore_default_path(unsigned int flags, char *buf, size_t size);

/* xstore_transport - "unix" or "ring" (static string). */
const char *xstore_transport(const struct xstore *h);

/*
 * xstore_set_timeout - opt-in bound on the wait for a reply (the default
 * is to wait forever, as a daemon may be slow but is never wrong): until
 * the daemon has answered once on this connection, a request whose reply
 * has not come within `first_ms` fails with -ETIMEDOUT; after that,
 * within `ms`.  0 = no bound.  A connected socket does not prove a live
 * daemon (a stopped one still accepts through its backlog), hence the
 * first bound, meant to be short.  A timed-out request ends the
 * connection (the stream is out of step): later requests fail with
 * -ENOTCONN until xstore_reconnect/xstore_resume, after which the first
 * bound applies again.  Requests already waiting keep the bound they
 * started with.  Thread-safe.
 */
void xstore_set_timeout(struct xstore *h, unsigned int first_ms,
                        unsigned int ms);

/*
 * xstore_set_reconnect - how long a socket handle keeps trying to connect
 * again by itself when its daemon goes away (see "When the daemon
 * restarts" below): at most `max_ms` milliseconds per break; 0 = never
 * (calls then fail with -ENOTCONN/-ECONNRESET until xstore_reconnect()).
 * The default is $XSTORE_RECONNECT_MS, read at xstore_open() (decimal
 * milliseconds; a value that does not parse is ignored), else 30000.
 * A cycle already running keeps its bound, but 0 ends it after its
 * current try.  No effect over a ring.  Thread-safe.
 */
void xstore_set_reconnect(struct xstore *h, unsigned int max_ms);

/* ------------------------------------------------------------------ */
/* Nodes                                                               */
/* ------------------------------------------------------------------ */

/* Transactions: an id chosen by the daemon; 0 means "no transaction". */
typedef uint32_t xstore_txn_t;
#define XSTORE_TXN_NONE ((xstore_txn_t)0)

/*
 * xstore_read - the value of `path`.  *out gets a malloc'ed copy with a
 * nul added after the value (values may hold nuls; *len, if len is not
 * NULL, gets the length without the added nul).
 * Errors: -ENOENT, -EACCES, ...
 */
int xstore_read(struct xstore *h, xstore_txn_t t, const char *path, char **out,
                size_t *len);

/*
 * xstore_write - set `path` to the `len` bytes at `data` (creating missing
 * parents).  -E2BIG if path, nul and value exceed 4096 bytes.
 */
int xstore_write(struct xstore *h, xstore_txn_t t, const char *path,
                 const void *data, size_t len);

/* xstore_write_str - xstore_write of a nul-terminated string (no nul). */
int xstore_write_str(struct xstore *h, xstore_txn_t t, const char *path,
                     const char *value);

/* xstore_mkdir - make sure `path` exists (an existing value is kept). */
int xstore_mkdir(struct xstore *h, xstore_txn_t t, const char *path);

/*
 * xstore_rm - remove `path` and everything below it.  Removing a missing
 * node is not an error unless its parent is missing too (-ENOENT).
 */
int xstore_rm(struct xstore *h, xstore_txn_t t, const char *path);

/*
 * xstore_rm_tree - remove `path` and its subtree depth-first, one node at
 * a time (for daemons whose RM refuses non-empty nodes).  With
 * t == XSTORE_TXN_NONE it runs in a transaction of its own and retries
 * that transaction while the commit fails with -EAGAIN; inside the
 * caller's transaction `t` it does not retry (the caller's commit will
 * report -EAGAIN).  -ENOENT if `path` does not exist.
 */
int xstore_rm_tree(struct xstore *h, xstore_txn_t t, const char *path);

/*
 * xstore_directory - the names of the children of `path` (leaf names,
 * not full paths).  *out gets one malloc'ed block: an array of *num
 * string pointers followed by a NULL pointer, then the strings; free it
 * with one free(*out).  Lists longer than one reply are fetched with
 * DIRECTORY_PART when the daemon supports it (and re-fetched if the node
 * changes meanwhile).  `num` may be NULL.
 */
int xstore_directory(struct xstore *h, xstore_txn_t t, const char *path,
                     char ***out, unsigned int *num);

/*
 * xstore_exists - 1 if `path` exists, 0 if it does not (-ENOENT), else
 * -errno (-EACCES: it may exist but we may not read it).
 */
int xstore_exists(struct xstore *h, xstore_txn_t t, const char *path);

/*
 * xstore_join - "dir/name", or a copy of `dir` when name is NULL or "".
 * malloc'ed, owned by the caller; NULL when out of memory.
 */
char *xstore_join(const char *dir, const char *name);

/* ------------------------------------------------------------------ */
/* Formatted helpers (the seed's scanf/printf/gather)                  */
/* ------------------------------------------------------------------ */

/*
 * xstore_scanf - read `path` and sscanf() its value with `fmt`.
 * *count (if not NULL) gets the number of items converted.  -ERANGE if
 * nothing converted (as the seed), else the read's error.
 */
int xstore_scanf(struct xstore *h, xstore_txn_t t, const char *path, int *count,
                 const char *fmt, ...) __attribute__((format(scanf, 5, 6)));

/* xstore_printf / xstore_vprintf - write the printf()-formatted value. */
int xstore_printf(struct xstore *h, xstore_txn_t t, const char *path,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int xstore_vprintf(struct xstore *h, xstore_txn_t t, const char *path,
                   const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

/*
 * xstore_gather - read several children of `dir` at once.  The variable
 * arguments are triples (const char *name, const char *fmt, void *result)
 * ended by a null pointer name: pass (char *)NULL, not a bare NULL, which
 * may be a plain int in a variadic call.  With a fmt, the value is sscanf()'d
 * into result
 * (-EINVAL if nothing converts); with fmt NULL, *(char **)result gets the
 * malloc'ed value (owned by the caller).  Stops at the first error; on
 * error, strings already returned stay owned by the caller (set them to
 * NULL beforehand to free them uniformly).
 */
int xstore_gather(struct xstore *h, xstore_txn_t t, const char *dir, ...)
    __attribute__((sentinel));

/* ------------------------------------------------------------------ */
/* Transactions                                                        */
/* ------------------------------------------------------------------ */

/*
 * xstore_txn_start - start a transaction; *t gets its id.  An open
 * transaction holds off xstore_suspend() until it ends.
 */
int xstore_txn_start(struct xstore *h, xstore_txn_t *t);

/*
 * xstore_txn_end - commit (`commit` true) or abort transaction `t`.  The
 * transaction is over whatever the result.  -EAGAIN: the commit lost
 * against a concurrent change, or the connection it lived on is gone;
 * redo the whole transaction.  -ECONNRESET: the daemon went away while
 * the commit was in flight; it may have been applied (see "When the
 * daemon restarts").
 */
int xstore_txn_end(struct xstore *h, xstore_txn_t t, bool commit);

/* ------------------------------------------------------------------ */
/* Permissions                                                         */
/* ------------------------------------------------------------------ */

/* Access bits of a permission entry ("n", "r", "w", "b" on the wire). */
#define XS_PERM_NONE  0u
#define XS_PERM_READ  1u
#define XS_PERM_WRITE 2u
#define XS_PERM_BOTH  (XS_PERM_READ | XS_PERM_WRITE)

/*
 * One entry of a node's permission list.  The first entry names the
 * owner, and its access applies to every domain without an entry of its
 * own.
 */
struct xstore_perm {
	unsigned int domid;
	unsigned int access; /* XS_PERM_* */
};

/*
 * xstore_get_perms - the permission list of `path`.  *out gets a malloc'ed
 * array of *num entries (free(*out)).
 */
int xstore_get_perms(struct xstore *h, xstore_txn_t t, const char *path,
                     struct xstore_perm **out, unsigned int *num);

/*
 * xstore_set_perms - replace the permission list of `path` with `perms`
 * (num >= 1; the first is the owner).  -EINVAL for num == 0, a domid over
 * 65535 or an access value over 3.
 */
int xstore_set_perms(struct xstore *h, xstore_txn_t t, const char *path,
                     const struct xstore_perm *perms, unsigned int num);

/*
 * xstore_perm_parse - parse one wire/CLI permission ("r5", "b0", "n12")
 * into *out.  -EINVAL if malformed.
 */
int xstore_perm_parse(const char *s, struct xstore_perm *out);

/*
 * xstore_perm_format - the wire form of `p` into buf ("b0"); returns buf.
 * buf must hold XSTORE_PERM_STRLEN bytes.
 */
#define XSTORE_PERM_STRLEN 8u
char *xstore_perm_format(const struct xstore_perm *p, char *buf);

/* ------------------------------------------------------------------ */
/* Watches                                                             */
/* ------------------------------------------------------------------ */

struct xstore_watch; /* owned by the library, from add to remove */

/* Flags passed to a watch callback. */
/*
 * More events for this watch arrived than XSTORE_WATCH_QUEUE_MAX (or the
 * handle's limit) while the callback was behind: they were merged into
 * this one event, whose path is the watched path itself.  The callback
 * should re-read everything it watches; no later change is lost, since
 * this event is delivered after all of them.
 */
#define XSTORE_EVENT_OVERFLOW (1u << 0)

/*
 * A watch callback.  `path` is the event's path (valid during the call
 * only); `arg` is the one given to xstore_watch_add().  It runs on the
 * watch thread; it may call any function of the library on the same
 * handle, including xstore_watch_remove() of any watch (its own too),
 * except xstore_close() and xstore_suspend().  While it runs, no other
 * callback of this handle does.
 */
typedef void xstore_watch_fn(struct xstore *h, struct xstore_watch *w,
                             const char *path, unsigned int flags, void *arg);

#define XSTORE_WATCH_QUEUE_MAX 1024u /* default pending events per watch */

/*
 * xstore_watch_add - watch `path` (a node path or "@introduceDomain",
 * "@releaseDomain" ...).  `depth` < 0 means the whole subtree; 0 and up
 * limit it to that many levels below `path` (needs a daemon with the
 * watch-depth feature, else the daemon's error).  The daemon fires one
 * event straight away.  `fn` is called for each event until
 * xstore_watch_remove().  *out (may be NULL) gets the watch.  The library
 * makes a unique token for it.  Watches survive xstore_resume(),
 * xstore_reconnect() and a restart of the daemon: they are registered
 * again, and fire once for that.
 */
int xstore_watch_add(struct xstore *h, const char *path, int depth,
                     xstore_watch_fn *fn, void *arg, struct xstore_watch **out);

/*
 * xstore_watch_remove - stop watch `w`: tell the daemon, drop its queued
 * events, and -- unless called from a watch callback -- wait until no
 * callback of `w` is running.  `w` is freed: do not use it afterwards.
 * The watch is gone from the library even if the daemon's UNWATCH fails
 * (that error is returned).
 */
int xstore_watch_remove(struct xstore *h, struct xstore_watch *w);

/* xstore_watch_path - the path `w` watches (valid until it is removed). */
const char *xstore_watch_path(const struct xstore_watch *w);

/*
 * xstore_set_watch_queue_max - the bound on pending events per watch
 * (at least 1; default XSTORE_WATCH_QUEUE_MAX).  Guards the client's
 * memory against an event flood (XSA-349) without losing the last state:
 * see XSTORE_EVENT_OVERFLOW.
 */
void xstore_set_watch_queue_max(struct xstore *h, unsigned int max);

/*
 * xstore_watch_set_queue_max - the bound on pending events of watch `w`
 * alone; 0 (the default) means the handle's.  For a watch on a node
 * that a peer can make fire at will (the other end's `state`), where 1
 * is enough: the callback re-reads the node anyway.  Applies from the
 * next event.  Any thread, while `w` is registered.
 */
void xstore_watch_set_queue_max(struct xstore_watch *w, unsigned int max);

/* ------------------------------------------------------------------ */
/* Suspend, resume, reconnection                                       */
/* ------------------------------------------------------------------ */

/*
 * When the daemon restarts (socket handles).  The daemon may be killed
 * and started again (with its journal the store comes back; socket
 * connections do not).  A socket handle reconnects by itself:
 *   - When the connection breaks (EOF or ECONNRESET on the receive side,
 *     EPIPE or ECONNRESET on a send), the handle connects again to the
 *     same path, at once and then with backoff (10 ms doubling to
 *     500 ms), for at most xstore_set_reconnect()'s bound (30 s by
 *     default, $XSTORE_RECONNECT_MS).  Calls made meanwhile wait for it,
 *     within their xstore_set_timeout() bound if one is set (-ETIMEDOUT).
 *     It gives up at once when the socket file is gone: a daemon that
 *     crashed leaves it (its successor replaces it), one that stopped
 *     cleanly, or a multiplexer whose domain went, removed it.
 *   - Connected again, it registers every watch again (each fires once,
 *     as after xstore_watch_add(): callers see one extra event, on the
 *     watched path, and should re-read what they watch -- the daemon's
 *     store may have changed or be empty), then lets waiting calls go.
 *   - Requests in flight at the break (sent, no reply yet) and requests
 *     whose send failed:
 *       . outside a transaction, a request that may go twice with the
 *         effect of once is sent again on the new connection: READ,
 *         DIRECTORY(_PART), GET_PERMS, WRITE, MKDIR, SET_PERMS, WATCH,
 *         GET_DOMAIN_PATH, IS_DOMAIN_INTRODUCED, TRANSACTION_START,
 *         SET_TARGET and the quota and feature requests; RM too, and
 *         -ENOENT to the resend counts as success (the first one may
 *         have been applied).  Any request whose send failed is sent
 *         again (a partial message is never applied).
 *       . other requests sent whole (INTRODUCE, RELEASE, RESUME,
 *         CONTROL, UNWATCH, raw ones) fail with -ECONNRESET: they may or
 *         may not have been applied.  xstore_watch_remove() takes that
 *         for done (the new connection never had the watch).
 *   - Transactions: the daemon forgets a transaction with its connection.
 *     Every later call in a transaction opened before the break --
 *     reads, writes, xstore_txn_end() with commit -- fails with -EAGAIN
 *     without being sent; ending it (commit or abort) frees it, so the
 *     usual loop "start, work, commit, again on -EAGAIN" starts over
 *     cleanly.  An abort returns 0.  A commit in flight at the break has
 *     an unknown outcome: the daemon writes its journal before it
 *     replies, so it may have committed.  It returns -ECONNRESET (not
 *     -EAGAIN, so that a retry loop does not apply a non-idempotent
 *     transaction twice without knowing).  Callers whose transaction
 *     sets absolute values (libxl's do: they read, then write what they
 *     want) may treat -ECONNRESET from xstore_txn_end() like -EAGAIN;
 *     others should re-read to find out.  A commit that never left
 *     returns -EAGAIN.
 *   - When the bound runs out, the calls waiting fail with -ENOTCONN.
 *     The handle stays down, but each later call first tries once more
 *     (one connect, no wait): if the daemon is back, the handle connects
 *     again as above and the call goes on, else it fails with -ENOTCONN
 *     at once.  Watches are not registered again until some call (or
 *     xstore_reconnect()) finds the daemon back.
 *   - Not reconnected by itself: a connection ended by a protocol error
 *     (-EPROTO) or a timeout (-ETIMEDOUT), a suspended handle (resume
 *     connects again), and ring handles (the daemon keeps a guest's ring
 *     across its restart).  xstore_reconnect() and xstore_resume() wait
 *     while an automatic reconnection runs.
 * The reconnecting is done by one more thread per handle, started at the
 * first break.
 */

/*
 * xstore_suspend - quiesce the handle before the domain is suspended (or
 * the daemon restarted): waits until every open transaction has ended
 * (new transactions wait meanwhile), then until no request is in flight;
 * from then on every new request waits for xstore_resume().  Must not be
 * called from a watch callback.  -EBUSY if already suspended.
 */
int xstore_suspend(struct xstore *h);

/*
 * xstore_resume - after xstore_suspend(): connect again (a new socket
 * connection; over a ring, re-read the start info, map the page and
 * check the ring), register every watch again, then let waiting
 * requests go.  -EINVAL if not suspended; a connection error leaves the
 * handle suspended (call again).
 */
int xstore_resume(struct xstore *h);

/*
 * xstore_reconnect - reset the connection now: requests waiting for a
 * reply fail with -ECONNRESET, the daemon forgets our transactions (their
 * end then fails), every watch is registered again.  Over a socket, a new
 * connection; over a ring, the ring reconnection protocol when the daemon
 * offers it (XS_FEATURE_RECONNECTION), else -EOPNOTSUPP.  Also the way to
 * recover after -ENOTCONN.  Calls in a transaction opened before the
 * reset fail with -EAGAIN (see "When the daemon restarts").
 */
int xstore_reconnect(struct xstore *h);

/* ------------------------------------------------------------------ */
/* Domains, control, quotas (the host's toolstack)                     */
/* ------------------------------------------------------------------ */

/* xstore_get_domain_path - *out gets "/local/domain/<domid>" (malloc). */
int xstore_get_domain_path(struct xstore *h, unsigned int domid, char **out);

/*
 * xstore_introduce - tell the daemon about domain `domid`, whose xenstore
 * ring is frame `gfn` with unbound event channel `evtchn`.
 */
int xstore_introduce(struct xstore *h, unsigned int domid, uint64_t gfn,
                     unsigned int evtchn);

/* xstore_release - the daemon forgets domain `domid`. */
int xstore_release(struct xstore *h, unsigned int domid);

/* xstore_is_introduced - 1 if the daemon talks to `domid`, 0 if not. */
int xstore_is_introduced(struct xstore *h, unsigned int domid);

/* xstore_resume_domain - the RESUME request (re-arm @releaseDomain). */
int xstore_resume_domain(struct xstore *h, unsigned int domid);

/* xstore_set_target - domain `domid` may act for domain `target`. */
int xstore_set_target(struct xstore *h, unsigned int domid,
                      unsigned int target);

/*
 * xstore_control - a CONTROL request: argv[0] is the command, argv[1..]
 * its parameters.  *out (may be NULL) gets the reply text (malloc'ed,
 * nul-terminated).
 */
int xstore_control(struct xstore *h, const char *const *argv, unsigned int argc,
                   char **out);

/*
 * xstore_get_quota / xstore_set_quota - quota `name` ("nodes",
 * "watches", ...) of domain `domid`, or the global value (the default for
 * new domains) when domid < 0.  0 means "no limit".
 */
int xstore_get_quota(struct xstore *h, int domid, const char *name,
                     uint64_t *value);
int xstore_set_quota(struct xstore *h, int domid, const char *name,
                     uint64_t value);

/*
 * xstore_quota_names - the daemon's quota names, separated by blanks
 * (malloc'ed, nul-terminated).
 */
int xstore_quota_names(struct xstore *h, char **out);

/*
 * xstore_get_feature / xstore_set_feature - the ring feature bits
 * (XS_FEATURE_*) of domain `domid`, or our own when domid < 0 (get only).
 */
int xstore_get_feature(struct xstore *h, int domid, uint32_t *features);
int xstore_set_feature(struct xstore *h, unsigned int domid, uint32_t features);

/* ------------------------------------------------------------------ */
/* Raw messages and tracing                                            */
/* ------------------------------------------------------------------ */

/*
 * xstore_request - send a request of `type` with `len` payload bytes and
 * wait for its reply, for programs that build their own messages.  The
 * library fills req_id.  On success *reply_type (may be NULL) gets the
 * reply's type and *reply (may be NULL) a malloc'ed copy of the payload
 * with a nul added; *reply_len (may be NULL) its length without that nul.
 * An ERROR reply returns the mapped -errno (and no payload).  WATCH,
 * UNWATCH and RESET_WATCHES are refused (-EINVAL): they would break the
 * library's watch bookkeeping; use xstore_watch_add().
 */
int xstore_request(struct xstore *h, uint32_t type, xstore_txn_t t,
                   const void *payload, size_t len, uint32_t *reply_type,
                   void **reply, size_t *reply_len);

/* Direction of a traced message. */
enum xstore_trace_dir {
	XSTORE_TRACE_SEND, /* a request, just before it is sent */
	XSTORE_TRACE_RECV, /* a reply or watch event, as received */
};

/*
 * A trace hook: sees every message (header and payload) in both
 * directions.  Sends are traced from the requesting thread, receives from
 * the receive thread, so the hook must be thread-safe; it must not call
 * the library.  The pointers are valid during the call only.
 */
typedef void xstore_trace_fn(void *arg, enum xstore_trace_dir dir,
                             const struct xs_wire_hdr *hdr,
                             const void *payload);

/* xstore_set_trace - install (fn non-NULL) or remove the trace hook. */
void xstore_set_trace(struct xstore *h, xstore_trace_fn *fn, void *arg);

#ifdef __cplusplus
}
#endif

#endif /* XSTORE_XSTORE_H */
