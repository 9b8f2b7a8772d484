/*
 * mux.c - the guest's multiplexer (tools/xsmux) as xsim runs it: found
 * next to xsim, started when a domain is created (it daemonises once its
 * socket dom<D>/xenbus listens, so the domain is ready when create
 * returns), and made to go when the domain is destroyed.
 *
 * The multiplexer leaves by itself when its domain dies; xsim only waits
 * for it, and terminates it if it lingers.  Its pid comes from
 * dom<D>/xenbus.pid, a file anyone can write: before signalling, xsim
 * holds the process through a pidfd and checks that it is an xsmux
 * serving that domain, so a stale pid reused by another process is
 * never killed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/xsim/xsim.h"

#define MUX_NAME      "xsmux"
#define MUX_LINGER_MS 2000 /* how long a dying domain's mux may take */

static int pidfd_open_(pid_t pid)
{
	long fd = syscall(SYS_pidfd_open, pid, 0);

	return fd < 0 ? -errno : (int)fd;
}

static int pidfd_signal(int pidfd, int sig)
{
	return syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0 ? -errno
	                                                               : 0;
}

/* Has the process behind `pidfd` exited within `ms`? */
static bool pidfd_wait(int pidfd, int ms)
{
	struct pollfd p = {.fd = pidfd, .events = POLLIN};
	int n;

	do
		n = poll(&p, 1, ms);
	while (n < 0 && errno == EINTR);
	return n > 0;
}

int mux_find(char *buf, size_t size)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;
	int len;

	if (n < 0)
		return -errno;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	len = snprintf(buf, size, "%s/" MUX_NAME, slash ? exe : ".");
	if (len < 0 || (size_t)len >= size)
		return -ENAMETOOLONG;
	return access(buf, X_OK) == 0 ? 0 : -ENOENT;
}

bool mux_answers(const struct ctx *x, unsigned int domid)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	bool is_up;
	int fd, n;

	n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/dom%u/xenbus",
	             x->dir, domid);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		return false;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	is_up = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return is_up;
}

/* Where the mux of `domid` logs: next to, not in, dom<D>/ (which its
 * processes watch, and which goes with the domain). */
static void log_path(const struct ctx *x, unsigned int domid, char *buf,
                     size_t size)
{
	snprintf(buf, size, "%s/" MUX_NAME "-dom%u.log", x->dir, domid);
}

int mux_start(const struct ctx *x, const char *bin, unsigned int domid,
              unsigned long secs)
{
	char dom[16], log[PATH_MAX + 32];
	int pidfd, status, err = 0;
	pid_t pid;

	snprintf(dom, sizeof(dom), "%u", domid);
	log_path(x, domid, log, sizeof(log));
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		/* Its errors before it daemonises go to our stderr. */
		if (null >= 0)
			dup2(null, 0);
		execl(bin, bin, "--dir", x->dir, "--domid", dom, "--log", log,
		      (char *)NULL);
		fprintf(stderr, "xsim: cannot run %s: %s\n", bin,
		        strerror(errno));
		_exit(127);
	}
	pidfd = pidfd_open_(pid);
	if (pidfd >= 0 && !pidfd_wait(pidfd, (int)secs * 1000)) {
		fprintf(stderr, "xsim: %s did not start within %lu s\n", bin,
		        secs);
		kill(pid, SIGKILL);
		err = -ETIMEDOUT;
	}
	if (pidfd >= 0)
		close(pidfd);
	if (waitpid(pid, &status, 0) < 0)
		return err ? err : -errno;
	if (err)
		return err;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr,
		        "xsim: %s failed for domain %u (see above and %s)\n",
		        bin, domid, log);
		return -EIO;
	}
	if (!mux_answers(x, domid)) {
		fprintf(stderr,
		        "xsim: %s started but nothing listens on "
		        "%s/dom%u/xenbus\n",
		        bin, x->dir, domid);
		return -EIO;
	}
	return 0;
}

/* Read /proc/<pid>/cmdline: is it xsmux serving `domid` in our sim? */
static bool is_our_mux(const struct ctx *x, pid_t pid, unsigned int domid)
{
	char path[64], buf[8192], want[16], *arg, *end;
	char real_dir[PATH_MAX], real_arg[PATH_MAX];
	bool has_domid = false, has_dir = true, is_mux;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	end = buf + n;
	arg = strrchr(buf, '/');
	is_mux = !strcmp(arg ? arg + 1 : buf, MUX_NAME);
	snprintf(want, sizeof(want), "%u", domid);
	for (arg = buf; arg < end; arg += strlen(arg) + 1) {
		char *next = arg + strlen(arg) + 1;

		if (next >= end)
			break;
		if (!strcmp(arg, "--domid"))
			has_domid = !strcmp(next, want);
		if (!strcmp(arg, "--dir"))
			has_dir = realpath(x->dir, real_dir) &&
			          realpath(next, real_arg) &&
			          !strcmp(real_dir, real_arg);
	}
	return is_mux && has_domid && has_dir;
}

int mux_stop_prepare(const struct ctx *x, unsigned int domid)
{
	char path[PATH_MAX + 32], text[32];
	unsigned long pid;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/dom%u/xenbus.pid", x->dir, domid);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	text[n] = '\0';
	text[strcspn(text, "\n")] = '\0';
	if (parse_ulong(text, 2, INT_MAX, &pid))
		return -1;
	fd = pidfd_open_((pid_t)pid);
	if (fd < 0)
		return -1;
	/* Checked after taking the pidfd: the pid cannot change under us. */
	if (!is_our_mux(x, (pid_t)pid, domid)) {
		close(fd);
		return -1;
	}
	return fd;
}

void mux_stop(int pidfd)
{
	if (pidfd < 0)
		return;
	if (!pidfd_wait(pidfd, MUX_LINGER_MS) &&
	    pidfd_signal(pidfd, SIGTERM) == 0 &&
	    !pidfd_wait(pidfd, MUX_LINGER_MS)) {
		fprintf(stderr, "xsim: the multiplexer lingered: killed\n");
		pidfd_signal(pidfd, SIGKILL);
	}
	close(pidfd);
}

void mux_log_remove(const struct ctx *x, unsigned int domid)
{
	char log[PATH_MAX + 32];

	log_path(x, domid, log, sizeof(log));
	unlink(log);
}
