/*
 * plat.c - choosing a platform implementation from a spec string.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plat/plat.h"
#include "plat/plat_int.h"

int plat_open(const char *spec, unsigned int self, struct plat **out)
{
	return plat_open_flags(spec, self, 0, out);
}

int plat_open_flags(const char *spec, unsigned int self, unsigned int flags,
                    struct plat **out)
{
	const char *dir;

	*out = NULL;
	if (flags & ~PLAT_OPEN_NO_STORE_PORT)
		return -EINVAL;
	if (!spec || !strcmp(spec, "sim")) {
		dir = getenv("XSIM_DIR");
		return sim_open(dir && *dir ? dir : SIM_DEFAULT_DIR, self,
		                flags, out);
	}
	if (!strncmp(spec, "sim:", 4))
		return sim_open(spec + 4, self, flags, out);
	/* Xen's plat never listens on a store port: the flag changes
	 * nothing there. */
	if (!strcmp(spec, "xen"))
		return xen_open(self, out);
	return -EINVAL;
}

#ifndef XSTORE_HAVE_XEN
int xen_open(unsigned int self, struct plat **out)
{
	(void)self;
	*out = NULL;
	return -ENOTSUP;
}
#endif

void plat_close(struct plat *p)
{
	if (p)
		p->ops->close(p);
}

unsigned int plat_self(const struct plat *p)
{
	return p->self;
}

const char *plat_name(const struct plat *p)
{
	return p->ops->name;
}

int plat_domain_state(struct plat *p, unsigned int domid,
                      enum plat_dom_state *out)
{
	return p->ops->domain_state(p, domid, out);
}

int plat_domain_exc_fd(struct plat *p)
{
	return p->ops->domain_exc_fd(p);
}

int plat_domain_exc_ack(struct plat *p, struct plat_exc *changed)
{
	struct plat_exc ignored = {.is_all = true};
	struct plat_exc *out = changed ? changed : &ignored;

	/* What an implementation that cannot tell leaves. */
	out->is_all = true;
	out->n = 0;
	return p->ops->domain_exc_ack(p, out);
}

int plat_start_info(struct plat *p, unsigned int domid,
                    struct plat_start_info *out)
{
	return p->ops->start_info(p, domid, out);
}

int plat_map_grant(struct plat *p, unsigned int domid, uint32_t ref,
                   bool is_writable, void **addr)
{
	return p->ops->map_grants(p, domid, &ref, 1, is_writable, addr);
}

int plat_map_grants(struct plat *p, unsigned int domid, const uint32_t *refs,
                    unsigned int n, bool is_writable, void **addr)
{
	*addr = NULL;
	if (n == 0 || n > PLAT_MAP_PAGES_MAX)
		return -EINVAL;
	return p->ops->map_grants(p, domid, refs, n, is_writable, addr);
}

int plat_map_foreign(struct plat *p, unsigned int domid, uint64_t gfn,
                     void **addr)
{
	return p->ops->map_foreign(p, domid, gfn, addr);
}

int plat_map_own(struct plat *p, uint64_t gfn, void **addr)
{
	return p->ops->map_own_pages(p, &gfn, 1, addr);
}

int plat_map_own_pages(struct plat *p, const uint64_t *gfns, unsigned int n,
                       void **addr)
{
	*addr = NULL;
	if (n == 0 || n > PLAT_MAP_PAGES_MAX)
		return -EINVAL;
	return p->ops->map_own_pages(p, gfns, n, addr);
}

void plat_unmap(struct plat *p, void *addr)
{
	if (addr)
		p->ops->unmap(p, addr);
}

int plat_grant(struct plat *p, uint64_t gfn, unsigned int grantee,
               bool is_writable, uint32_t *ref)
{
	return p->ops->grant(p, gfn, grantee, is_writable, ref);
}

int plat_ungrant(struct plat *p, uint32_t ref)
{
	return p->ops->ungrant(p, ref);
}

int plat_alloc_page(struct plat *p, uint64_t *gfn)
{
	return p->ops->alloc_page(p, gfn);
}

int plat_free_page(struct plat *p, uint64_t gfn)
{
	return p->ops->free_page(p, gfn);
}

int plat_evtchn_alloc_unbound(struct plat *p, unsigned int remote,
                              unsigned int *port)
{
	return p->ops->evtchn_alloc_unbound(p, remote, port);
}

int plat_evtchn_bind(struct plat *p, unsigned int remote,
                     unsigned int remote_port, unsigned int *port)
{
	return p->ops->evtchn_bind(p, remote, remote_port, port);
}

int plat_evtchn_rebind(struct plat *p, unsigned int remote,
                       unsigned int remote_port, unsigned int old_port,
                       unsigned int *port)
{
	if (old_port == 0)
		return -EINVAL;
	if (!p->ops->evtchn_rebind)
		return p->ops->evtchn_bind(p, remote, remote_port, port);
	return p->ops->evtchn_rebind(p, remote, remote_port, old_port, port);
}

int plat_evtchn_unbind(struct plat *p, unsigned int port)
{
	return p->ops->evtchn_unbind(p, port);
}

int plat_evtchn_notify(struct plat *p, unsigned int port)
{
	return p->ops->evtchn_notify(p, port);
}

int plat_evtchn_fd(struct plat *p)
{
	return p->ops->evtchn_fd(p);
}

int plat_evtchn_pending(struct plat *p, unsigned int *port)
{
	return p->ops->evtchn_pending(p, port);
}
