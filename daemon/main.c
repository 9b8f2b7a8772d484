/*
 * main.c - the xstored program: logging set-up, daemonising, pid file,
 * signals, telling the service manager, and the loop's turn hook (the
 * command line is options.c's).
 *
 * Everything that can fail (options, pid file, sockets)
 * is done before forking, so errors reach the terminal and the exit
 * status; the parent waits for the child's "ready" before it exits.
 * Signals arrive through a signalfd in the loop, never in a handler.
 *
 * Under systemd: READY=1 (and MAINPID= when we forked) goes to
 * $NOTIFY_SOCKET from the process that serves, once the sockets listen
 * and the pid file exists, so that Xen's launch-xenstore (which starts
 * the daemon with --pid-file and either waits for that file or leaves
 * the wait to systemd) works with XENSTORED=xstored; the log goes to
 * syslog when daemonised there with no --log-file.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/version.h"
#include "common/xalloc.h"
#include "daemon/daemon.h"
#include "daemon/domain.h"
#include "daemon/loop.h"
#include "daemon/notify.h"
#include "daemon/options.h"
#include "daemon/persist.h"
#include "daemon/sock.h"
#include "daemon/update.h"

/* ---- pid file ---- */

static pid_t pid_file_read(const char *path)
{
	char buf[32];
	ssize_t n;
	long pid;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	pid = strtol(buf, NULL, 10);
	return pid > 0 && pid <= INT_MAX ? (pid_t)pid : 0;
}

/* Has `pid` exited, waiting only for its parent to reap it? */
static bool is_zombie(pid_t pid)
{
	char path[64], buf[256];
	const char *paren;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	/* "pid (comm) S ...": the state follows the last parenthesis. */
	paren = strrchr(buf, ')');
	return paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
}

/* Does the pid file name a live xstored (other than us)? */
static bool is_pid_file_live(const char *path)
{
	pid_t pid = pid_file_read(path);
	char comm_path[64], comm[32] = "";
	FILE *f;

	if (pid <= 0 || pid == getpid())
		return false;
	if (kill(pid, 0) < 0 && errno != EPERM)
		return false;
	if (is_zombie(pid))
		return false; /* killed (kill -9), not yet reaped: restartable
		               */
	/* The pid may have been reused by an unrelated process. */
	snprintf(comm_path, sizeof(comm_path), "/proc/%d/comm", (int)pid);
	f = fopen(comm_path, "re");
	if (!f)
		return true; /* cannot tell: be safe */
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = '\0';
	fclose(f);
	return strncmp(comm, "xstored", 7) == 0;
}

/* Write our pid atomically (temporary file, then rename). */
static int pid_file_write(const char *path)
{
	char tmp[PATH_MAX], line[32];
	int fd, n, err = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid()) >=
	    (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	n = snprintf(line, sizeof(line), "%d\n", (int)getpid());
	if (write(fd, line, (size_t)n) != n)
		err = errno ? -errno : -EIO;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

/* Remove the pid file if it is still ours. */
static void pid_file_remove(const char *path)
{
	if (pid_file_read(path) == getpid())
		unlink(path);
}

/* ---- signals and the loop ---- */

static void signal_cb(struct loop *l, int fd, unsigned int events, void *arg)
{
	struct daemon *d = arg;
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			log_info("signal %s: shutting down",
			         strsignal((int)si.ssi_signo));
			d->is_stopping = true;
			loop_stop(l);
			break;
		case SIGHUP: {
			int err = log_reopen();

			if (err)
				log_err("cannot reopen the log: %s",
				        strerror(-err));
			else
				log_info("log reopened");
			break;
		}
		}
	}
}

static void signal_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
}

/* Block the signals we take through the signalfd (they stay pending
 * until it exists), and ignore SIGPIPE.  0 or -errno. */
static int signals_block(void)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	signal_set(&set);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	return 0;
}

/*
 * The signalfd, watched on the loop.  Only after forking: epoll hears a
 * signalfd through the wait queue of the process that registered it, so
 * one made before fork() would never wake the child's loop.  0 or -errno.
 */
