/*
 * main.c - xsblkfront, the command: runs nbdkit with the xsblkfront
 * plugin (plugin.c) on a unix socket.  The plugin is looked for next to
 * this binary, then in nbdkit's plugin directory as the build found it,
 * then left to nbdkit by name.  In the foreground this process becomes
 * nbdkit (exec); otherwise nbdkit runs in its own session and we return
 * once the plugin wrote its ready file (the disk is Connected): when
 * `xsblkfront` returns 0, the export is ready.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/version.h"

#ifndef XSBLKFRONT_PLUGINDIR
#define XSBLKFRONT_PLUGINDIR ""
#endif

#define PLUGIN_FILE "nbdkit-xsblkfront-plugin.so"
#define ARGS_MAX    40

struct args {
	const char *domid, *devid, *socket, *store, *platform, *pid_file;
	const char *ring_order, *max_segs, *timeout, *wait;
	bool is_foreground, is_verbose, is_no_persistent;
};

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: xsblkfront --domid D --nbd-socket PATH [options]\n"
	        "Serve virtual block device N of guest D (its Xen blkfront)\n"
	        "as an NBD export on a unix socket, through nbdkit.\n"
	        "  --domid D            the guest (required)\n"
	        "  --devid N|xvdX       the disk (default 51712, xvda)\n"
	        "  --nbd-socket PATH    the NBD unix socket (required)\n"
	        "  --store SPEC         store connection (default ring:D)\n"
	        "  --platform SPEC      sim, sim:DIR (default sim: $XSIM_DIR)\n"
	        "  --foreground         run in the foreground (exec nbdkit)\n"
	        "  --pid-file PATH      nbdkit's pid, written once ready\n"
	        "  --no-persistent      no persistent grants (slower)\n"
	        "  --ring-order N       at most 2^N ring pages (default 2)\n"
	        "  --max-segs N         segments per request (default 32)\n"
	        "  --wait S             seconds to wait for Connected (30)\n"
	        "  --timeout S          fail I/O unserved for S seconds (30)\n"
	        "  --verbose            nbdkit -v (the plugin's steps)\n"
	        "  --help, --version\n"
	        "Without --foreground, returns once the disk is Connected\n"
	        "and the export ready; exit status 1 if it never was.\n");
}

/* `name` as an executable on $PATH, into buf. */
static bool find_in_path(const char *name, char *buf, size_t size)
{
	const char *path = getenv("PATH");
	char *copy, *dir, *save = NULL;
	bool is_found = false;

	if (!path || !*path)
		path = "/usr/bin:/bin";
	copy = strdup(path);
	if (!copy)
		return false;
	for (dir = strtok_r(copy, ":", &save); dir && !is_found;
	     dir = strtok_r(NULL, ":", &save)) {
		int n = snprintf(buf, size, "%s/%s", dir, name);

		is_found = n > 0 && (size_t)n < size && !access(buf, X_OK);
	}
	free(copy);
	return is_found;
}

/* The plugin: next to us, in nbdkit's plugindir, else by name. */
static void find_plugin(char *buf, size_t size)
{
	char self[PATH_MAX];
	const char *env = getenv("XSBLKFRONT_PLUGIN");
	ssize_t n;

	if (env && *env) {
		snprintf(buf, size, "%s", env);
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		char *slash;

		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			if ((size_t)snprintf(buf, size, "%s/%s", self,
			                     PLUGIN_FILE) < size &&
			    !access(buf, R_OK))
				return;
		}
	}
	if (*XSBLKFRONT_PLUGINDIR &&
	    (size_t)snprintf(buf, size, "%s/%s", XSBLKFRONT_PLUGINDIR,
	                     PLUGIN_FILE) < size &&
	    !access(buf, R_OK))
		return;
	snprintf(buf, size, "xsblkfront");
}

static bool is_number(const char *s, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	return *s && *s != '-' && !errno && !*end && v <= max;
}

