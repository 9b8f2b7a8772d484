/*
 * fdio.h - whole writes to a file descriptor, for the daemon's files and
 * streams and the simulator's files.  No allocation; thread-safe (it
 * keeps no state).
 */
#ifndef XSTORE_COMMON_FDIO_H
#define XSTORE_COMMON_FDIO_H

#include <stddef.h>

/*
 * fd_write_all - write all `len` bytes of `buf` to `fd` (blocking or
 * not: a non-blocking fd that fills up is an error, -EAGAIN), retrying
 * on EINTR and short writes.  0, or -errno of the write that failed
 * (some bytes may have been written then).
 */
int fd_write_all(int fd, const void *buf, size_t len);

#endif
