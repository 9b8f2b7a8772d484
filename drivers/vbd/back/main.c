/*
 * main.c - xsblkback, the dom0 backend of Xen's virtual block device:
 * options, the store connection, the backend bus with the "vbd" driver,
 * the worker threads, signals (TERM/INT: orderly shutdown).  Before the
 * bus starts, devices an earlier xsblkback left half-connected (it was
 * killed) are put back to Initialising, so that the bus probes them and
 * their frontends set up again (see vbd.c).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "drivers/vbd/back/blkback.h"
#include "xstore/xstore.h"

#define XSBLKBACK_VERSION "0.1.0"
#define SHUTDOWN_MS       5000u

int vbd_verbose;

static void usage(FILE *f)
{
	fprintf(
	    f, "usage: xsblkback [--domid D] [--store SPEC] [--platform SPEC]\n"
	       "                 [--workers N] [-v] [--help] [--version]\n"
	       "Serve every vbd device of domain D (default: ours) on the\n"
	       "backend bus: backend/vbd/<frontid>/<devid>, image from\n"
	       "`params`, read-only when `mode` has no 'w'.\n"
	       "  --domid D        our domain (default: ask the store; 0)\n"
	       "  --store SPEC     store connection (default: the daemon's\n"
	       "                   socket, as xstore_open(NULL))\n"
	       "  --platform SPEC  sim, sim:DIR or xen (default sim)\n"
	       "  --workers N      I/O threads (default 4)\n"
	       "  -v, --verbose    log connections and I/O errors too\n"
	       "Signals: TERM/INT close every device and exit.\n");
}

static long num_arg(const char *what, const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "xsblkback: bad %s: %s\n", what, s);
		exit(2);
	}
	return v;
}

/* Our vbd devices that an earlier instance left in a handshake. */
static void reset_stale(struct xstore *h, unsigned int domid)
{
	char root[64], **fes = NULL;
	unsigned int nfe = 0;

	snprintf(root, sizeof(root), "/local/domain/%u/backend/vbd", domid);
	if (xstore_directory(h, XSTORE_TXN_NONE, root, &fes, &nfe))
		return;
	for (unsigned int i = 0; i < nfe; i++) {
		char dir[128], **ids = NULL;
		unsigned int nid = 0;

		snprintf(dir, sizeof(dir), "%s/%s", root, fes[i]);
		if (xstore_directory(h, XSTORE_TXN_NONE, dir, &ids, &nid))
			continue;
		for (unsigned int k = 0; k < nid; k++) {
			char node[192], path[256], *online = NULL;
			enum xenbus_devstate s;

			snprintf(node, sizeof(node), "%s/%s", dir, ids[k]);
			s = xenbus_read_driver_state(h, node);
			snprintf(path, sizeof(path), "%s/online", node);
			if (s < XENBUS_STATE_INITWAIT ||
			    s > XENBUS_STATE_CLOSED ||
			    xstore_read(h, XSTORE_TXN_NONE, path, &online,
			                NULL)) {
				free(online);
				continue;
			}
			if (!strcmp(online, "1")) {
				snprintf(path, sizeof(path), "%s/state", node);
				fprintf(
				    stderr,
				    "xsblkback: %s was left %s by an earlier "
				    "backend: taking it over\n",
				    node, xenbus_strstate((int)s));
				xstore_write_str(h, XSTORE_TXN_NONE, path, "1");
			}
			free(online);
		}
		free(ids);
	}
	free(fes);
}

/*
 * In the simulator every mapped grant holds a file open (its lock), and
 * a device keeps up to VBD_PGRANT_MAX persistent ones: the usual soft
 * limit of 1024 files would make mappings fail under load.
 */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	static const struct option longs[] = {
	    {"domid", required_argument, NULL, 'd'},
	    {"store", required_argument, NULL, 's'},
	    {"platform", required_argument, NULL, 'p'},
	    {"workers", required_argument, NULL, 'w'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0}};
	struct xenbus_bus_opts bo = {.kind = XENBUS_BACKEND, .domid = -1};
	const char *store = NULL;
	struct xenbus_bus *bus = NULL;
	struct xstore *h = NULL;
	unsigned int workers = 4;
	char *stuck = NULL;
	sigset_t set;
	int c, err, sig, status = 0;

	while ((c = getopt_long(argc, argv, "vh", longs, NULL)) != -1) {
		switch (c) {
		case 'd':
			bo.domid = (int)num_arg("--domid", optarg, 0, 32751);
			break;
		case 's':
			store = optarg;
			break;
		case 'p':
			bo.platform = optarg;
			break;
		case 'w':
			workers =
			    (unsigned int)num_arg("--workers", optarg, 1, 64);
			break;
		case 'v':
			vbd_verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("xsblkback %s\n", XSBLKBACK_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	/* Only this thread takes the signals (the bus thread and the
	 * workers inherit the mask). */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	err = vbd_guard_init();
	if (err) {
		fprintf(stderr, "xsblkback: SIGBUS handler: %s\n",
		        strerror(-err));
		return 1;
	}

	err = xstore_open(store, 0, &h);
	if (err) {
		fprintf(stderr, "xsblkback: connecting to the store %s: %s\n",
		        store ? store : "(default)", strerror(-err));
		return 1;
	}
	err = io_start(workers);
	if (err) {
		fprintf(stderr, "xsblkback: starting workers: %s\n",
		        strerror(-err));
		xstore_close(h);
		return 1;
	}
	err = xenbus_bus_new(h, &bo, &bus);
	if (!err)
		err = xenbus_register(bus, &vbd_driver, NULL);
	if (!err) {
		reset_stale(h, xenbus_bus_domid(bus));
		err = xenbus_bus_start(bus);
	}
	if (err) {
		fprintf(stderr, "xsblkback: starting the bus: %s\n",
		        strerror(-err));
		xenbus_bus_free(bus);
		io_stop();
		xstore_close(h);
		return 1;
	}
	if (vbd_verbose)
		fprintf(stderr, "xsblkback: serving vbd devices of domain %u\n",
		        xenbus_bus_domid(bus));
	while (sigwait(&set, &sig))
		;
	err = xenbus_bus_shutdown(bus, SHUTDOWN_MS, &stuck);
	if (err) {
		fprintf(stderr,
		        "xsblkback: shutdown: %s; devices whose frontend did "
		        "not close:\n%s",
		        strerror(-err), stuck ? stuck : "");
		status = 3;
	}
	free(stuck);
	xenbus_bus_free(bus);
	io_stop();
	xstore_close(h);
	return status;
}
