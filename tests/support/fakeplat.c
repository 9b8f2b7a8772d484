/*
 * fakeplat.c - the in-memory platform of fakeplat.h: a table of domains
 * and their pages behind plat_int.h's operations.  It never maps,
 * allocates pages or opens fds: the guest side (grants, own pages) and
 * the pollable fds answer -ENOTSUP, which the daemon only asks for at
 * plat_open time, and a fake plat is handed to it after daemon_init.
 */
#include <errno.h>
#include <stdlib.h>

#include "plat/plat_int.h"
#include "tests/support/fakeplat.h"

struct fakedom {
	void *page;         /* NULL: no such domain */
	bool is_mapped;     /* the daemon holds the page */
	bool is_bound;      /* the daemon's port is bound */
	unsigned long sent; /* notifies to the guest */
};

struct fakeplat {
	struct plat base; /* first: plat.c's view */
	struct fakedom dom[FAKEPLAT_DOMS];
};

static struct fakeplat *fp(struct plat *p)
{
	return (struct fakeplat *)p;
}

static struct fakedom *dom_of(struct plat *p, unsigned int domid)
{
	if (domid == 0 || domid >= FAKEPLAT_DOMS || !fp(p)->dom[domid].page)
		return NULL;
	return &fp(p)->dom[domid];
}

static struct fakedom *dom_of_port(struct plat *p, unsigned int port)
{
	if (port < FAKEPLAT_PORT_BASE)
		return NULL;
	return dom_of(p, port - FAKEPLAT_PORT_BASE);
}

static void fk_close(struct plat *p)
{
	free(p);
}

static int fk_domain_state(struct plat *p, unsigned int domid,
                           enum plat_dom_state *out)
{
	if (domid != 0 && !dom_of(p, domid))
		return -ENOENT;
	*out = PLAT_DOM_RUNNING;
	return 0;
}

static int fk_no_fd(struct plat *p)
{
	return -ENOTSUP;
}

static int fk_exc_ack(struct plat *p, struct plat_exc *out)
{
	return -ENOTSUP;
}

static int fk_start_info(struct plat *p, unsigned int domid,
                         struct plat_start_info *out)
{
	if (!dom_of(p, domid))
		return -ENOENT;
	out->store_gfn = domid;
	out->store_evtchn = 1;
	return 0;
}

static int fk_map_grants(struct plat *p, unsigned int domid,
                         const uint32_t *refs, unsigned int n, bool is_writable,
                         void **addr)
{
	struct fakedom *fd = dom_of(p, domid);

	if (!fd || n != 1 || refs[0] != PLAT_GRANT_XENSTORE)
		return -ENOENT;
	fd->is_mapped = true;
	*addr = fd->page;
	return 0;
}

static int fk_map_foreign(struct plat *p, unsigned int domid, uint64_t gfn,
                          void **addr)
{
	return -ENOENT;
}

static int fk_map_own_pages(struct plat *p, const uint64_t *gfns,
                            unsigned int n, void **addr)
{
	return -ENOTSUP;
}

static void fk_unmap(struct plat *p, void *addr)
{
	for (unsigned int i = 1; i < FAKEPLAT_DOMS; i++)
		if (fp(p)->dom[i].page == addr)
			fp(p)->dom[i].is_mapped = false;
}

static int fk_grant(struct plat *p, uint64_t gfn, unsigned int grantee,
                    bool is_writable, uint32_t *ref)
{
	return -ENOTSUP;
}

static int fk_ungrant(struct plat *p, uint32_t ref)
{
	return -ENOTSUP;
}

static int fk_alloc_page(struct plat *p, uint64_t *gfn)
{
	return -ENOTSUP;
}

static int fk_free_page(struct plat *p, uint64_t gfn)
{
	return -ENOTSUP;
}

static int fk_alloc_unbound(struct plat *p, unsigned int remote,
                            unsigned int *port)
{
	return -ENOTSUP;
}

static int fk_bind(struct plat *p, unsigned int remote,
                   unsigned int remote_port, unsigned int *port)
{
	struct fakedom *fd = dom_of(p, remote);

	if (!fd)
		return -ENOENT;
	if (fd->is_bound)
		return -EBUSY;
	fd->is_bound = true;
	*port = remote + FAKEPLAT_PORT_BASE;
	return 0;
}

static int fk_unbind(struct plat *p, unsigned int port)
{
	struct fakedom *fd = dom_of_port(p, port);

	if (!fd || !fd->is_bound)
		return -EINVAL;
	fd->is_bound = false;
	return 0;
}

static int fk_notify(struct plat *p, unsigned int port)
{
	struct fakedom *fd = dom_of_port(p, port);

	if (!fd || !fd->is_bound)
		return -EINVAL;
	fd->sent++;
	return 0;
}

static int fk_pending(struct plat *p, unsigned int *port)
{
	return -EAGAIN;
}

static const struct plat_ops fake_ops = {
    .name = "fake",
    .close = fk_close,
    .domain_state = fk_domain_state,
    .domain_exc_fd = fk_no_fd,
    .domain_exc_ack = fk_exc_ack,
    .start_info = fk_start_info,
    .map_grants = fk_map_grants,
    .map_foreign = fk_map_foreign,
    .map_own_pages = fk_map_own_pages,
    .unmap = fk_unmap,
    .grant = fk_grant,
    .ungrant = fk_ungrant,
    .alloc_page = fk_alloc_page,
    .free_page = fk_free_page,
    .evtchn_alloc_unbound = fk_alloc_unbound,
    .evtchn_bind = fk_bind,
    .evtchn_unbind = fk_unbind,
    .evtchn_notify = fk_notify,
    .evtchn_fd = fk_no_fd,
    .evtchn_pending = fk_pending,
};

int fakeplat_new(struct plat **out)
{
	/* Plain calloc: the platform is not the daemon's memory, and
	 * fault injection must not reach it. */
	struct fakeplat *f = calloc(1, sizeof(*f));

	*out = NULL;
	if (!f)
		return -ENOMEM;
	f->base.ops = &fake_ops;
	f->base.self = 0;
	*out = &f->base;
	return 0;
}

int fakeplat_set_domain(struct plat *p, unsigned int domid, void *page)
{
	if (domid == 0 || domid >= FAKEPLAT_DOMS)
		return -EINVAL;
	fp(p)->dom[domid].page = page;
	if (!page)
		fp(p)->dom[domid] = (struct fakedom){0};
	return 0;
}

unsigned long fakeplat_notifies(const struct plat *p, unsigned int domid)
{
	const struct fakeplat *f = (const struct fakeplat *)p;

	return domid < FAKEPLAT_DOMS ? f->dom[domid].sent : 0;
}

bool fakeplat_is_mapped(const struct plat *p, unsigned int domid)
{
	const struct fakeplat *f = (const struct fakeplat *)p;

	return domid < FAKEPLAT_DOMS && f->dom[domid].is_mapped;
}
