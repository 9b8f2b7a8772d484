/*
 * sim.c - the simulated platform: domains, frames, grants and event
 * channels as files under one directory (layout: docs/sim.md), so that
 * any process in any language can act as a domain.
 *
 * Event channels.  A port P of domain D exists while the FIFO
 * dom<D>/evtchn/<P> does; creating it with mkfifo is the atomic claim,
 * and a plat takes the lowest number it can claim.  An unbound port has
 * <P>.unbound (the domain allowed to bind it); a bound one has <P>.peer
 * ("<domid> <port>" of the other end).  Binding claims the remote's
 * <P>.peer with link() (exclusive: of two binders one gets -EBUSY), then
 * removes its .unbound and writes our own .peer.  Unbinding hands the
 * remote port back to the unbound state for us, as Xen does, then
 * removes our files, the FIFO last (so a FIFO without side files never
 * means "bound").  A notify writes one byte into the remote's FIFO; a
 * full pipe already holds an event.
 *
 * The notify's hot path is that one write(2), to the remote FIFO kept
 * open since the last notify.  The cache is right while our <P>.peer is
 * the file it was opened from: a plat that serves plat_evtchn_fd (the
 * daemon: dom0 only, since inotify instances are few per user and every
 * guest process would take one) watches its own evtchn directory with
 * inotify, the watch's fd in the same epoll set as the ports, and a
 * change of any name <P>... marks port P's cache stale; the next notify
 * on P checks <P>.peer by path (device, inode, size, ctime) and reopens
 * the remote FIFO if the binding changed.  Without the watch (guests,
 * plats whose fd nobody polls, inotify refused) every notify checks by
 * path.  plat_evtchn_pending reads the watch before it returns any port
 * of the epoll batch it took, so a remote that changed our directory and
 * then notified us finds its change seen when we answer it (unless its
 * change and its notify both fell between our epoll_wait and our read
 * of its FIFO, microseconds).
 *
 * The window: between a change of <P>.peer and our reading of its
 * inotify event, a notify on P still writes to the FIFO of the remote
 * port P was bound to.  That FIFO is the remote's old port itself, never
 * another channel's: a FIFO is made (mkfifo) for one binding, a port
 * that goes back to unbound is reserved for the same remote domain, and
 * a new binding makes a new FIFO, so our fd names a file that is either
 * still that remote port (being unbound: the byte is a notify racing its
 * close, as on Xen, where EVTCHNOP_send that reaches the port before
 * EVTCHNOP_close is delivered and one after is dropped) or unlinked (the
 * byte is lost, as a send to a closed port is).  A notify on a port
 * being rebound may be lost; it never reaches a third domain's new
 * channel.  A remote that rebinds our unbound port and then waits for a
 * notify sent in that window waits for the next one (Xen would have
 * delivered it); the daemon never meets this (guests do not bind its
 * ports: it binds theirs).
 *
 * The open remote FIFOs are bounded (sim_set_peer_fds_max, by default
 * 1/16 of RLIMIT_NOFILE, at most 1024): at 10 000 guests the daemon holds
 * its own 10 000 FIFOs, and the least recently notified remote is closed
 * when one more is needed, to be reopened by path on its next notify.
 *
 * Ownership: a plat unbinds on close the ports it allocated or bound (or
 * adopted from a dead process with plat_evtchn_rebind: nothing closes
 * with a process here, unlike Xen); a guest's plat also listens on its store
 * port (start-info; not with PLAT_OPEN_NO_STORE_PORT) but leaves it bound on
 * close, since the domain builder made it, not the process.  A mapping made
 * through grants holds each grant file open and read-locked until unmapped
 * (simfs.c; open through a PROT_NONE mapping of it, not an fd), which is how a
 * granter in another process sees that its grant is still mapped. The sim
 * trusts nothing read from a file (simfs.c) but is no isolation boundary
 * between processes of one user.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plat/plat_int.h"
#include "plat/simfs.h"

/* How many frames plat_alloc_page may hand out per domain. */
#define SIM_PAGES_MAX (1u << 20)

/* Which .peer file a cached peer_fd was opened from. */
struct file_id {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec ctime;
};

struct sim_port {
	int fd;        /* our FIFO, in the epoll set; -1: not ours */
	int peer_fd;   /* the remote end's FIFO once notified; -1 */
	bool is_owned; /* unbound by plat_close */
	/* peer_fd is right without a look at .peer: no change of our
	 * directory naming this port came since it was checked (only with
	 * the inotify watch) */
	bool is_fresh;
	struct file_id peer_id; /* our .peer file when peer_fd was opened */
	/* Ports with a peer_fd, most recently notified first; 0 ends. */
	unsigned int lru_prev, lru_next;
};

/* epoll data of the inotify watch: port 0 is never a port. */
#define WATCH_TAG 0u
/* Ready fds one plat_evtchn_pending's epoll_wait takes, served by the
 * following calls. */
#define READY_MAX 32
/* The most remote FIFOs held open by default (see the file comment). */
#define PEER_FDS_MAX 1024u
#define PEER_FDS_MIN 4u

/* One plat_map_* call's mapping. */
struct sim_map {
	void *addr;
	unsigned int n; /* pages */
	/* n held grant files (through grants), else NULL: each mapped
	 * PROT_NONE, which keeps its open file, hence its lock, without an
	 * fd (at 10 000 guests the fds would not fit in RLIMIT_NOFILE) */
	void **holds;
};

struct sim {
	struct plat base;                    /* first: plat.c casts */
	int root;                            /* the sim directory */
	int evtchn_dir, page_dir, grant_dir; /* dom<self>/... */
	int epfd;                            /* every port in ports[] */
	int exc_fd; /* virq-dom-exc (dom0); a guest's inotify (lazy); -1 */
	struct sim_port *ports; /* indexed by port number; [0] unused */
	unsigned int nports;
	struct sim_map *maps; /* live mappings, for unmap and close */
	size_t nmaps, maps_cap;
	uint32_t grant_next; /* where the search for a free ref starts */
	uint64_t gfn_next;   /* likewise for frames */
	/* inotify on evtchn_dir, in epfd (WATCH_TAG); -1: notify checks
	 * .peer by path every time */
	int watch_fd;
	bool is_watch_tried;
	struct epoll_event ready[READY_MAX]; /* the last epoll_wait's */
	unsigned int nready, ready_next;
	unsigned int lru_head, lru_tail; /* ports with a peer_fd */
	unsigned int npeer_fds, peer_fds_max;
	struct sim_counters counters;
};

