/*
 * notify.c - the sd_notify protocol, spoken directly: one AF_UNIX
 * datagram of "KEY=VALUE\n" lines to the socket named by $NOTIFY_SOCKET.
 *
 * The protocol is small and stable, and libsystemd would be a
 * dependency for a few lines.  The service manager learns the sender's
 * pid from the socket's credentials, so a message from a forked child
 * counts only with NotifyAccess=all, or once MAINPID= names it (which
 * main.c sends with READY=1 after daemonising).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/notify.h"

int notify_init(struct notify *n)
{
	const char *env = getenv("NOTIFY_SOCKET");
	size_t len;

	memset(n, 0, sizeof(*n));
	if (!env || !*env)
		return 0;
	len = strlen(env);
	/* A path, or '@' for Linux's abstract namespace (leading nul). */
	if ((env[0] != '/' && env[0] != '@') || len < 2 ||
	    len >= sizeof(n->addr.sun_path))
		return -EINVAL;
	n->addr.sun_family = AF_UNIX;
	memcpy(n->addr.sun_path, env, len);
	if (env[0] == '@') {
		n->addr.sun_path[0] = '\0';
		/* Abstract names are counted, not nul-terminated. */
		n->len =
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	} else {
		n->len = (socklen_t)sizeof(n->addr);
	}
	unsetenv("NOTIFY_SOCKET");
	return 0;
}

bool notify_is_on(const struct notify *n)
{
	return n->len != 0;
}

int notify_send(const struct notify *n, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int fd, len, err = 0;

	if (!n->len)
		return 0;
	va_start(ap, fmt);
	len = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (len < 0)
		return -EINVAL;
	if ((size_t)len >= sizeof(msg))
		len = (int)sizeof(msg) - 1; /* a STATUS= cut short is fine */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (sendto(fd, msg, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL,
	           (const struct sockaddr *)&n->addr, n->len) < 0)
		err = -errno;
	close(fd);
	return err;
}