static int signals_watch(struct daemon *d, int *sfd)
{
	sigset_t set;
	int fd, err;

	signal_set(&set);
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = loop_add(d->loop, fd, LOOP_IN, signal_cb, d);
	if (err) {
		close(fd);
		return err;
	}
	*sfd = fd;
	return 0;
}

/* What polling cost and saved, so that --poll-us can be judged. */
static void log_poll_stats(const struct loop *l)
{
	struct loop_poll_stats st;

	loop_poll_stats(l, &st);
	log_debug("polling: %llu sleeps saved (%llu by the poll hook), %llu "
	          "polls in vain, %llu sleeps, %llu fd polls",
	          (unsigned long long)(st.poll_hits + st.hook_hits),
	          (unsigned long long)st.hook_hits,
	          (unsigned long long)st.poll_misses,
	          (unsigned long long)st.sleeps,
	          (unsigned long long)st.fd_polls);
	log_debug("yield hint: made %llu times, told of %llu yields, %llu "
	          "stale",
	          (unsigned long long)st.hints_made,
	          (unsigned long long)st.hint_yields,
	          (unsigned long long)st.hint_stale);
}

/* Report the rate-limited lines held back (log_limited) now and then,
 * even when nothing else is logged. */
#define LOG_FLUSH_MS 10000u
static void log_flush_cb(struct loop *l, void *arg)
{
	log_limited_flush();
	loop_timer_add(l, LOG_FLUSH_MS, log_flush_cb, arg);
}

static void turn_hook(struct loop *l, void *arg)
{
	daemon_end_turn(arg);
}

/* ---- daemonising ---- */

static void announce(const char *rundir, const struct opts *o, pid_t pid)
{
	if (o->is_output_pid) {
		/* As Xen's -P: a script reads the pid, and only that. */
		printf("%d\n", (int)pid);
		fflush(stdout);
		return;
	}
	printf("xstored: listening on %s/" SOCK_NAME " (read-write) and "
	       "%s/" SOCK_RO_NAME " (read-only)\n",
	       rundir, rundir);
	printf("export XENSTORED_PATH=%s/" SOCK_NAME "\n", rundir);
	fflush(stdout);
}

/*
 * Fork; the parent waits on a pipe for the child's ready byte and exits
 * 0 (after announcing) or 1.  Returns in the child only, with *ready_fd
 * the pipe to write to once started, or -errno before forking.
 */
static int daemonise(const char *rundir, const struct opts *o, int *ready_fd)
{
	int pfd[2], nullfd;
	pid_t pid;
	char ok;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		int err = errno;

		close(pfd[0]);
		close(pfd[1]);
		return -err;
	}
	if (pid > 0) {
		close(pfd[1]);
		if (read(pfd[0], &ok, 1) == 1) {
			announce(rundir, o, pid);
			_exit(0);
		}
		fprintf(stderr, "xstored: the daemon failed to start "
		                "(see its log)\n");
		_exit(1);
	}
	close(pfd[0]);
	setsid();
	if (chdir("/") < 0)
		log_warn("chdir /: %s", strerror(errno));
	nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (nullfd >= 0) {
		dup2(nullfd, STDIN_FILENO);
		dup2(nullfd, STDOUT_FILENO);
		dup2(nullfd, STDERR_FILENO);
		if (nullfd > STDERR_FILENO)
			close(nullfd);
	}
	*ready_fd = pfd[1];
	return 0;
}

/* Open the log (--log-file, else stderr) and the trace (-T), each its
 * own file. */
static int logging_setup(const struct daemon_config *cfg, struct opts *o)
{
	int err = 0;

	if (o->is_syslog && !o->log_file)
		log_open_syslog("xstored", cfg->log_level);
	else
		err = log_open(o->log_file, cfg->log_level);
	if (err) {
		fprintf(stderr, "xstored: cannot open log file %s: %s\n",
		        o->log_file, strerror(-err));
		return err;
	}
	if (o->trace_file) {
		err = log_open_trace(o->trace_file);
		if (err) {
			fprintf(stderr,
			        "xstored: cannot open trace file %s: %s\n",
			        o->trace_file, strerror(-err));
			return err;
		}
		log_set_trace(!o->is_io_untraced);
	}
	return 0;
}

/* Started by systemd: it sets these for every service. */
static bool is_under_systemd(void)
{
	return getenv("INVOCATION_ID") || getenv("JOURNAL_STREAM");
}

