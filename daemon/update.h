/*
 * update.h - live update: the running xstored replaces itself by a new
 * binary (execve in place, same pid) and hands it everything: the tree,
 * domains and their rings, every socket connection with its queues and
 * watches, the listening sockets.  CONTROL live-update drives it (Xen's
 * -f/-c/-s/-a); docs/live-update.md has the design and the stream.
 * Loop thread only.
 */
#ifndef XSTORE_UPDATE_H
#define XSTORE_UPDATE_H

#include <stdbool.h>
#include <stddef.h>

struct daemon;

/* The version of the stream this binary writes and reads. */
#define UPDATE_STREAM_VERSION 2u

/*
 * update_init - make live update available on `d` (after daemon_init):
 * the command line this process was started with (argv[0..argc), as
 * main got it, before option parsing reorders it) is copied, for the
 * exec.  `format` the stream version to claim (0: UPDATE_STREAM_VERSION;
 * tests only).  0 or -ENOMEM.
 */
int update_init(struct daemon *d, int argc, char *const *argv,
                unsigned int format);

/*
 * update_end_turn - the last step of the loop's safe point: when a
 * `live-update -s` was accepted this turn, hand over and exec the new
 * binary.  Returns only when that failed: the update is then aborted,
 * the -s answered with the error, and the daemon serves on.
 */
void update_end_turn(struct daemon *d);

/*
 * update_load - in the new binary, instead of persist_start and
 * sock_listen: load the stream on `fd` (its predecessor's), take over
 * the journal (persist_adopt), the listening sockets, the connections
 * and the domains, and answer the pending -s with "OK" (or with
 * `error` when this is the previous binary coming back after its
 * successor failed).  0, or -errno with the reason logged: then nothing
 * outside this process changed, why[size] says what failed, and
 * update_fall_back must follow (unless `error`: we are that fall-back).
 */
int update_load(struct daemon *d, int fd, const char *error, char *why,
                size_t size);

/*
 * update_fall_back - the stream on `fd` could not be loaded: exec the
 * previous binary (the one that wrote it, kept open across the exec)
 * with its own command line and the stream, so that it serves on and
 * answers the -s with `why`.  Returns only if that is impossible.
 */
void update_fall_back(int fd, const char *why);

/* update_print_format - for `xstored --state-format`: print the line the
 * running daemon probes a new binary with. */
void update_print_format(unsigned int format);

/* update_fini - free d->update (NULL: nothing). */
void update_fini(struct daemon *d);

#endif