static void parse(int argc, char **argv, struct args *a)
{
	static const struct option longs[] = {
	    {"domid", required_argument, NULL, 'd'},
	    {"devid", required_argument, NULL, 'n'},
	    {"nbd-socket", required_argument, NULL, 's'},
	    {"store", required_argument, NULL, 'c'},
	    {"platform", required_argument, NULL, 'p'},
	    {"foreground", no_argument, NULL, 'f'},
	    {"pid-file", required_argument, NULL, 'P'},
	    {"no-persistent", no_argument, NULL, 'N'},
	    {"ring-order", required_argument, NULL, 'r'},
	    {"max-segs", required_argument, NULL, 'm'},
	    {"wait", required_argument, NULL, 'w'},
	    {"timeout", required_argument, NULL, 't'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0}};
	int c;

	while ((c = getopt_long(argc, argv, "fhv", longs, NULL)) != -1) {
		switch (c) {
		case 'd':
			a->domid = optarg;
			break;
		case 'n':
			a->devid = optarg;
			break;
		case 's':
			a->socket = optarg;
			break;
		case 'c':
			a->store = optarg;
			break;
		case 'p':
			a->platform = optarg;
			break;
		case 'f':
			a->is_foreground = true;
			break;
		case 'P':
			a->pid_file = optarg;
			break;
		case 'N':
			a->is_no_persistent = true;
			break;
		case 'r':
			a->ring_order = optarg;
			break;
		case 'm':
			a->max_segs = optarg;
			break;
		case 'w':
			a->wait = optarg;
			break;
		case 't':
			a->timeout = optarg;
			break;
		case 'v':
			a->is_verbose = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("xsblkfront %s\n", XSTORE_VERSION);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc || !a->domid || !a->socket) {
		fprintf(stderr, "xsblkfront: %s\n",
		        optind != argc
		            ? "unexpected argument"
		            : "--domid and --nbd-socket are required");
		usage(stderr);
		exit(2);
	}
	if (!is_number(a->domid, 0x7fef) || !strcmp(a->domid, "0")) {
		fprintf(stderr, "xsblkfront: --domid %s: not a guest\n",
		        a->domid);
		exit(2);
	}
}

static char *kv(const char *key, const char *value)
{
	char *s;

	if (asprintf(&s, "%s=%s", key, value) < 0) {
		perror("xsblkfront");
		exit(1);
	}
	return s;
}

/* nbdkit's pid from its pid file; 0 if not (yet, or not wholly) there:
 * only a line ended by its newline counts. */
static pid_t read_pid(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[32] = "";
	long pid = 0;
	char *end;

	if (f) {
		if (!fgets(line, sizeof(line), f))
			line[0] = '\0';
		fclose(f);
	}
	pid = strtol(line, &end, 10);
	if (end == line || *end != '\n' || pid <= 0)
		return 0;
	return (pid_t)pid;
}

/* The plugin's ready file: its pid (0) or "error: why" (1, printed). */
static int ready_says(const char *ready)
{
	char line[256] = "";
	FILE *f = fopen(ready, "r");

	if (f) {
		if (!fgets(line, sizeof(line), f))
			line[0] = '\0';
		fclose(f);
	}
	if (strncmp(line, "error: ", 7))
		return 0;
	fprintf(stderr, "xsblkfront: %s", line + 7);
	return 1;
}

/*
 * nbdkit (`pid`) binds, writes its pid file, forks its server and
 * exits; the server starts the plugin, which writes `ready` once the
 * disk is Connected.  Wait for that, or for either process to die.
 */
#define PID_WAIT_MS 10000u

static int wait_ready(pid_t pid, const char *pid_file, const char *ready)
{
	struct timespec tick = {0, 20 * 1000 * 1000};
	pid_t server = 0;
	int status;

	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status)) {
		fprintf(stderr, "xsblkfront: nbdkit failed to start\n");
		return 1;
	}
	/* The server writes the pid file after its fork, so the first
	 * process may be gone before the file is there: wait for both. */
	for (unsigned int waited_ms = 0;; waited_ms += 20) {
		struct stat st;

		if (!stat(ready, &st) && st.st_size > 0)
			return ready_says(ready);
		if (server <= 0)
			server = read_pid(pid_file);
		if (server > 0 && kill(server, 0) && errno == ESRCH) {
			fprintf(stderr, "xsblkfront: nbdkit exited before the "
			                "disk was ready\n");
			return 1;
		}
		if (server <= 0 && waited_ms >= PID_WAIT_MS) {
			fprintf(stderr,
			        "xsblkfront: nbdkit wrote no pid to %s "
			        "in %u s\n",
			        pid_file, PID_WAIT_MS / 1000);
			return 1;
		}
		nanosleep(&tick, NULL);
	}
}

