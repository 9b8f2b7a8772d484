/*
 * dom.c - the domain's files, as a guest process sees them in the sim:
 * its state, atomic replacement of a file, the state-change signal.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tools/xsmux/dom.h"

enum dom_state dom_state(const char *dom)
{
	char path[PATH_MAX + 8], buf[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/state", dom);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT && access(dom, F_OK) < 0 ? DOM_GONE
		                                                : DOM_RUNNING;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return DOM_RUNNING;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (!strcmp(buf, "dying"))
		return DOM_DYING;
	if (!strcmp(buf, "shutdown"))
		return DOM_SHUTDOWN;
	if (!strcmp(buf, "suspended"))
		return DOM_SUSPENDED;
	return DOM_RUNNING;
}

/* Write dom/<name> = `text` atomically (docs/sim.md). */
int dom_write_atomic(const char *dom, const char *name, const char *text)
{
	char tmp[PATH_MAX + 64], path[PATH_MAX + 32];
	size_t len = strlen(text);
	int fd, err = 0;

	snprintf(tmp, sizeof(tmp), "%s/%s.tmp.%d", dom, name, (int)getpid());
	snprintf(path, sizeof(path), "%s/%s", dom, name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	          0644);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len)
		err = -EIO;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

void dom_signal_exc(const char *sim, unsigned int domid)
{
	char path[PATH_MAX + 16], line[16];
	int fd, n = snprintf(line, sizeof(line), "%u\n", domid);

	snprintf(path, sizeof(path), "%s/virq-dom-exc", sim);
	fd = open(path, O_RDWR | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	/* One write: lines of writers never interleave.  A full pipe
	 * refuses it, and its reader then checks every domain. */
	if (write(fd, line, (size_t)n) < 0) {
	}
	close(fd);
}
