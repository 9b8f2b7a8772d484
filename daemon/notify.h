/*
 * notify.h - telling a service manager (systemd) how the daemon is doing,
 * through the sd_notify datagram protocol: READY=1 once it serves,
 * STATUS= lines, STOPPING=1, MAINPID= after forking.  No libsystemd.
 * Single-threaded, like the rest of the daemon.
 */
#ifndef XSTORE_NOTIFY_H
#define XSTORE_NOTIFY_H

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/un.h>

/* Where to send; the caller's storage (notify_init fills it). */
struct notify {
	struct sockaddr_un addr;
	socklen_t len; /* 0: no service manager, every send is a no-op */
};

/*
 * notify_init - read $NOTIFY_SOCKET (a path, or "@name" for an abstract
 * socket) into `n` and remove it from the environment, so that nothing
 * we might start inherits it.  Without the variable, `n` stays off.
 * Returns 0, or -EINVAL for a value that is no unix socket address
 * (then `n` is off and the variable is kept, for the log to name it).
 */
int notify_init(struct notify *n);

/* notify_is_on - is there a service manager to tell? */
bool notify_is_on(const struct notify *n);

/*
 * notify_send - send one datagram: newline-separated KEY=VALUE lines,
 * formatted as printf.  Never blocks (a full queue loses the message).
 * 0 when sent or when `n` is off, else -errno (the caller may log it:
 * the service manager then believes we have not started).
 */
int notify_send(const struct notify *n, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
