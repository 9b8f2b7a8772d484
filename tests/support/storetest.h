/*
 * storetest.h - helpers shared by the store and transaction unit tests
 * (test_store.c, test_txn.c): the invariant checker as a CHECK-able
 * bool, a text dump of the whole main tree, listings and values as
 * strings, and a recorder of store events.
 *
 * Everything goes through the public API of store/store.h, as the
 * privileged domain unless a caller is given, and allocates with plain
 * malloc so that xalloc fault injection never hits the test's own
 * bookkeeping.  Not thread-safe (tests run in one thread).
 */
#ifndef XSTORE_TESTS_STORETEST_H
#define XSTORE_TESTS_STORETEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "tests/support/check.h"

/* The privileged domain 0, without quota. */
extern const struct store_caller st_dom0;

/*
 * st_sane - does store_check() pass?  Prints its reason when not.  Use
 * as STORE_OK(s) after every step of a test.
 */
bool st_sane(const struct store *s);
#define STORE_OK(s) CHECK_OK(st_sane(s))

/*
 * st_dump - the whole main tree as text, depth-first in directory order,
 * one line per node: "path=value perms[ gen]\n" (value bytes outside
 * printable ASCII as \xNN, perms as "n0,r5").  `with_gen` adds each
 * node's generation, so that two dumps are equal only if nothing at all
 * changed.  Returns a malloc'd string (caller frees), or NULL if a store
 * call failed (printed).
 */
char *st_dump(struct store *s, bool with_gen);

/*
 * st_dir - the children of `path` as one string, names separated by a
 * space ("a b c"; "" for none), read by `c` (NULL: dom0) in `t`.
 * Returns store_directory's result; `out` is "" on error.
 */
int st_dir(struct store *s, struct txn *t, const struct store_caller *c,
           const char *path, char *out, size_t outsz);

/*
 * st_read - the value of `path` as a string (values with a nul are cut
 * there), read by `c` (NULL: dom0) in `t`.  Returns store_read's result;
 * `out` is "" on error.
 */
int st_read(struct store *s, struct txn *t, const struct store_caller *c,
            const char *path, char *out, size_t outsz);

/*
 * st_perms - the permissions of `path` as "n0,r5", read by `c` (NULL:
 * dom0) in `t`.  Returns store_get_perms's result; `out` is "" on error.
 */
int st_perms(struct store *s, struct txn *t, const struct store_caller *c,
             const char *path, char *out, size_t outsz);

/* A growing byte buffer (plain malloc) that snapshots are written to:
 * st_buf_write is a store_write_fn with a struct st_buf as its arg;
 * -ENOMEM if it cannot grow.  The caller frees p. */
struct st_buf {
	unsigned char *p;
	size_t len, cap;
};
int st_buf_write(void *arg, const void *data, size_t len);

/* st_rand - the next number of a seeded xorshift64* sequence (`state`
 * nonzero): random histories that a printed seed repeats. */
uint64_t st_rand(uint64_t *state);

/* st_nperms_str - permissions as "n0,r5" into `out`; "-" for NULL. */
void st_nperms_str(const struct nperms *p, char *out, size_t outsz);

/* A recorded event: copies of what the callback saw. */
struct st_event {
	char path[256];
	bool is_exact;
	bool is_removal;
	char perms[64];     /* "n0,r5" */
	char old_perms[64]; /* "-" when the event had none */
};

#define ST_EVENTS_MAX 256

/* The recorder: pass as the opaque of store_set_event_cb(st_event_cb). */
struct st_events {
	unsigned int n;       /* recorded, at most ST_EVENTS_MAX */
	unsigned int dropped; /* beyond ST_EVENTS_MAX */
	struct st_event ev[ST_EVENTS_MAX];
};

void st_event_cb(void *opaque, const struct store_event *ev);

/* st_events_clear - forget what was recorded. */
void st_events_clear(struct st_events *e);

/*
 * st_events_str - the recorded sequence as "KIND:path ..." separated by
 * spaces, KIND being "ch" (change), "rm" (removal, matching watches on
 * and above the path) or "rmx" (removal reported to watches on exactly
 * the path); "chx" for an exact change.  "" for none; "+N more" if some
 * were dropped.  Returns `out`.
 */
const char *st_events_str(const struct st_events *e, char *out, size_t outsz);

#endif
