/*
 * options.h - xstored's command line: our options and those of Xen 4.17's
 * xenstored that its init scripts pass, parsed into a daemon_config and
 * the strings it points at.  Used once, by main.c, before the daemon
 * starts; not thread-safe (getopt).
 */
#ifndef XSTORE_OPTIONS_H
#define XSTORE_OPTIONS_H

#include <stdbool.h>

#include "daemon/state.h"
#include "daemon/notify.h"

/* The strings of the configuration, owned here (cfg points at them),
 * and what main.c keeps of the command line and environment. */
struct opts {
	char *rundir;
	char *pid_file;
	char *log_file;
	char *trace_file;
	char *platform;
	char *state_dir;
	bool is_pid_file_ours; /* written by us: remove on exit */
	bool is_syslog;        /* --log-syslog */
	bool is_output_pid;    /* -P: print the daemon's pid, nothing else */
	bool is_io_untraced;   /* --trace-control=-io */
	struct notify notify;  /* the service manager, if any */
	/* Live update (update.h): started by our predecessor, whose
	 * stream is on lu_fd (is_updated), with lu_error when this is the
	 * previous binary coming back; --state-format; the stream version
	 * claimed (0: ours; tests only). */
	bool is_updated;
	int lu_fd;
	char *lu_error;
	bool is_print_format;
	unsigned int state_format;
};

/*
 * options_parse - parse argv into cfg (defaults already there) and o
 * (zeroed by the caller), fill in the default run directory, and point
 * cfg's strings at o's.  Help, version and usage errors are printed
 * here.  Returns -1 to go on, or the exit status: 0 after --help or
 * --version, 1 when out of memory, 2 for a usage error or an option
 * refused (with the reason).  o's strings are the caller's to free
 * (options_fini) in every case.
 */
int options_parse(int argc, char **argv, struct daemon_config *cfg,
                  struct opts *o);

/*
 * options_set_path - replace *dst (xfree'd) by an absolute copy of src
 * (the daemon may chdir("/")).  0, or exit status 1 (message printed).
 */
int options_set_path(char **dst, const char *src);

/* options_fini - free o's strings. */
void options_fini(struct opts *o);

#endif