static const struct plat_ops sim_ops;

static struct sim *to_sim(struct plat *p)
{
	return (struct sim *)p;
}

/* ---- ports table ---- */

static struct sim_port *port_find(struct sim *s, unsigned int port)
{
	if (port == 0 || port >= s->nports || s->ports[port].fd < 0)
		return NULL;
	return &s->ports[port];
}

static int port_add(struct sim *s, unsigned int port, int fd, bool is_owned)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = port};

	if (port >= s->nports) {
		unsigned int n = s->nports ? s->nports : 16;
		struct sim_port *t;

		while (n <= port)
			n *= 2;
		t = realloc(s->ports, n * sizeof(*t));
		if (!t)
			return -ENOMEM;
		for (unsigned int i = s->nports; i < n; i++)
			t[i] = (struct sim_port){.fd = -1, .peer_fd = -1};
		s->ports = t;
		s->nports = n;
	}
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	s->ports[port] =
	    (struct sim_port){.fd = fd, .peer_fd = -1, .is_owned = is_owned};
	return 0;
}

/* Close port `port`'s cached remote FIFO, if any. */
static void peer_drop(struct sim *s, unsigned int port)
{
	struct sim_port *sp = &s->ports[port];

	if (sp->peer_fd < 0)
		return;
	close(sp->peer_fd);
	sp->peer_fd = -1;
	sp->is_fresh = false;
	if (sp->lru_prev)
		s->ports[sp->lru_prev].lru_next = sp->lru_next;
	else
		s->lru_head = sp->lru_next;
	if (sp->lru_next)
		s->ports[sp->lru_next].lru_prev = sp->lru_prev;
	else
		s->lru_tail = sp->lru_prev;
	sp->lru_prev = sp->lru_next = 0;
	s->npeer_fds--;
	s->counters.peer_fds = s->npeer_fds;
}

/* Make port `port` (with a peer_fd) the most recently notified. */
static void lru_touch(struct sim *s, unsigned int port)
{
	struct sim_port *sp = &s->ports[port];

	if (s->lru_head == port)
		return;
	s->ports[sp->lru_prev].lru_next = sp->lru_next; /* not the head */
	if (sp->lru_next)
		s->ports[sp->lru_next].lru_prev = sp->lru_prev;
	else
		s->lru_tail = sp->lru_prev;
	sp->lru_prev = 0;
	sp->lru_next = s->lru_head;
	s->ports[s->lru_head].lru_prev = port;
	s->lru_head = port;
}

/* Keep `fd` as port `port`'s remote FIFO, closing the least recently
 * notified one if the plat holds as many as it may. */
static void peer_keep(struct sim *s, unsigned int port, int fd)
{
	struct sim_port *sp = &s->ports[port];

	while (s->npeer_fds >= s->peer_fds_max && s->lru_tail)
		peer_drop(s, s->lru_tail);
	sp->peer_fd = fd;
	sp->lru_prev = 0;
	sp->lru_next = s->lru_head;
	if (s->lru_head)
		s->ports[s->lru_head].lru_prev = port;
	else
		s->lru_tail = port;
	s->lru_head = port;
	s->npeer_fds++;
	s->counters.peer_fds = s->npeer_fds;
}

static void port_forget(struct sim *s, unsigned int port)
{
	struct sim_port *sp = &s->ports[port];

	epoll_ctl(s->epfd, EPOLL_CTL_DEL, sp->fd, NULL);
	close(sp->fd);
	peer_drop(s, port);
	*sp = (struct sim_port){.fd = -1, .peer_fd = -1};
}

/* Names of a port's files. */
static int port_name(char *buf, unsigned int port, const char *suffix)
{
	return simfs_path(buf, "%u%s", port, suffix);
}

/*
 * Claim the lowest free port of ours and open its FIFO.  Side files of
 * a port without a FIFO are leftovers (of a crashed process): removed.
 */
static int port_claim(struct sim *s, unsigned int *port, int *fd)
{
	char name[SIM_PATH_MAX], side[SIM_PATH_MAX];

	for (unsigned int p = 1; p <= SIM_PORT_MAX; p++) {
		int err;

		if (port_find(s, p))
			continue;
		port_name(name, p, "");
		err = simfs_fifo_make(s->evtchn_dir, name);
		if (err == -EEXIST)
			continue;
		if (err)
			return err;
		port_name(side, p, ".peer");
		simfs_unlink(s->evtchn_dir, side);
		port_name(side, p, ".unbound");
		simfs_unlink(s->evtchn_dir, side);
		err = simfs_fifo_open(s->evtchn_dir, name, fd);
		if (err) {
			simfs_unlink(s->evtchn_dir, name);
			return err;
		}
		*port = p;
		return 0;
	}
	return -ENOSPC;
}

/* Undo port_claim. */
static void port_unclaim(struct sim *s, unsigned int port, int fd)
{
	char name[SIM_PATH_MAX];

	close(fd);
	port_name(name, port, "");
	simfs_unlink(s->evtchn_dir, name);
}

static int evtchn_dir_open(struct sim *s, unsigned int domid, int *dir)
{
	char rel[SIM_PATH_MAX];

	simfs_path(rel, "dom%u/evtchn", domid);
	return simfs_dir_open(s->root, rel, dir);
}

/* ---- event channels ---- */

static int sim_evtchn_alloc_unbound(struct plat *p, unsigned int remote,
                                    unsigned int *port)
{
	struct sim *s = to_sim(p);
	char name[SIM_PATH_MAX], text[32];
	unsigned int lp;
	int fd, err;

	if (remote > SIM_DOMID_MAX)
		return -EINVAL;
	err = port_claim(s, &lp, &fd);
	if (err)
		return err;
	port_name(name, lp, ".unbound");
	snprintf(text, sizeof(text), "%u\n", remote);
	err = simfs_write(s->evtchn_dir, name, text, strlen(text), false);
	if (!err)
		err = port_add(s, lp, fd, true);
	if (err) {
		simfs_unlink(s->evtchn_dir, name);
		port_unclaim(s, lp, fd);
		return err;
	}
	*port = lp;
	return 0;
}

