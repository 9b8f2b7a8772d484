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
 *
 * The polling echo (issue 15: an honest ceiling) adds what xstored does
 * between requests: after serving, it polls the socket without sleeping
 * for a window that loop_poll_adapt sizes exactly as the daemon's loop
 * does (daemon/loop.c, the same function and the same 50 us bound), so
 * that "xstored / echo-poll" compares the daemon's work, not its poll.
 */
#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bench/xsbench/xsbench.h"
#include "daemon/loop.h"

#define ECHO_BUF (64u * 1024u)
/* xstored's default --poll-us (daemon/daemon.c), in ns. */
#define ECHO_POLL_MAX_NS 50000u

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool write_all(int fd, const char *buf, ssize_t n)
{
	ssize_t w;

	for (ssize_t off = 0; off < n; off += w)
		if ((w = write(fd, buf + off, (size_t)(n - off))) <= 0)
			return false;
	return true;
}

/*
 * Peek at what the client sent, and take it off the socket only once the
 * reply is out, as the daemon does (sock_settle in daemon/sock.c): a
 * read that frees the client's request wakes a client blocked in
 * read(2) for nothing.  0 if the kernel cannot peek at an offset.
 */
static bool echo_peeking(int fd)
{
	int off = 0;

	return setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof(off)) == 0;
}

static bool echo_settle(int fd, char *buf, ssize_t n)
{
	ssize_t r;

	for (; n > 0; n -= r)
		if ((r = recv(fd, buf, (size_t)n, MSG_DONTWAIT)) <= 0)
			return false;
	return true;
}

/* As the daemon's loop_wait: after serving, poll for the window; if it
 * runs out, sleep in the peek and adapt the window to the
 * idle time.  Reads peek as the daemon's do (echo_settle). */
static void *echo_conn_poll(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char *buf = malloc(ECHO_BUF);
	uint64_t window = 0;
	bool was_busy = false, is_peeking = echo_peeking(fd);
	int peek = is_peeking ? MSG_PEEK : 0;

	while (buf) {
		uint64_t t0 = mono_ns();
		ssize_t n = -1;

		if (was_busy && window) {
			uint64_t end = t0 + window;

			do
				n = recv(fd, buf, ECHO_BUF,
				         MSG_DONTWAIT | peek);
			while (n < 0 && (errno == EAGAIN || errno == EINTR) &&
			       mono_ns() < end);
		}
		if (n < 0) {
			n = recv(fd, buf, ECHO_BUF, peek);
			window = loop_poll_adapt(window, ECHO_POLL_MAX_NS,
			                         mono_ns() - t0, n > 0);
		}
		if (n <= 0 || !write_all(fd, buf, n))
			break;
		if (is_peeking && !echo_settle(fd, buf, n))
			break;
		was_busy = true;
	}
	free(buf);
	close(fd);
	return NULL;
}

static void *echo_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char *buf = malloc(ECHO_BUF);
	ssize_t n;

	while (buf && (n = read(fd, buf, ECHO_BUF)) > 0)
		if (!write_all(fd, buf, n))
			break;
	free(buf);
	close(fd);
	return NULL;
}

static void echo_serve(int lfd, pid_t parent, bool is_polling)
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
		if (pthread_create(&t, &attr,
		                   is_polling ? echo_conn_poll : echo_conn,
		                   (void *)(intptr_t)fd))
			close(fd);
	}
}

pid_t echo_start(const char *path, bool is_polling)
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
		echo_serve(lfd, parent, is_polling);
		_exit(0);
	}
	close(lfd);
	return pid;
}
