/*
 * echo.c - the reference server: writes back every byte it reads.
 *
 * It gets exactly the messages the daemons get, so its rate is the
 * machine's ceiling for a request/reply over a unix socket, with no work
 * done in between.  One blocking thread per connection (read, write,
 * read...) is the cheapest possible server for one client: no readiness
 * syscall, no copy beyond the socket's own.  It runs in a forked child
 * so that it never shares a CPU time slice with the client's process,
 * just as a daemon does not, and dies with its parent.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench/xsbench/xsbench.h"

#define ECHO_BUF (64u * 1024u)

static void *echo_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char *buf = malloc(ECHO_BUF);
	ssize_t n, w, off;

	while (buf && (n = read(fd, buf, ECHO_BUF)) > 0)
		for (off = 0; off < n; off += w)
			if ((w = write(fd, buf + off, (size_t)(n - off))) <= 0)
				goto out;
out:
	free(buf);
	close(fd);
	return NULL;
}

static void echo_serve(int lfd, pid_t parent)
{
	pthread_attr_t attr;
	pthread_t t;
	int fd;

	prctl(PR_SET_PDEATHSIG, SIGKILL); /* go when xsbench goes */
	if (getppid() != parent)          /* it went before the line above */
		_exit(0);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		fd = accept(lfd, NULL, NULL);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				usleep(1000);
			continue;
		}
		if (pthread_create(&t, &attr, echo_conn, (void *)(intptr_t)fd))
			close(fd);
	}
}

pid_t echo_start(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	pid_t pid, parent = getpid();

	if (lfd < 0)
		die("socket: %s", strerror(errno));
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	unlink(path);
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(lfd, 4096) < 0)
		die("echo server on %s: %s", path, strerror(errno));
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		echo_serve(lfd, parent);
		_exit(0);
	}
	close(lfd);
	return pid;
}