/* Why remote port `rport` (files in `rdir`) cannot be bound by us. */
static int bind_check(struct sim *s, int rdir, unsigned int rport)
{
	char name[SIM_PATH_MAX], text[SIM_FILE_MAX];
	struct stat st;
	unsigned int allowed;
	size_t len;
	int err;

	port_name(name, rport, "");
	if (fstatat(rdir, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISFIFO(st.st_mode))
		return -ENOENT;
	port_name(name, rport, ".unbound");
	err = simfs_read(rdir, name, text, sizeof(text), &len);
	if (err == -ENOENT) {
		port_name(name, rport, ".peer");
		if (fstatat(rdir, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			return -EBUSY;
		return -ENOENT;
	}
	if (err)
		return err;
	if (simfs_parse_domid(text, &allowed))
		return -EINVAL;
	return allowed == s->base.self ? 0 : -EACCES;
}

static int sim_evtchn_bind(struct plat *p, unsigned int remote,
                           unsigned int remote_port, unsigned int *port)
{
	struct sim *s = to_sim(p);
	char name[SIM_PATH_MAX], text[48];
	unsigned int lp = 0;
	int rdir, fd = -1, err;
	bool is_claimed = false;

	if (remote > SIM_DOMID_MAX || remote_port == 0 ||
	    remote_port > SIM_PORT_MAX)
		return -EINVAL;
	err = evtchn_dir_open(s, remote, &rdir);
	if (err)
		return err == -ENOTDIR ? -ENOENT : err;
	err = bind_check(s, rdir, remote_port);
	if (!err)
		err = port_claim(s, &lp, &fd);
	if (err)
		goto out;
	/* The claim: exactly one binder creates the remote's .peer. */
	port_name(name, remote_port, ".peer");
	snprintf(text, sizeof(text), "%u %u\n", s->base.self, lp);
	err = simfs_write(rdir, name, text, strlen(text), true);
	if (err) {
		err = err == -EEXIST ? -EBUSY : err;
		goto out;
	}
	is_claimed = true;
	port_name(name, remote_port, ".unbound");
	simfs_unlink(rdir, name);
	port_name(name, lp, ".peer");
	snprintf(text, sizeof(text), "%u %u\n", remote, remote_port);
	err = simfs_write(s->evtchn_dir, name, text, strlen(text), false);
	if (!err)
		err = port_add(s, lp, fd, true);
	if (!err)
		*port = lp;
out:
	if (err && fd >= 0) {
		if (is_claimed) { /* give the remote port back */
			snprintf(text, sizeof(text), "%u\n", s->base.self);
			port_name(name, remote_port, ".unbound");
			simfs_write(rdir, name, text, strlen(text), false);
			port_name(name, remote_port, ".peer");
			simfs_unlink(rdir, name);
			port_name(name, lp, ".peer");
			simfs_unlink(s->evtchn_dir, name);
		}
		port_unclaim(s, lp, fd);
	}
	close(rdir);
	return err;
}

/* Is `name` in `dir` a FIFO (and not a symlink)? */
static bool is_fifo_at(int dir, const char *name)
{
	struct stat st;

	return fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISFIFO(st.st_mode);
}

/* Does port `port`'s .peer file in `dir` name exactly (domid, rport)? */
static bool peer_names(int dir, unsigned int port, unsigned int domid,
                       unsigned int rport)
{
	char name[SIM_PATH_MAX], text[SIM_FILE_MAX];
	unsigned int d, rp;
	size_t len;

	port_name(name, port, ".peer");
	return simfs_read(dir, name, text, sizeof(text), &len) == 0 &&
	       simfs_parse_peer(text, &d, &rp) == 0 && d == domid &&
	       rp == rport;
}

/*
 * Before a fresh bind in plat_evtchn_rebind: clear what a dead process
 * left of the channel (remote port `rport` of `rdir`, our `old`).  Our
 * old port, if its .peer still names the remote port but the remote no
 * longer names it back, belongs to nobody (only its binder ever removes
 * it): removed, so that it does not stay claimed forever.  A remote
 * .peer naming our old port while that FIFO is gone is a claim nobody
 * holds (binders make the FIFO before the claim and unbinders remove it
 * after releasing it): the remote port goes back to unbound for us, as
 * its binder's unbind would have done.
 */
static void rebind_clear(struct sim *s, int rdir, unsigned int remote,
                         unsigned int rport, unsigned int old)
{
	char name[SIM_PATH_MAX], text[32];
	bool has_old;

	port_name(name, old, "");
	has_old = is_fifo_at(s->evtchn_dir, name);
	if (has_old && peer_names(s->evtchn_dir, old, remote, rport)) {
		port_name(name, old, ".peer");
		simfs_unlink(s->evtchn_dir, name);
		port_name(name, old, ".unbound");
		simfs_unlink(s->evtchn_dir, name);
		port_name(name, old, "");
		simfs_unlink(s->evtchn_dir, name);
		has_old = false;
	}
	port_name(name, rport, "");
	if (has_old || !is_fifo_at(rdir, name) ||
	    !peer_names(rdir, rport, s->base.self, old))
		return;
	snprintf(text, sizeof(text), "%u\n", s->base.self);
	port_name(name, rport, ".unbound");
	simfs_write(rdir, name, text, strlen(text), false);
	port_name(name, rport, ".peer");
	simfs_unlink(rdir, name);
}

/*
 * Adopting a port changes no file: the remote's cached FIFO of ours and
 * its .peer file stay valid (sim_evtchn_notify's cache keys on the .peer
 * file), and bytes written meanwhile wait in our FIFO as long as some
 * process kept it open (the notifier does, once it has notified).
 */
static int sim_evtchn_rebind(struct plat *p, unsigned int remote,
                             unsigned int remote_port, unsigned int old_port,
                             unsigned int *port)
{
	struct sim *s = to_sim(p);
	char rname[SIM_PATH_MAX], name[SIM_PATH_MAX];
	bool is_bound;
	int rdir, fd, err;

	if (remote > SIM_DOMID_MAX || remote_port == 0 ||
	    remote_port > SIM_PORT_MAX || old_port == 0 ||
	    old_port > SIM_PORT_MAX)
		return -EINVAL;
	err = evtchn_dir_open(s, remote, &rdir);
	if (err)
		return err == -ENOTDIR ? -ENOENT : err;
	port_name(rname, remote_port, "");
	port_name(name, old_port, "");
	is_bound = is_fifo_at(rdir, rname) && is_fifo_at(s->evtchn_dir, name) &&
	           peer_names(rdir, remote_port, s->base.self, old_port) &&
	           peer_names(s->evtchn_dir, old_port, remote, remote_port);
	if (!is_bound && !port_find(s, old_port))
		rebind_clear(s, rdir, remote, remote_port, old_port);
	close(rdir);
	if (!is_bound)
		return sim_evtchn_bind(p, remote, remote_port, port);
	if (!port_find(s, old_port)) {
		err = simfs_fifo_open(s->evtchn_dir, name, &fd);
		if (!err) {
			err = port_add(s, old_port, fd, true);
			if (err)
				close(fd);
		}
		if (err)
			return err;
	}
	*port = old_port;
	return 0;
}

/* Read and check our port's .peer file. */
static int peer_read(struct sim *s, unsigned int port, unsigned int *domid,
                     unsigned int *rport)
{
	char name[SIM_PATH_MAX], text[SIM_FILE_MAX];
	size_t len;
	int err;

	port_name(name, port, ".peer");
	err = simfs_read(s->evtchn_dir, name, text, sizeof(text), &len);
	if (!err)
		err = simfs_parse_peer(text, domid, rport);
	return err;
}

/*
 * Return remote port `rport` of `domid` to the unbound state for us, if
 * it is still bound to our `port` (best effort: the remote may be gone).
 */
static void peer_release(struct sim *s, unsigned int port, unsigned int domid,
                         unsigned int rport)
{
	char name[SIM_PATH_MAX], text[SIM_FILE_MAX];
	unsigned int d, rp;
	struct stat st;
	size_t len;
	int rdir;

	if (evtchn_dir_open(s, domid, &rdir))
		return;
	port_name(name, rport, ".peer");
	if (simfs_read(rdir, name, text, sizeof(text), &len) ||
	    simfs_parse_peer(text, &d, &rp) || d != s->base.self || rp != port)
		goto out;
	port_name(name, rport, "");
	if (fstatat(rdir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISFIFO(st.st_mode)) {
		snprintf(text, sizeof(text), "%u\n", s->base.self);
		port_name(name, rport, ".unbound");
		simfs_write(rdir, name, text, strlen(text), false);
	}
	port_name(name, rport, ".peer");
	simfs_unlink(rdir, name);
out:
	close(rdir);
}

static int sim_evtchn_unbind(struct plat *p, unsigned int port)
{
	struct sim *s = to_sim(p);
	char name[SIM_PATH_MAX];
	unsigned int domid, rport;

	if (!port_find(s, port))
		return -EINVAL;
	if (peer_read(s, port, &domid, &rport) == 0)
		peer_release(s, port, domid, rport);
	port_name(name, port, ".peer");
	simfs_unlink(s->evtchn_dir, name);
	port_name(name, port, ".unbound");
	simfs_unlink(s->evtchn_dir, name);
	port_forget(s, port);
	port_name(name, port, "");
	simfs_unlink(s->evtchn_dir, name);
	return 0;
}

static struct file_id file_id_of(const struct stat *st)
{
	return (struct file_id){st->st_dev, st->st_ino, st->st_size,
	                        st->st_ctim};
}

static bool is_same_file(const struct file_id *a, const struct file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->ctime.tv_sec == b->ctime.tv_sec &&
	       a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/*
 * Check port `port`'s .peer by path and (re)open the remote FIFO it
 * names if the file is not the one peer_fd was opened from.
 */
static int peer_check(struct sim *s, unsigned int port)
{
	struct sim_port *sp = &s->ports[port];
	char name[SIM_PATH_MAX];
	unsigned int domid, rport;
	struct file_id id;
	struct stat st;
	int rdir, fd, err;

	s->counters.peer_checks++;
	port_name(name, port, ".peer");
	if (fstatat(s->evtchn_dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		err = errno == ENOENT ? -ENOTCONN : -errno;
		peer_drop(s, port);
		return err;
	}
	id = file_id_of(&st);
	if (sp->peer_fd >= 0 && is_same_file(&id, &sp->peer_id)) {
		sp->is_fresh = s->watch_fd >= 0;
		return 0;
	}
	peer_drop(s, port);
	err = peer_read(s, port, &domid, &rport);
	if (err)
		return err == -ENOENT ? -ENOTCONN : err;
	err = evtchn_dir_open(s, domid, &rdir);
	if (!err) {
		port_name(name, rport, "");
		err = simfs_fifo_open(rdir, name, &fd);
		close(rdir);
	}
	if (err)
		return err == -ENOENT || err == -ENOTDIR ? -ENOTCONN : err;
	peer_keep(s, port, fd);
	sp->peer_id = id;
	sp->is_fresh = s->watch_fd >= 0;
	return 0;
}

static int sim_evtchn_notify(struct plat *p, unsigned int port)
{
	struct sim *s = to_sim(p);
	struct sim_port *sp = port_find(s, port);
	int err;

	if (!sp)
		return -EINVAL;
	if (sp->peer_fd < 0 || !sp->is_fresh) {
		err = peer_check(s, port);
		if (err)
			return err;
	}
	lru_touch(s, port);
	return simfs_fifo_poke(sp->peer_fd);
}

/* Every cached remote FIFO needs a look at its .peer again. */
static void peers_stale(struct sim *s)
{
	for (unsigned int i = s->lru_head; i; i = s->ports[i].lru_next)
		s->ports[i].is_fresh = false;
}

/* Stop watching: back to a look at .peer per notify. */
static void watch_stop(struct sim *s)
{
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->watch_fd, NULL);
	close(s->watch_fd);
	s->watch_fd = -1;
	peers_stale(s);
}

/*
 * Creating, removing or replacing <P>, <P>.peer (or <P>.unbound) in our
 * evtchn directory: link and rename of the atomic writes, unlink, and
 * in-place writes by hand.  Temporary files wake us too (names that are
 * not a port number are ignored).
 */
#define WATCH_MASK                                                             \
	(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |                 \
	 IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

/* Made when the evtchn fd is first asked for: its user polls it. */
static void watch_start(struct sim *s)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = WATCH_TAG};
	char proc[64];
	int fd;

	s->is_watch_tried = true;
	if (s->base.self != 0)
		return;
	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0)
		return; /* EMFILE: the per-user instances are used up */
	/* Through our O_NOFOLLOW descriptor: no path is looked up again. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", s->evtchn_dir);
	if (inotify_add_watch(fd, proc, WATCH_MASK) < 0 ||
	    epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		return;
	}
	s->watch_fd = fd;
	/* Changes before the watch existed were never seen. */
	peers_stale(s);
}

/* Port `port`'s cache, if any, needs a look at its .peer. */
static void port_stale(struct sim *s, const char *name)
{
	unsigned int port = 0;

	for (; *name >= '0' && *name <= '9' && port <= SIM_PORT_MAX; name++)
		port = port * 10 + (unsigned int)(*name - '0');
	if (port > 0 && port < s->nports)
		s->ports[port].is_fresh = false;
}

/* Read the inotify events pending on the watch. */
static void watch_read(struct sim *s)
{
	char buf[4096]
	    __attribute__((aligned(__alignof__(struct inotify_event))));

	for (;;) {
		ssize_t n = read(s->watch_fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		for (char *q = buf; q < buf + n;) {
			const struct inotify_event *e = (const void *)q;

			if (e->mask & (IN_IGNORED | IN_DELETE_SELF |
			               IN_MOVE_SELF | IN_UNMOUNT)) {
				watch_stop(s); /* the directory went */
				return;
			}
			if (e->mask & IN_Q_OVERFLOW)
				peers_stale(s);
			else if (e->len)
				port_stale(s, e->name);
			q += sizeof(*e) + e->len;
		}
		if ((size_t)n <
		    sizeof(buf) - sizeof(struct inotify_event) - NAME_MAX - 1)
			return; /* that was all */
	}
}

static int sim_evtchn_fd(struct plat *p)
{
	struct sim *s = to_sim(p);

	if (!s->is_watch_tried)
		watch_start(s);
	return s->epfd;
}

/*
 * One epoll_wait serves up to READY_MAX calls: its ready ports are
 * returned one per call, each FIFO read when its port is returned (so
 * the epoll fd stays readable for the ports not yet returned).  The
 * watch is read before any port of a batch: a batch shorter than
 * READY_MAX lists every ready fd, the watch's included if ready; a full
 * one may have left it out, so it is read anyway.
 */
static int sim_evtchn_pending(struct plat *p, unsigned int *port)
{
	struct sim *s = to_sim(p);
	bool has_waited = false;

	for (;;) {
		struct sim_port *sp;
		unsigned int lp;
		int n;

		if (s->ready_next == s->nready) {
			bool has_news = false;

			/* One epoll_wait per call at most: ports that fired
			 * after it come with the next call. */
			if (has_waited)
				return -EAGAIN;
			has_waited = true;
			s->nready = s->ready_next = 0;
			n = epoll_wait(s->epfd, s->ready, READY_MAX, 0);
			if (n < 0)
				return errno == EINTR ? -EAGAIN : -errno;
			if (n == 0)
				return -EAGAIN;
			s->nready = (unsigned int)n;
			for (int i = 0; i < n; i++)
				has_news |= s->ready[i].data.u32 == WATCH_TAG;
			if (s->watch_fd >= 0 && (has_news || n == READY_MAX))
				watch_read(s);
		}
		lp = s->ready[s->ready_next++].data.u32;
		sp = lp == WATCH_TAG ? NULL : port_find(s, lp);
		/* Gone since the epoll_wait, or drained meanwhile. */
		if (sp && simfs_fifo_take(sp->fd)) {
			*port = lp;
			return 0;
		}
	}
}

/* ---- test hooks (plat_int.h) ---- */

void sim_get_counters(struct plat *p, struct sim_counters *out)
{
	*out = to_sim(p)->counters;
}

void sim_set_peer_fds_max(struct plat *p, unsigned int max)
{
	struct sim *s = to_sim(p);

	s->peer_fds_max = max ? max : 1;
	while (s->npeer_fds > s->peer_fds_max)
		peer_drop(s, s->lru_tail);
}

/* ---- domains ---- */

static int dom_dir_open(struct sim *s, unsigned int domid, int *dir)
{
	char rel[SIM_PATH_MAX];
	int err;

	if (domid > SIM_DOMID_MAX)
		return -EINVAL;
	simfs_path(rel, "dom%u", domid);
	err = simfs_dir_open(s->root, rel, dir);
	return err == -ENOTDIR ? -ENOENT : err;
}

static int sim_domain_state(struct plat *p, unsigned int domid,
                            enum plat_dom_state *out)
{
	char text[SIM_FILE_MAX];
	size_t len;
	int dir, err;

	err = dom_dir_open(to_sim(p), domid, &dir);
	if (err)
		return err;
	err = simfs_read(dir, "state", text, sizeof(text), &len);
	close(dir);
	if (!err)
		err = simfs_parse_state(text, out);
	return err;
}

/*
 * A guest learns of its own state changes from the directory that holds
 * the state file, not from virq-dom-exc: that FIFO has one reader (the
 * daemon), which must not lose its bytes to guests.  The state file is
 * replaced by rename (IN_MOVED_TO; IN_CLOSE_WRITE for a careless writer)
 * and the directory goes away when the domain does (IN_*_SELF).  Other
 * names in the directory may wake the fd too: a reader re-reads the
 * state, as the daemon does for any domain on VIRQ_DOM_EXC.  Made on
 * first use: inotify instances are few per user (128 by default), and
 * most guest processes never ask.
 */
static int guest_exc_open(struct sim *s)
{
	char proc[64];
	int dir, fd, err;

	err = dom_dir_open(s, s->base.self, &dir);
	if (err)
		return err;
	fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		close(dir);
		return err;
	}
	/* Through our O_NOFOLLOW descriptor: no path is looked up again. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", dir);
	if (inotify_add_watch(fd, proc,
	                      IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE_SELF |
	                          IN_MOVE_SELF | IN_ONLYDIR) < 0) {
		err = -errno;
		close(fd);
		close(dir);
		return err;
	}
	close(dir);
	s->exc_fd = fd;
	return 0;
}

static int sim_domain_exc_fd(struct plat *p)
{
	struct sim *s = to_sim(p);
	int err;

	if (s->exc_fd < 0 && p->self != 0) {
		err = guest_exc_open(s);
		if (err)
			return err;
	}
	return s->exc_fd >= 0 ? s->exc_fd : -EPERM;
}

static int sim_domain_exc_ack(struct plat *p, struct plat_exc *out)
{
	/* Large enough for any inotify event (name up to NAME_MAX). */
	char buf[4096] __attribute__((aligned(8)));
	struct sim *s = to_sim(p);

	if (s->exc_fd < 0)
		return p->self != 0 ? 0 : -EPERM; /* a guest: nothing yet */
	if (p->self == 0) {
		simfs_exc_take(s->exc_fd, out);
		return 0;
	}
	for (;;) {
		ssize_t n = read(s->exc_fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
	}
}

static int read_start_info(struct sim *s, unsigned int domid,
                           struct plat_start_info *out)
{
	char text[SIM_FILE_MAX];
	size_t len;
	int dir, err;

	err = dom_dir_open(s, domid, &dir);
	if (err)
		return err;
	err = simfs_read(dir, "start-info", text, sizeof(text), &len);
	close(dir);
	if (!err)
		err = simfs_parse_start_info(text, out);
	return err;
}

static int sim_start_info(struct plat *p, unsigned int domid,
                          struct plat_start_info *out)
{
	if (p->self != 0 && domid != p->self)
		return -EPERM;
	return read_start_info(to_sim(p), domid, out);
}

/* ---- pages and grants ---- */

/*
 * A mapping of n pages: one reservation of address space with each
 * page's file mapped over it (MAP_FIXED), so a multi-page ring is
 * contiguous although its frames are separate files.  A mapping made
 * through grants keeps one held grant file per page (simfs_grant_hold):
 * the granter sees it as mapped until we unmap, close, or die.
 */
static void map_release(struct sim_map *m)
{
	munmap(m->addr, (size_t)m->n * PLAT_PAGE_SIZE);
	for (unsigned int i = 0; m->holds && i < m->n; i++) {
		if (m->holds[i])
			munmap(m->holds[i], PLAT_PAGE_SIZE);
	}
	free(m->holds);
	*m = (struct sim_map){0};
}

static int map_track(struct sim *s, const struct sim_map *m)
{
	if (s->nmaps == s->maps_cap) {
		size_t n = s->maps_cap ? 2 * s->maps_cap : 8;
		struct sim_map *t = realloc(s->maps, n * sizeof(*t));

		if (!t)
			return -ENOMEM;
		s->maps = t;
		s->maps_cap = n;
	}
	s->maps[s->nmaps++] = *m;
	return 0;
}

/* Map frames gfns[0..n) of domain `domid` contiguously into m->addr. */
static int map_frames(struct sim *s, unsigned int domid, const uint64_t *gfns,
                      bool is_writable, struct sim_map *m)
{
	char rel[SIM_PATH_MAX], name[SIM_PATH_MAX];
	size_t len = (size_t)m->n * PLAT_PAGE_SIZE;
	void *base, *a;
	int dir, err = 0;

	if (domid > SIM_DOMID_MAX)
		return -EINVAL;
	for (unsigned int i = 0; i < m->n; i++) {
		if (gfns[i] > SIM_GFN_MAX)
			return -EINVAL;
	}
	simfs_path(rel, "dom%u/page", domid);
	err = simfs_dir_open(s->root, rel, &dir);
	if (err)
		return err == -ENOTDIR ? -ENOENT : err;
	base = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED) {
		close(dir);
		return -errno;
	}
	for (unsigned int i = 0; i < m->n && !err; i++) {
		simfs_path(name, "%llu", (unsigned long long)gfns[i]);
		err = simfs_page_map(dir, name, is_writable,
		                     (char *)base + (size_t)i * PLAT_PAGE_SIZE,
		                     &a);
	}
	close(dir);
	if (err)
		munmap(base, len);
	else
		m->addr = base;
	return err;
}

/* map_frames, then track the mapping (released on failure). */
static int map_add(struct sim *s, unsigned int domid, const uint64_t *gfns,
                   bool is_writable, struct sim_map *m, void **addr)
{
	int err = map_frames(s, domid, gfns, is_writable, m);

	if (!err)
		err = map_track(s, m);
	if (err) {
		map_release(m);
		return err;
	}
	*addr = m->addr;
	return 0;
}

/* Hold grant `ref` of the domain whose grant dir is `dir`; *gfn. */
static int grant_hold(struct sim *s, int dir, uint32_t ref, bool is_writable,
                      uint64_t *gfn, int *lock)
{
	char name[SIM_PATH_MAX], text[SIM_FILE_MAX];
	unsigned int grantee;
	bool can_write;
	int err;

	if (ref == 0 || ref > SIM_GRANT_MAX)
		return -EINVAL;
	simfs_path(name, "%u", ref);
	err = simfs_grant_hold(dir, name, text, sizeof(text), lock);
	if (err)
		return err;
	if (simfs_parse_grant(text, gfn, &grantee, &can_write))
		err = -EINVAL;
	else if (grantee != s->base.self || (is_writable && !can_write))
		err = -EACCES;
	if (err) {
		close(*lock);
		*lock = -1;
	}
	return err;
}

/* Keep grant file `lock`'s open file (and lock) alive in a mapping. */
static int hold_map(int lock, void **hold)
{
	void *h = mmap(NULL, PLAT_PAGE_SIZE, PROT_NONE, MAP_SHARED, lock, 0);

	if (h == MAP_FAILED)
		return -errno;
	madvise(h, PLAT_PAGE_SIZE, MADV_DONTFORK); /* a child holds none */
	*hold = h;
	return 0;
}

static int sim_map_grants(struct plat *p, unsigned int domid,
                          const uint32_t *refs, unsigned int n,
                          bool is_writable, void **addr)
{
	struct sim *s = to_sim(p);
	struct sim_map m = {.n = n};
	char rel[SIM_PATH_MAX];
	uint64_t *gfns;
	int *locks;
	int dir, err = 0;

	if (domid > SIM_DOMID_MAX)
		return -EINVAL;
	gfns = calloc(n, sizeof(*gfns));
	locks = malloc(n * sizeof(*locks));
	m.holds = calloc(n, sizeof(*m.holds));
	if (!gfns || !locks || !m.holds) {
		err = -ENOMEM;
		goto out;
	}
	for (unsigned int i = 0; i < n; i++)
		locks[i] = -1;
	simfs_path(rel, "dom%u/grant", domid);
	err = simfs_dir_open(s->root, rel, &dir);
	if (err) {
		err = err == -ENOTDIR ? -ENOENT : err;
		goto out;
	}
	for (unsigned int i = 0; i < n && !err; i++)
		err = grant_hold(s, dir, refs[i], is_writable, &gfns[i],
		                 &locks[i]);
	close(dir);
	for (unsigned int i = 0; i < n && !err; i++)
		err = hold_map(locks[i], &m.holds[i]);
	if (!err) {
		err = map_add(s, domid, gfns, is_writable, &m, addr);
		m.holds = NULL; /* map_add owns them now */
	}
out:
	for (unsigned int i = 0; m.holds && i < n; i++) {
		if (m.holds[i])
			munmap(m.holds[i], PLAT_PAGE_SIZE);
	}
	for (unsigned int i = 0; locks && i < n; i++) {
		if (locks[i] >= 0)
			close(locks[i]);
	}
	free(locks);
	free(m.holds);
	free(gfns);
	return err;
}

static int sim_map_foreign(struct plat *p, unsigned int domid, uint64_t gfn,
                           void **addr)
{
	struct sim_map m = {.n = 1};

	*addr = NULL;
	if (p->self != 0)
		return -EPERM;
	return map_add(to_sim(p), domid, &gfn, true, &m, addr);
}

static int sim_map_own_pages(struct plat *p, const uint64_t *gfns,
                             unsigned int n, void **addr)
{
	struct sim_map m = {.n = n};

	return map_add(to_sim(p), p->self, gfns, true, &m, addr);
}

static void sim_unmap(struct plat *p, void *addr)
{
	struct sim *s = to_sim(p);

	for (size_t i = 0; i < s->nmaps; i++) {
		if (s->maps[i].addr == addr) {
			map_release(&s->maps[i]);
			s->maps[i] = s->maps[--s->nmaps];
			return;
		}
	}
}

static int sim_grant(struct plat *p, uint64_t gfn, unsigned int grantee,
                     bool is_writable, uint32_t *ref)
{
	struct sim *s = to_sim(p);
	char name[SIM_PATH_MAX], text[64];
	struct stat st;
	uint32_t r;
	int err;

	if (gfn > SIM_GFN_MAX || grantee > SIM_DOMID_MAX ||
	    *ref > SIM_GRANT_MAX)
		return -EINVAL;
	simfs_path(name, "%llu", (unsigned long long)gfn);
	if (fstatat(s->page_dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(st.st_mode))
		return -ENOENT;
	snprintf(text, sizeof(text), "%llu %u %s\n", (unsigned long long)gfn,
	         grantee, is_writable ? "rw" : "ro");
	if (*ref) {
		simfs_path(name, "%u", *ref);
		return simfs_write(s->grant_dir, name, text, strlen(text),
		                   true);
	}
	r = s->grant_next;
	for (uint32_t i = SIM_GRANT_FIRST; i <= SIM_GRANT_MAX; i++) {
		simfs_path(name, "%u", r);
		err = simfs_write(s->grant_dir, name, text, strlen(text), true);
		if (!err) {
			*ref = r;
			s->grant_next =
			    r < SIM_GRANT_MAX ? r + 1 : SIM_GRANT_FIRST;
			return 0;
		}
		if (err != -EEXIST)
			return err;
		r = r < SIM_GRANT_MAX ? r + 1 : SIM_GRANT_FIRST;
	}
	return -ENOSPC;
}

static int sim_ungrant(struct plat *p, uint32_t ref)
{
	char name[SIM_PATH_MAX];

	if (ref == 0 || ref > SIM_GRANT_MAX)
		return -EINVAL;
	simfs_path(name, "%u", ref);
	return simfs_grant_end(to_sim(p)->grant_dir, name);
}

static int sim_alloc_page(struct plat *p, uint64_t *gfn)
{
	static const char zero[PLAT_PAGE_SIZE];
	struct sim *s = to_sim(p);
	char name[SIM_PATH_MAX];
	uint64_t g = s->gfn_next;

	for (uint32_t i = 0; i < SIM_PAGES_MAX; i++) {
		int err;

		simfs_path(name, "%llu", (unsigned long long)g);
		err = simfs_write(s->page_dir, name, zero, sizeof(zero), true);
		if (!err) {
			*gfn = g;
			s->gfn_next = g + 1;
			return 0;
		}
		if (err != -EEXIST)
			return err;
		g = g + 1 < SIM_GFN_FIRST + SIM_PAGES_MAX ? g + 1
		                                          : SIM_GFN_FIRST;
	}
	return -ENOMEM;
}

/* Does some grant of ours name frame `gfn`?  Garbage grants do not. */
static int grant_names_frame(struct sim *s, uint64_t gfn, bool *is_granted)
{
	char text[SIM_FILE_MAX];
	struct dirent *e;
	unsigned int grantee;
	bool can_write;
	uint64_t ref, g;
	size_t len;
	DIR *d;
	int fd;

	*is_granted = false;
	fd = dup(s->grant_dir);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	rewinddir(d); /* the dup shares its offset with earlier scans */
	while (!*is_granted && (e = readdir(d))) {
		if (simfs_parse_name_num(e->d_name, 1, SIM_GRANT_MAX, &ref) ||
		    simfs_read(s->grant_dir, e->d_name, text, sizeof(text),
		               &len) ||
		    simfs_parse_grant(text, &g, &grantee, &can_write))
			continue;
		*is_granted = g == gfn;
	}
	closedir(d);
	return 0;
}

/*
 * Refuses while a grant names the frame, as Xen keeps a granted frame
 * from going back to the allocator.  The scan is not atomic with the
 * unlink: the domain's own processes must not grant a frame they free.
 */
static int sim_free_page(struct plat *p, uint64_t gfn)
{
	struct sim *s = to_sim(p);
	char name[SIM_PATH_MAX];
	bool is_granted;
	struct stat st;
	int err;

	if (gfn > SIM_GFN_MAX)
		return -EINVAL;
	simfs_path(name, "%llu", (unsigned long long)gfn);
	if (fstatat(s->page_dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(st.st_mode))
		return -ENOENT;
	err = grant_names_frame(s, gfn, &is_granted);
	if (err)
		return err;
	if (is_granted)
		return -EBUSY;
	if (unlinkat(s->page_dir, name, 0) < 0)
		return errno == ENOENT ? -ENOENT : -errno;
	return 0;
}

/* ---- open and close ---- */

static void sim_close(struct plat *p)
{
	struct sim *s = to_sim(p);

	for (unsigned int i = 1; i < s->nports; i++) {
		if (s->ports[i].fd < 0)
			continue;
		if (s->ports[i].is_owned)
			sim_evtchn_unbind(p, i);
		else
			port_forget(s, i);
	}
	while (s->nmaps)
		sim_unmap(p, s->maps[0].addr);
	free(s->maps);
	free(s->ports);
	if (s->watch_fd >= 0)
		close(s->watch_fd);
	if (s->exc_fd >= 0)
		close(s->exc_fd);
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->grant_dir >= 0)
		close(s->grant_dir);
	if (s->page_dir >= 0)
		close(s->page_dir);
	if (s->evtchn_dir >= 0)
		close(s->evtchn_dir);
	if (s->root >= 0)
		close(s->root);
	free(s);
}

/* A guest listens on its store port, made by the domain builder. */
static int adopt_store_port(struct sim *s)
{
	struct plat_start_info si;
	char name[SIM_PATH_MAX];
	int fd, err;

	if (read_start_info(s, s->base.self, &si))
		return 0; /* no (valid) start info: nothing to adopt */
	port_name(name, si.store_evtchn, "");
	if (simfs_fifo_open(s->evtchn_dir, name, &fd))
		return 0;
	err = port_add(s, si.store_evtchn, fd, false);
	if (err)
		close(fd);
	return err;
}

static int open_self_dirs(struct sim *s)
{
	static const char *const sub[] = {"evtchn", "page", "grant"};
	int *fds[] = {&s->evtchn_dir, &s->page_dir, &s->grant_dir};
	char rel[SIM_PATH_MAX];

	for (size_t i = 0; i < 3; i++) {
		int err;

		simfs_path(rel, "dom%u/%s", s->base.self, sub[i]);
		err = simfs_dir_open(s->root, rel, fds[i]);
		if (err)
			return err == -ENOTDIR ? -ENOENT : err;
	}
	return 0;
}

/*
 * Room for the rest of the process: the daemon holds one FIFO of its own
 * per guest and a connection per client besides the remote FIFOs.
 */
static unsigned int peer_fds_default(void)
{
	struct rlimit rl;
	rlim_t n;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return PEER_FDS_MAX;
	n = rl.rlim_cur / 16;
	return n < PEER_FDS_MIN   ? PEER_FDS_MIN
	       : n > PEER_FDS_MAX ? PEER_FDS_MAX
	                          : (unsigned int)n;
}

int sim_open(const char *dir, unsigned int self, unsigned int flags,
             struct plat **out)
{
	struct sim *s;
	int err;

	*out = NULL;
	if (!dir || !*dir || self > SIM_DOMID_MAX)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->base.ops = &sim_ops;
	s->base.self = self;
	s->evtchn_dir = s->page_dir = s->grant_dir = -1;
	s->epfd = s->exc_fd = s->watch_fd = -1;
	s->peer_fds_max = peer_fds_default();
	s->grant_next = SIM_GRANT_FIRST;
	s->gfn_next = SIM_GFN_FIRST;
	s->root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->root < 0) {
		err = -errno;
		goto fail;
	}
	if (self == 0) {
		err = simfs_ensure_dom0(s->root);
		if (!err)
			err = simfs_fifo_open(s->root, SIM_VIRQ_DOM_EXC,
			                      &s->exc_fd);
		if (err)
			goto fail;
	}
	err = open_self_dirs(s);
	if (err)
		goto fail;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0) {
		err = -errno;
		goto fail;
	}
	if (self != 0 && !(flags & PLAT_OPEN_NO_STORE_PORT)) {
		err = adopt_store_port(s);
		if (err)
			goto fail;
	}
	*out = &s->base;
	return 0;
fail:
	sim_close(&s->base);
	return err;
}

static const struct plat_ops sim_ops = {
    .name = "sim",
    .close = sim_close,
    .domain_state = sim_domain_state,
    .domain_exc_fd = sim_domain_exc_fd,
    .domain_exc_ack = sim_domain_exc_ack,
    .start_info = sim_start_info,
    .map_grants = sim_map_grants,
    .map_foreign = sim_map_foreign,
    .map_own_pages = sim_map_own_pages,
    .unmap = sim_unmap,
    .grant = sim_grant,
    .ungrant = sim_ungrant,
    .alloc_page = sim_alloc_page,
    .free_page = sim_free_page,
    .evtchn_alloc_unbound = sim_evtchn_alloc_unbound,
    .evtchn_bind = sim_evtchn_bind,
    .evtchn_rebind = sim_evtchn_rebind,
    .evtchn_unbind = sim_evtchn_unbind,
    .evtchn_notify = sim_evtchn_notify,
    .evtchn_fd = sim_evtchn_fd,
    .evtchn_pending = sim_evtchn_pending,
};
