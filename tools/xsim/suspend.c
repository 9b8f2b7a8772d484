/*
 * suspend.c - a guest's suspend and resume, as libxl drives them
 * (protocol: docs/sim.md, "Suspend and resume").
 *
 * Suspend asks the guest through control/shutdown = "suspend".  A guest
 * with a multiplexer (its "kernel") acknowledges by writing "" there and
 * setting its own state to "suspended"; xsim waits for that on watches
 * (the node, and @releaseDomain, which the daemon fires when it sees
 * the state) and, on timeout, withdraws the request as libxl does.  A
 * guest without one (a --no-mux domain: one process owns the ring) has
 * nobody to answer, so xsim plays its part.  Resume sets the state back
 * to "running" first and only then sends RESUME, as libxl resumes the
 * domain before xs_resume_domain(): the daemon re-arms @releaseDomain
 * only once the domain is seen running, so a state check in between
 * cannot fire it twice for one suspend.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plat/sim_dom.h"
#include "tools/xsim/xsim.h"

#define SHUTDOWN_NODE "/local/domain/%u/control/shutdown"

/* 0 if `domid` is in state `want`, else an exit code (reported). */
static int require_state(const struct ctx *x, unsigned int domid,
                         enum plat_dom_state want, const char *cmd)
{
	enum plat_dom_state st;
	int err = domain_state(x, domid, &st);

	if (err == -ENOENT) {
		fprintf(stderr, "xsim: no domain %u in %s\n", domid, x->dir);
		return EXIT_FAIL;
	}
	if (err)
		return fail("cannot read the state of", domid, err);
	if (st != want) {
		fprintf(stderr, "xsim: %s: domain %u is %s, not %s\n", cmd,
		        domid, simfs_state_name(st), simfs_state_name(want));
		return EXIT_FAIL;
	}
	return 0;
}

struct suspended_check {
	const struct ctx *x;
	unsigned int domid;
};

static int suspended_fn(void *arg)
{
	const struct suspended_check *c = arg;
	enum plat_dom_state st;
	int err = domain_state(c->x, c->domid, &st);

	if (err)
		return err;
	if (st == PLAT_DOM_DYING || st == PLAT_DOM_SHUTDOWN)
		return -ESRCH; /* it went another way */
	return st == PLAT_DOM_SUSPENDED;
}

/* Withdraw our request if the guest has not taken it (libxl does). */
static void withdraw(struct xstore *xs, const char *node)
{
	for (int i = 0; i < XSIM_TXN_TRIES; i++) {
		xstore_txn_t tx;
		char *v = NULL;
		int err;

		if (xstore_txn_start(xs, &tx))
			return;
		err = xstore_read(xs, tx, node, &v, NULL);
		if (!err && !strcmp(v, "suspend"))
			err = xstore_write_str(xs, tx, node, "");
		free(v);
		if (err) {
			xstore_txn_end(xs, tx, false);
			return;
		}
		if (xstore_txn_end(xs, tx, true) != -EAGAIN)
			return;
	}
}

int cmd_suspend(const struct ctx *x, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"timeout", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	unsigned long timeout = DEFAULT_TIMEOUT_S;
	struct suspended_check c = {.x = x};
	char node[64];
	const char *paths[2];
	struct xstore *xs;
	int opt, rc, err;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'h')
			return usage_print();
		if (opt != 't')
			return EXIT_USAGE;
		if (parse_ulong(optarg, 0, 3600, &timeout))
			return usage_error("bad --timeout: %s", optarg);
	}
	if ((rc = one_domid(argc, argv, "suspend", &c.domid)))
		return rc;
	if (c.domid == 0)
		return usage_error("domain 0 cannot be suspended here");
	if ((rc = require_state(x, c.domid, PLAT_DOM_RUNNING, "suspend")))
		return rc;
	if (daemon_connect(x, &xs))
		return EXIT_FAIL;
	snprintf(node, sizeof(node), SHUTDOWN_NODE, c.domid);
	err = xstore_write_str(xs, XSTORE_TXN_NONE, node, "suspend");
	if (err) {
		rc = fail("cannot ask for the suspend of", c.domid, err);
		goto out;
	}
	if (!mux_answers(x, c.domid)) {
		/* Nobody answers for the guest: answer as it would. */
		err = xstore_write_str(xs, XSTORE_TXN_NONE, node, "");
		if (!err)
			err = sim_dom_set_state(x->dir, c.domid,
			                        PLAT_DOM_SUSPENDED);
		if (err)
			rc = fail("cannot suspend", c.domid, err);
		goto out;
	}
	paths[0] = node;
	paths[1] = "@releaseDomain";
	err = xsim_wait(xs, paths, 2, suspended_fn, &c, timeout * 1000);
	if (err == -ETIMEDOUT) {
		withdraw(xs, node);
		fprintf(stderr,
		        "xsim: domain %u did not suspend within %lu s (its "
		        "multiplexer did not acknowledge %s)\n",
		        c.domid, timeout, node);
		rc = EXIT_FAIL;
	} else if (err == -ESRCH) {
		fprintf(stderr,
		        "xsim: domain %u shut down or died instead "
		        "of suspending\n",
		        c.domid);
		rc = EXIT_FAIL;
	} else if (err) {
		rc = fail("waiting for the suspend of", c.domid, err);
	}
out:
	xstore_close(xs);
	return rc;
}

int cmd_resume(const struct ctx *x, int argc, char **argv)
{
	unsigned int domid;
	struct xstore *xs;
	int rc, err;

	if (getopt_long(argc, argv, "", (struct option[]){{NULL, 0, NULL, 0}},
	                NULL) != -1)
		return EXIT_USAGE;
	if ((rc = one_domid(argc, argv, "resume", &domid)))
		return rc;
	if (domid == 0)
		return usage_error("domain 0 cannot be resumed here");
	if ((rc = require_state(x, domid, PLAT_DOM_SUSPENDED, "resume")))
		return rc;
	if (daemon_connect(x, &xs))
		return EXIT_FAIL;
	err = sim_dom_set_state(x->dir, domid, PLAT_DOM_RUNNING);
	if (err) {
		rc = fail("cannot resume", domid, err);
		goto out;
	}
	err = xstore_resume_domain(xs, domid);
	if (err)
		rc = fail("the daemon refused RESUME of", domid, err);
out:
	xstore_close(xs);
	return rc;
}
