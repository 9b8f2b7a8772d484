/*
 * watch.h - the watch index: which registered watches an event matches.
 *
 * Cost of matching an event on path E: O(depth of E + matches) for a
 * change, plus the watches below E for a removal, never O(all watches).
 * The index knows owners only as opaque pointers; rights and delivery
 * are the caller's (dispatch).  Not thread-safe.
 */
#ifndef XSTORE_WATCH_H
#define XSTORE_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct watch_index;
struct wnode;

/* A registered watch.  Owned by the index (watch_add/watch_del). */
struct watch {
	struct watch *next, *prev; /* watches on the same path */
	struct wnode *at;
	/* Links for the owner's own list; the index never touches them. */
	struct watch *owner_next, *owner_prev;
	void *owner;
	uint64_t seq;            /* registration order, for delivery order */
	int depth;               /* -1: no limit */
	unsigned int path_depth; /* components of path */
	size_t rel_prefix; /* bytes to strip from event paths (relative) */
	const char *path;  /* absolute (or special) watched path */
	const char *token;
	char buf[]; /* path and token */
};

/*
 * watch_match_cb - called once per matching watch, in registration
 * order.  `event_path` is absolute (strip w->rel_prefix for relative
 * watches); valid during the call.  The callback must not add or delete
 * watches.
 */
typedef void watch_match_cb(void *opaque, struct watch *w,
                            const char *event_path);

/* watch_index_new - an empty index; NULL on ENOMEM.  Caller owns it. */
struct watch_index *watch_index_new(void);

/* watch_index_free - free the index and every watch still in it. */
void watch_index_free(struct watch_index *idx);

/*
 * watch_add - register a watch on absolute or special `path` (validated)
 * with `token` for `owner`.  `depth` < 0 means unlimited.  On success
 * *out gets the watch (owned by the index).  0 or -ENOMEM.
 */
int watch_add(struct watch_index *idx, const char *path, const char *token,
              int depth, size_t rel_prefix, void *owner, struct watch **out);

/* watch_del - unregister and free `w`. */
void watch_del(struct watch_index *idx, struct watch *w);

/* watch_find - `owner`'s watch on `path` with `token`, or NULL. */
struct watch *watch_find(const struct watch_index *idx, const void *owner,
                         const char *path, const char *token);

/*
 * watch_fire - report an event on `path`.  `is_exact`: only watches on
 * exactly `path` match.  Otherwise watches on `path` and its ancestors
 * match (within their depth) and, when `is_removal`, watches below
 * `path` match too, reported with their own path.  Returns 0, or -ENOMEM
 * (matches found before the failure were still reported).
 */
int watch_fire(struct watch_index *idx, const char *path, bool is_exact,
               bool is_removal, watch_match_cb *cb, void *opaque);

/* watch_count - watches registered in all. */
unsigned long watch_count(const struct watch_index *idx);

/*
 * watch_index_paths - the paths the index keeps a node for: every
 * watched path and each of its prefixes.  For tests of pruning: it is 0
 * again once every watch has been deleted.
 */
size_t watch_index_paths(const struct watch_index *idx);

#endif