/* Is stderr the journal stream systemd gave us ("DEV:INODE")? */
static bool is_stderr_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!env || sscanf(env, "%llu:%llu", &dev, &ino) != 2 ||
	    fstat(STDERR_FILENO, &st) < 0)
		return false;
	return st.st_dev == (dev_t)dev && st.st_ino == (ino_t)ino;
}

/*
 * Daemonised with no log file: syslog under systemd (the journal takes
 * it; stderr is /dev/null after forking), else DIR/xstored.log, never
 * /dev/null.  In the foreground stderr stays: systemd gives it to the
 * journal.
 */
static int default_log(struct daemon_config *cfg, struct opts *o)
{
	char path[PATH_MAX];

	if (cfg->foreground || log_path() || log_is_syslog())
		return 0;
	if (is_under_systemd()) {
		o->is_syslog = true;
		return logging_setup(cfg, o);
	}
	snprintf(path, sizeof(path), "%s/xstored.log", o->rundir);
	if (options_set_path(&o->log_file, path))
		return -ENOMEM;
	cfg->log_file = o->log_file;
	return logging_setup(cfg, o);
}

/*
 * Tell the service manager we serve: from the serving process, after
 * the sockets listen and the pid file is written (what Xen's
 * launch-xenstore checks without systemd), and with MAINPID= when we
 * forked, since the pid systemd started is about to exit.
 */
static void notify_ready(const struct daemon *d, const struct opts *o,
                         bool has_forked)
{
	char mainpid[32] = "";
	int err;

	if (has_forked)
		snprintf(mainpid, sizeof(mainpid), "MAINPID=%d\n",
		         (int)getpid());
	err = notify_send(&o->notify,
	                  "READY=1\n%sSTATUS=serving on %s/" SOCK_NAME "%s\n",
	                  mainpid, d->cfg.rundir,
	                  d->sock_inherited ? " (socket activation)" : "");
	if (err)
		log_warn("cannot tell the service manager we are ready: %s",
		         strerror(-err));
}

/*
 * Started by our predecessor's live update: its stream instead of the
 * journal and sockets (update.h).  A stream this binary cannot load
 * sends us back to the previous binary; returns only if even that
 * cannot be done.
 */
static int take_over(struct daemon *d, struct daemon_config *cfg,
                     struct opts *o)
{
	char why[512];
	int err = default_log(cfg, o);

	if (err)
		return err;
	err = update_load(d, o->lu_fd, o->lu_error, why, sizeof(why));
	if (err && !o->lu_error)
		update_fall_back(o->lu_fd, why);
	return err;
}

