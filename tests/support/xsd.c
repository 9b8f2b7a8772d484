/*
 * xsd.c - the daemon under test, started from C tests (see xsd.h).
 * The child's output goes to DIR/log, kept when a test fails to start it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "xsd.h"

const char *xsd_binary(const char *name, char *buf, size_t size)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n <= 0) {
		snprintf(buf, size, "build/release/%s", name);
		return buf;
	}
	exe[n] = '\0';
	/* build/<V>/tests/test_x -> build/<V>/name */
	slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	snprintf(buf, size, "%s/%s", exe, name);
	return buf;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* Does the socket accept a connection? */
static bool is_listening(const char *path)
{
	struct sockaddr_un sa;
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (s < 0)
		return false;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		close(s);
		return false;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	ok = connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(s);
	return ok;
}

static int spawn(struct xsd *d)
{
	char bin[PATH_MAX], log[300];
	const char *env = getenv("XSTORED");
	const char *argv[32];
	int n = 0, status;

	if (env && *env)
		snprintf(bin, sizeof(bin), "%s", env);
	else
		xsd_binary("xstored", bin, sizeof(bin));
	argv[n++] = bin;
	argv[n++] = "--rundir";
	argv[n++] = d->dir;
	argv[n++] = "--foreground";
	if (d->sim[0]) {
		argv[n++] = "--platform";
		argv[n++] = d->platform;
	}
	for (int i = 0; d->args && d->args[i] && n < 31; i++)
		argv[n++] = d->args[i];
	argv[n] = NULL;
	snprintf(log, sizeof(log), "%s/log", d->dir);
	unlink(d->socket);

	d->pid = fork();
	if (d->pid < 0)
		return -errno;
	if (d->pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			printf("xsd: %s exited at start (status %d), see %s\n",
			       bin, status, log);
			d->pid = 0;
			return -ECHILD;
		}
		if (is_listening(d->socket))
			return 0;
		sleep_ms(50);
	}
	printf("xsd: %s does not answer on %s\n", bin, d->socket);
	kill(d->pid, SIGKILL);
	waitpid(d->pid, &status, 0);
	d->pid = 0;
	return -ETIMEDOUT;
}

static int prepare(struct xsd *d, const char *const *args)
{
	memset(d, 0, sizeof(*d));
	d->args = args;
	snprintf(d->dir, sizeof(d->dir), "/tmp/xsd-test-XXXXXX");
	if (!mkdtemp(d->dir))
		return -errno;
	snprintf(d->socket, sizeof(d->socket), "%s/socket", d->dir);
	snprintf(d->spec, sizeof(d->spec), "unix:%s", d->socket);
	return 0;
}

int xsd_start(struct xsd *d, const char *const *args)
{
	int err = prepare(d, args);

	return err ? err : spawn(d);
}

int xsd_start_sim(struct xsd *d)
{
	int err = prepare(d, NULL);

	if (err)
		return err;
	snprintf(d->sim, sizeof(d->sim), "%s/sim", d->dir);
	snprintf(d->platform, sizeof(d->platform), "sim:%s", d->sim);
	if (mkdir(d->sim, 0755) < 0)
		return -errno;
	return spawn(d);
}

int xsd_xsim(struct xsd *d, const char *const *args)
{
	char bin[PATH_MAX], log[300];
	const char *argv[32];
	int n = 0, status;
	pid_t pid;

	xsd_binary("xsim", bin, sizeof(bin));
	argv[n++] = bin;
	argv[n++] = "--dir";
	argv[n++] = d->sim;
	argv[n++] = "--socket";
	argv[n++] = d->socket;
	for (int i = 0; args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	snprintf(log, sizeof(log), "%s/xsim.log", d->dir);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

int xsd_restart(struct xsd *d)
{
	return spawn(d);
}

void xsd_kill(struct xsd *d)
{
	int status;

	if (d->pid > 0) {
		kill(d->pid, SIGKILL);
		waitpid(d->pid, &status, 0);
		d->pid = 0;
	}
}

int xsd_stop(struct xsd *d)
{
	char cmd[300];
	int status = 0;

	if (d->pid > 0) {
		kill(d->pid, SIGTERM);
		for (int i = 0; i < 200; i++) {
			if (waitpid(d->pid, &status, WNOHANG) == d->pid)
				break;
			if (i == 199) {
				kill(d->pid, SIGKILL);
				waitpid(d->pid, &status, 0);
			}
			sleep_ms(50);
		}
		d->pid = 0;
	}
	if (d->dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
		if (system(cmd) != 0)
			printf("xsd: could not remove %s\n", d->dir);
	}
	return status;
}