int main(int argc, char **argv)
{
	struct args a = {0};
	char nbdkit[PATH_MAX], plugin[PATH_MAX],
	    tmpdir[] = "/tmp/xsblkfront-XXXXXX";
	char ready[sizeof(tmpdir) + 8], pid_tmp[sizeof(tmpdir) + 8];
	const char *av[ARGS_MAX];
	int n = 0, ret;
	pid_t pid;

	parse(argc, argv, &a);
	if (!find_in_path("nbdkit", nbdkit, sizeof(nbdkit))) {
		fprintf(stderr,
		        "xsblkfront: nbdkit not found in PATH: "
		        "install it (Debian: apt-get install nbdkit)\n");
		return 127;
	}
	find_plugin(plugin, sizeof(plugin));
	if (!a.is_foreground) {
		if (!mkdtemp(tmpdir)) {
			perror("xsblkfront: mkdtemp");
			return 1;
		}
		snprintf(ready, sizeof(ready), "%s/ready", tmpdir);
		snprintf(pid_tmp, sizeof(pid_tmp), "%s/pid", tmpdir);
		if (!a.pid_file)
			a.pid_file = pid_tmp;
	}
	av[n++] = "nbdkit";
	/*
	 * In the foreground nbdkit dies with its parent (it sets
	 * PR_SET_PDEATHSIG): that is us with --foreground only; otherwise
	 * it forks its server away (and its messages stay on stderr).
	 */
	av[n++] = a.is_foreground ? "--foreground" : "--log=stderr";
	if (a.is_verbose)
		av[n++] = "--verbose";
	av[n++] = "--unix";
	av[n++] = a.socket;
	if (a.pid_file) {
		av[n++] = "--pidfile";
		av[n++] = a.pid_file;
	}
	av[n++] = plugin;
	av[n++] = kv("domid", a.domid);
	if (a.devid)
		av[n++] = kv("devid", a.devid);
	if (a.store)
		av[n++] = kv("store", a.store);
	if (a.platform)
		av[n++] = kv("platform", a.platform);
	if (a.is_no_persistent)
		av[n++] = "persistent=0";
	if (a.ring_order)
		av[n++] = kv("ring-order", a.ring_order);
	if (a.max_segs)
		av[n++] = kv("max-segs", a.max_segs);
	if (a.wait)
		av[n++] = kv("wait", a.wait);
	if (a.timeout)
		av[n++] = kv("timeout", a.timeout);
	if (!a.is_foreground)
		av[n++] = kv("ready", ready);
	av[n] = NULL;

	if (a.is_foreground) {
		execv(nbdkit, (char *const *)av);
		fprintf(stderr, "xsblkfront: exec %s: %s\n", nbdkit,
		        strerror(errno));
		return 127;
	}
	pid = fork();
	if (pid < 0) {
		perror("xsblkfront: fork");
		return 1;
	}
	if (pid == 0) {
		execv(nbdkit, (char *const *)av);
		fprintf(stderr, "xsblkfront: exec %s: %s\n", nbdkit,
		        strerror(errno));
		_exit(127);
	}
	ret = wait_ready(pid, a.pid_file, ready);
	unlink(ready);
	if (a.pid_file == pid_tmp && ret)
		unlink(pid_tmp); /* else nbdkit removes it at exit */
	rmdir(tmpdir);           /* fails while it holds the pid file: kept */
	return ret;
}