static int run(struct daemon_config *cfg, struct opts *o, int argc,
               char *const *argv)
{
	struct daemon d;
	int sfd = -1, err, ready_fd = -1;
	bool is_ready = false;

	err = signals_block();
	if (err) {
		log_err("cannot block signals: %s", strerror(-err));
		return 1;
	}
	err = daemon_init(&d, cfg);
	if (err) {
		log_err("cannot initialise the daemon: %s", strerror(-err));
		notify_send(&o->notify,
		            "STATUS=failed to start: %s\nERRNO=%d\n",
		            strerror(-err), -err);
		return 1;
	}
	err = update_init(&d, argc, argv, o->state_format);
	if (err) {
		log_err("cannot initialise the daemon: %s", strerror(-err));
		goto out_sock;
	}
	if (o->is_updated) {
		err = take_over(&d, cfg, o);
		if (err)
			goto out_sock;
		goto serve;
	}
	/* Before the sockets: a client must never see a store that is
	 * still loading. */
	err = persist_start(&d, getenv("XSTORED_TEST_CRASH"));
	if (err)
		goto out_sock;
	err = sock_listen(&d);
	if (err)
		goto out_sock; /* sock_close is idempotent */
	err = default_log(cfg, o);
	if (err)
		goto out_sock;
	if (!cfg->foreground) {
		err = daemonise(cfg->rundir, o, &ready_fd);
		if (err) {
			log_err("cannot daemonise: %s", strerror(-err));
			goto out_sock;
		}
	}
serve:
	err = signals_watch(&d, &sfd);
	if (err) {
		log_err("cannot watch signals: %s", strerror(-err));
		goto out_sock;
	}
	if (o->pid_file) {
		err = pid_file_write(o->pid_file);
		if (err) {
			log_err("cannot write pid file %s: %s", o->pid_file,
			        strerror(-err));
			goto out_sock;
		}
		o->is_pid_file_ours = true;
	}
	/* Before the parent exits: systemd must hear MAINPID= first. */
	notify_ready(&d, o, ready_fd >= 0);
	is_ready = true;
	if (ready_fd >= 0) {
		if (write(ready_fd, "1", 1) != 1)
			log_warn("cannot tell the parent we started");
		close(ready_fd);
		ready_fd = -1;
	} else if (!o->is_updated) {
		announce(cfg->rundir, o, getpid());
	}
	log_info("xstored " XSTORE_VERSION " %s (pid %d) in %s",
	         o->is_updated ? "serving after a live update" : "started",
	         (int)getpid(), cfg->rundir);

	err = loop_enable_yield_hint(d.loop);
	if (err)
		log_info("dom0's requests are looked for between guests' "
		         "requests with a system call: no io_uring hint (%s)",
		         strerror(-err));
	loop_set_turn_hook(d.loop, turn_hook, &d);
	loop_timer_add(d.loop, LOG_FLUSH_MS, log_flush_cb, NULL);
	err = loop_run(d.loop);
	notify_send(&o->notify, "STOPPING=1\nSTATUS=stopping\n");
	if (err)
		log_err("event loop: %s", strerror(-err));
	else
		log_info("stopped");
	log_poll_stats(d.loop);
	domain_log_checks(&d);

out_sock:
	if (err && !is_ready)
		notify_send(&o->notify,
		            "STATUS=failed to start: %s\nERRNO=%d\n",
		            strerror(-err), -err);
	sock_close(&d);
	if (sfd >= 0) {
		loop_del(d.loop, sfd);
		close(sfd);
	}
	daemon_fini(&d);
	if (ready_fd >= 0)
		close(ready_fd); /* the parent reads EOF: failure */
	if (o->is_pid_file_ours)
		pid_file_remove(o->pid_file);
	return err ? 1 : 0;
}

/*
 * Started by a live update with options we refuse (its -c): the state
 * must not be lost with us, so the previous binary comes back.  Looked
 * for in the command line as given, since parsing it failed.
 */
static void refused_after_update(int argc, char *const *argv)
{
	static const char fd_opt[] = "--live-update-fd=";
	long fd = -1;

	for (int i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "--live-update-error=", 20))
			return; /* we are the previous binary: nowhere to go */
		if (!strncmp(argv[i], fd_opt, sizeof(fd_opt) - 1))
			fd = strtol(argv[i] + sizeof(fd_opt) - 1, NULL, 10);
	}
	if (fd >= 0 && fd <= INT_MAX)
		update_fall_back((int)fd, "it refuses its command line");
}

int main(int argc, char **argv)
{
	struct daemon_config cfg;
	struct opts o = {0};
	char **args = calloc((size_t)argc + 1, sizeof(*args));
	int rc;

	/* The command line as given, for a live update's exec: getopt
	 * reorders argv. */
	if (!args) {
		fprintf(stderr, "xstored: out of memory\n");
		return 1;
	}
	memcpy(args, argv, (size_t)argc * sizeof(*args));
	daemon_config_defaults(&cfg);
	rc = options_parse(argc, argv, &cfg, &o);
	if (rc > 0)
		refused_after_update(argc, args);
	if (rc >= 0)
		goto out;
	rc = 1;
	if (logging_setup(&cfg, &o))
		goto out;
	log_set_journal_stderr(is_stderr_journal());
	if (notify_init(&o.notify))
		log_warn("NOTIFY_SOCKET=%s is not a unix socket address: "
		         "the service manager will not hear from us",
		         getenv("NOTIFY_SOCKET"));
	if (o.pid_file && is_pid_file_live(o.pid_file)) {
		log_err("pid file %s names a running xstored; not starting",
		        o.pid_file);
		goto out_log;
	}
	rc = run(&cfg, &o, argc, args);
out_log:
	log_close();
out:
	options_fini(&o);
	free(args);
	return rc;
}
