/*
 * util.c - the helpers of libxstore that need no connection state of
 * their own: path joining, permission strings, the default socket path,
 * and the seed's formatted read/write helpers (scanf, printf, gather),
 * built on the typed requests of ops.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/client_int.h"

char *xstore_join(const char *dir, const char *name)
{
	size_t dl, nl;
	char *s;

	if (!dir)
		return NULL;
	dl = strlen(dir);
	nl = name ? strlen(name) : 0;
	s = malloc(dl + nl + 2);
	if (!s)
		return NULL;
	memcpy(s, dir, dl);
	if (nl) {
		s[dl] = '/';
		memcpy(s + dl + 1, name, nl + 1);
	} else {
		s[dl] = '\0';
	}
	return s;
}

int xstore_perm_parse(const char *s, struct xstore_perm *out)
{
	unsigned long v = 0;
	unsigned int access;
	const char *p;

	if (!s || !out)
		return -EINVAL;
	switch (s[0]) {
	case 'n':
		access = XS_PERM_NONE;
		break;
	case 'r':
		access = XS_PERM_READ;
		break;
	case 'w':
		access = XS_PERM_WRITE;
		break;
	case 'b':
		access = XS_PERM_BOTH;
		break;
	default:
		return -EINVAL;
	}
	if (!s[1])
		return -EINVAL;
	for (p = s + 1; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > XS_DOMID_MAX)
			return -EINVAL;
	}
	out->domid = (unsigned int)v;
	out->access = access;
	return 0;
}

char *xstore_perm_format(const struct xstore_perm *p, char *buf)
{
	static const char letters[4] = {'n', 'r', 'w', 'b'};

	snprintf(buf, XSTORE_PERM_STRLEN, "%c%u", letters[p->access & 3],
	         p->domid & 0xffffu);
	return buf;
}

int xstore_default_path(unsigned int flags, char *buf, size_t size)
{
	const char *name =
	    flags & XSTORE_OPEN_READONLY ? "socket_ro" : "socket";
	const char *env = getenv("XENSTORED_PATH");
	int n;

	if (!buf)
		return -EINVAL;
	/* As Xen's library: the variable names the socket, whatever flags. */
	if (env && *env)
		n = snprintf(buf, size, "%s", env);
	else if ((env = getenv("XENSTORED_RUNDIR")) && *env)
		n = snprintf(buf, size, "%s/%s", env, name);
	else if (geteuid() == 0)
		n = snprintf(buf, size, "/var/run/xenstored/%s", name);
	else if ((env = getenv("XDG_RUNTIME_DIR")) && *env)
		n = snprintf(buf, size, "%s/xstored/%s", env, name);
	else
		n = snprintf(buf, size, "/tmp/xstored-%u/%s",
		             (unsigned int)geteuid(), name);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

int xstore_scanf(struct xstore *h, xstore_txn_t t, const char *path, int *count,
                 const char *fmt, ...)
{
	va_list ap;
	char *val;
	int err, n;

	if (!fmt)
		return -EINVAL;
	err = xstore_read(h, t, path, &val, NULL);
	if (err)
		return err;
	va_start(ap, fmt);
	n = vsscanf(val, fmt, ap);
	va_end(ap);
	free(val);
	/* The seed's distinctive error for "nothing converted". */
	if (n <= 0)
		return -ERANGE;
	if (count)
		*count = n;
	return 0;
}

int xstore_vprintf(struct xstore *h, xstore_txn_t t, const char *path,
                   const char *fmt, va_list ap)
{
	char buf[XS_PAYLOAD_MAX + 1];
	int n;

	if (!fmt)
		return -EINVAL;
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= sizeof(buf))
		return -E2BIG;
	return xstore_write(h, t, path, buf, (size_t)n);
}

int xstore_printf(struct xstore *h, xstore_txn_t t, const char *path,
                  const char *fmt, ...)
{
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = xstore_vprintf(h, t, path, fmt, ap);
	va_end(ap);
	return err;
}

int xstore_gather(struct xstore *h, xstore_txn_t t, const char *dir, ...)
{
	const char *name;
	va_list ap;
	int err = 0;

	if (!dir)
		return -EINVAL;
	va_start(ap, dir);
	while (!err && (name = va_arg(ap, const char *)) != NULL) {
		const char *fmt = va_arg(ap, const char *);
		void *result = va_arg(ap, void *);
		char *path = xstore_join(dir, name), *val;

		if (!path) {
			err = -ENOMEM;
			break;
		}
		err = xstore_read(h, t, path, &val, NULL);
		free(path);
		if (err)
			break;
		if (fmt) {
			/* One conversion per item: the fmt is the caller's. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
			if (sscanf(val, fmt, result) <= 0)
				err = -EINVAL;
#pragma GCC diagnostic pop
			free(val);
		} else {
			*(char **)result = val;
		}
	}
	va_end(ap);
	return err;
}
