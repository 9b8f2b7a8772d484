/*
 * xsc.h - xsim's small blocking XenStore client: one request at a time
 * over the daemon's unix socket, with the few operations a toolstack
 * needs.  (A stand-in until xsim moves to libxstore.)
 *
 * Functions return 0 or -errno: the daemon's error (from the ERROR
 * reply's name), or -EPROTO for a malformed reply, -ETIMEDOUT when the
 * daemon does not answer within XSC_TIMEOUT_S, -EPIPE when it hung up.
 * A struct xsc is used by one thread.
 */
#ifndef XSTORE_TOOLS_XSC_H
#define XSTORE_TOOLS_XSC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XSC_TIMEOUT_S 10

struct xsc {
	int fd;
	uint32_t next_id;
};

/* xsc_connect - connect to the socket at `path` (-errno of connect). */
int xsc_connect(struct xsc *c, const char *path);
void xsc_close(struct xsc *c);

/*
 * xsc_call - send one request (`len` payload bytes) in transaction `tx`
 * (0: none) and wait for its reply, whose payload goes to reply[cap]
 * (nul-terminated; *rlen gets its length; `reply` may be NULL).
 */
int xsc_call(struct xsc *c, uint32_t type, uint32_t tx, const void *payload,
             size_t len, char *reply, size_t cap, size_t *rlen);

int xsc_write(struct xsc *c, uint32_t tx, const char *path, const char *value);
int xsc_read(struct xsc *c, uint32_t tx, const char *path, char *buf,
             size_t cap);
int xsc_mkdir(struct xsc *c, uint32_t tx, const char *path);
int xsc_rm(struct xsc *c, uint32_t tx, const char *path);
/* perms: n strings such as "n0", "r5" (owner first) */
int xsc_set_perms(struct xsc *c, uint32_t tx, const char *path,
                  const char *const *perms, size_t n);
int xsc_txn_start(struct xsc *c, uint32_t *tx);
int xsc_txn_end(struct xsc *c, uint32_t tx, bool commit);
int xsc_introduce(struct xsc *c, unsigned int domid, uint64_t gfn,
                  unsigned int port);
int xsc_is_introduced(struct xsc *c, unsigned int domid, bool *is_introduced);

#endif
