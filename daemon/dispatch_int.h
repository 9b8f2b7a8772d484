/*
 * dispatch_int.h - what the request handlers (dispatch.c, control.c)
 * share: the request being handled and argument parsing.
 */
#ifndef XSTORE_DISPATCH_INT_H
#define XSTORE_DISPATCH_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/num.h"
#include "daemon/conn.h"
#include "daemon/state.h"
#include "store/store.h"

#define MAX_ARGS 8

/* One request, split into its nul-terminated arguments. */
struct req {
	struct daemon *d;
	struct conn *c;
	const struct xs_wire_hdr *hdr;
	const char *payload; /* hdr->len bytes, then a nul */
	struct txn *txn;     /* the request's transaction, or NULL */
	struct store_caller caller;
	unsigned int argc; /* nul-terminated strings in the payload */
	const char *argv[MAX_ARGS];
	bool is_terminated;     /* the payload ends with a nul */
	bool is_refusal_logged; /* its refusal line is out (dispatch.c) */
};

/* reply - queue the reply to `r` with `len` bytes of `data`. */
void reply(struct req *r, const void *data, size_t len);

/* reply_str - queue a reply of `s` with its nul. */
void reply_str(struct req *r, const char *s);

/*
 * control_request - CONTROL: run the command in r->argv, reply with its
 * output.  Returns 0 (replied) or -errno (the caller replies ERROR).
 */
int control_request(struct req *r);

/* quota_get_request / quota_set_request - GET_QUOTA and SET_QUOTA. */
int quota_get_request(struct req *r);
int quota_set_request(struct req *r);

#endif
