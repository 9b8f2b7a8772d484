/*
 * sock.h - the unix-socket transport: the daemon's two listening sockets
 * in its run directory and the connections accepted on them.
 *
 * Every socket client is domain 0 and privileged (as in Xen); those that
 * came through socket_ro are read-only.  Single-threaded, like the loop.
 */
#ifndef XSTORE_SOCK_H
#define XSTORE_SOCK_H

#include <stdbool.h>

struct conn;
struct daemon;

/* File names inside the run directory. */
#define SOCK_NAME    "socket"    /* read-write, mode 0600 */
#define SOCK_RO_NAME "socket_ro" /* read-only, mode 0660 */

/* d->sock_inherited bits. */
#define SOCK_INHERITED_RW 0x1u
#define SOCK_INHERITED_RO 0x2u

/*
 * sock_listen - take the listening sockets a service manager passed
 * (socket activation: $LISTEN_PID is ours, $LISTEN_FDS fds from 3 on,
 * told apart by $LISTEN_FDNAMES "socket"/"socket_ro", else by the name
 * they are bound to; the variables are removed from the environment,
 * other fds passed are closed); these are neither bound nor unlinked.
 * For each socket not passed so:
 * create d->cfg.rundir if missing (mkdir -p, mode 0755),
 * bind and listen on its socket and socket_ro, and watch both on
 * d->loop; the fds go to d->sock_fd and d->sock_ro_fd.  An existing
 * socket file is replaced if nothing answers on it (stale), and refused
 * with -EADDRINUSE if a daemon answers; a non-socket file there is never
 * removed (-EEXIST).  Every error is logged with the path and cause.
 * Returns 0 or -errno; on error nothing is left open or created but the
 * run directory.
 */
int sock_listen(struct daemon *d);

/*
 * sock_close - stop listening: unwatch and close both listening fds and
 * unlink their socket files (not those of inherited fds).  Idempotent.
 * Accepted connections are not touched (they are freed with the
 * daemon's connection list).
 */
void sock_close(struct daemon *d);

/*
 * The live update (update.c): the new binary takes over the listening
 * fds and the connections of its predecessor, as they stand.
 * sock_adopt_listen - watch `fd_rw` and `fd_ro` (socket and socket_ro,
 * already listening) as d->sock_fd and d->sock_ro_fd; `inherited` the
 * old d->sock_inherited.  sock_adopt_conn - a connection over accepted
 * `fd`, privileged, read-only if `is_readonly`, into *out (its session
 * and queues are the caller's to restore).  Both make the fds
 * close-on-exec again.  0 or -errno; on error the fds stay the caller's
 * (sock_adopt_listen: those already watched are d's).
 */
int sock_adopt_listen(struct daemon *d, int fd_rw, int fd_ro,
                      unsigned int inherited);
int sock_adopt_conn(struct daemon *d, int fd, bool is_readonly,
                    struct conn **out);

#endif
