/*
 * xstore/wire.h - the XenStore wire protocol: message header, message
 * types, limits, error names and the shared-ring layout.
 *
 * These are facts of the public protocol (docs/misc/xenstore.txt and
 * xenstore-ring.txt in Xen), restated here so that every part of xstore
 * and its users speak the same numbers.  This header has no state and
 * allocates nothing; every function is thread-safe.
 */
#ifndef XSTORE_WIRE_H
#define XSTORE_WIRE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Message types (the `type` field of the header). */
enum xs_msg_type {
	XS_CONTROL = 0, /* DEBUG is its deprecated alias */
	XS_DIRECTORY = 1,
	XS_READ = 2,
	XS_GET_PERMS = 3,
	XS_WATCH = 4,
	XS_UNWATCH = 5,
	XS_TRANSACTION_START = 6,
	XS_TRANSACTION_END = 7,
	XS_INTRODUCE = 8,
	XS_RELEASE = 9,
	XS_GET_DOMAIN_PATH = 10,
	XS_WRITE = 11,
	XS_MKDIR = 12,
	XS_RM = 13,
	XS_SET_PERMS = 14,
	XS_WATCH_EVENT = 15,
	XS_ERROR = 16,
	XS_IS_DOMAIN_INTRODUCED = 17,
	XS_RESUME = 18,
	XS_SET_TARGET = 19,
	/* 20 was RESTRICT: removed, invalid */
	XS_RESET_WATCHES = 21,
	XS_DIRECTORY_PART = 22,
	XS_GET_FEATURE = 23,
	XS_SET_FEATURE = 24,
	XS_GET_QUOTA = 25,
	XS_SET_QUOTA = 26,
	XS_TYPE_COUNT, /* one past the highest defined type */
	XS_INVALID = 0xffff,
};

/*
 * The header in front of every message, in both directions, in host byte
 * order (both ends are on one machine).  `len` counts the payload bytes
 * that follow.
 */
struct xs_wire_hdr {
	uint32_t type;
	uint32_t req_id;
	uint32_t tx_id;
	uint32_t len;
};

#define XS_HDR_SIZE            16u
#define XS_PAYLOAD_MAX         4096u /* both directions */
#define XS_ABS_PATH_MAX        3072u /* absolute paths, without the nul */
#define XS_REL_PATH_MAX        2048u /* relative paths, without the nul */
#define XS_DOMID_MAX           65535u
#define XS_DOMID_FIRST_SPECIAL 0x7ff0u /* DOMID_FIRST_RESERVED in Xen */

/* The shared ring page (xenstore-ring.txt). */
#define XS_RING_SIZE           1024u
#define XS_RING_OFF_REQ        0u
#define XS_RING_OFF_RSP        1024u
#define XS_RING_OFF_REQ_CONS   2048u
#define XS_RING_OFF_REQ_PROD   2052u
#define XS_RING_OFF_RSP_CONS   2056u
#define XS_RING_OFF_RSP_PROD   2060u
#define XS_RING_OFF_FEATURES   2064u
#define XS_RING_OFF_CONNECTION 2068u
#define XS_RING_OFF_ERROR      2072u
#define XS_RING_PAGE_SIZE      4096u

/* Server feature bits advertised in the ring page. */
#define XS_FEATURE_RECONNECTION (1u << 0)
#define XS_FEATURE_ERROR        (1u << 1)
#define XS_FEATURE_WATCHDEPTH   (1u << 2)

/* Connection state values. */
#define XS_CONNECTED 0u
#define XS_RECONNECT 1u

/* Connection error indicator values. */
#define XS_ERROR_NONE    0u
#define XS_ERROR_COMM    1u
#define XS_ERROR_RINGIDX 2u
#define XS_ERROR_PROTO   3u

/*
 * xs_type_name - the protocol name of a message type ("READ", ...).
 * Returns a static string, or NULL for an undefined type.
 */
const char *xs_type_name(uint32_t type);

/*
 * xs_errno_name - the wire string for a positive errno value ("ENOENT").
 * Errors outside the protocol's table map to "EINVAL", as every
 * XenStore daemon does.  Returns a static string; never NULL.
 */
const char *xs_errno_name(int err);

/*
 * xs_errno_parse - the positive errno value for a wire error string of
 * `len` bytes (with or without its trailing nul).  Unknown strings give
 * EINVAL.  Never fails.
 */
int xs_errno_parse(const char *name, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* XSTORE_WIRE_H */
