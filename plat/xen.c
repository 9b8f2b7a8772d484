/*
 * xen.c - the platform on a real Xen host, for the privileged domain
 * (the daemon, dom0 tools): domain state from libxenctrl, event channels
 * from libxenevtchn, grant maps from libxengnttab, foreign maps from
 * libxenctrl's compatibility call (no extra library to link).
 *
 * Built only when the Xen -dev headers exist (XSTORE_HAVE_XEN); compiled
 * in CI, never run there (no hypervisor).  Each call maps straight onto
 * one library call; errors are the library's errno.  VIRQ_DOM_EXC goes
 * on its own handle so that its fd is separate from the ports' fd, and
 * is bound on first use (a VIRQ can be bound only once in a domain).
 * The guest-side calls are not offered (-ENOTSUP).
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/mman.h>

#define XC_WANT_COMPAT_MAP_FOREIGN_API 1
#include <xenctrl.h>
#include <xenevtchn.h>
#include <xengnttab.h>

#include "plat/plat_int.h"

struct xen_map {
	void *addr;
	unsigned int n; /* pages */
	bool is_grant;  /* else foreign */
};

struct xen {
	struct plat base; /* first: plat.c casts */
	xc_interface *xch;
	xenevtchn_handle *xce;  /* our interdomain ports */
	xenevtchn_handle *virq; /* VIRQ_DOM_EXC; NULL until asked for */
	int virq_port;
	xengnttab_handle *xgt;
	struct xen_map *maps; /* live mappings */
	size_t nmaps, maps_cap;
};

static const struct plat_ops xen_ops;

static struct xen *to_xen(struct plat *p)
{
	return (struct xen *)p;
}

/* errno after a failed library call, never 0. */
static int lib_err(void)
{
	return errno ? -errno : -EIO;
}

static int xen_domain_state(struct plat *p, unsigned int domid,
                            enum plat_dom_state *out)
{
	xc_domaininfo_t info;
	int n;

	if (domid >= DOMID_FIRST_RESERVED)
		return -EINVAL;
	n = xc_domain_getinfolist(to_xen(p)->xch, domid, 1, &info);
	if (n < 0)
		return lib_err();
	if (n == 0 || info.domain != domid)
		return -ENOENT; /* the call gives the next domain up */
	if (info.flags & XEN_DOMINF_dying)
		*out = PLAT_DOM_DYING;
	else if ((info.flags & XEN_DOMINF_shutdown) &&
	         ((info.flags >> XEN_DOMINF_shutdownshift) &
	          XEN_DOMINF_shutdownmask) == SHUTDOWN_suspend)
		*out = PLAT_DOM_SUSPENDED;
	else if (info.flags & XEN_DOMINF_shutdown)
		*out = PLAT_DOM_SHUTDOWN;
	else
		*out = PLAT_DOM_RUNNING;
	return 0;
}

static int xen_domain_exc_fd(struct plat *p)
{
	struct xen *x = to_xen(p);
	int port;

	if (p->self != 0)
		return -EPERM;
	if (!x->virq) {
		x->virq = xenevtchn_open(NULL, 0);
		if (!x->virq)
			return lib_err();
		port = xenevtchn_bind_virq(x->virq, VIRQ_DOM_EXC);
		if (port < 0) {
			int err = lib_err();

			xenevtchn_close(x->virq);
			x->virq = NULL;
			return err;
		}
		x->virq_port = port;
	}
	return xenevtchn_fd(x->virq);
}

/* Is `fd` readable now? */
static bool is_readable(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

static int xen_domain_exc_ack(struct plat *p, struct plat_exc *out)
{
	struct xen *x = to_xen(p);
	int port;

	(void)out; /* VIRQ_DOM_EXC says not which domain: is_all */
	if (!x->virq)
		return -EPERM;
	while (is_readable(xenevtchn_fd(x->virq))) {
		port = xenevtchn_pending(x->virq);
		if (port < 0)
			return lib_err();
		if (xenevtchn_unmask(x->virq, (evtchn_port_t)port) < 0)
			return lib_err();
	}
	return 0;
}

static int xen_start_info(struct plat *p, unsigned int domid,
                          struct plat_start_info *out)
{
	xc_interface *xch = to_xen(p)->xch;
	uint64_t gfn, port;

	if (domid >= DOMID_FIRST_RESERVED)
		return -EINVAL;
	if (xc_hvm_param_get(xch, domid, HVM_PARAM_STORE_PFN, &gfn) < 0 ||
	    xc_hvm_param_get(xch, domid, HVM_PARAM_STORE_EVTCHN, &port) < 0)
		return lib_err();
	if (port == 0 || port > UINT_MAX)
		return -EINVAL;
	out->store_gfn = gfn;
	out->store_evtchn = (unsigned int)port;
	return 0;
}

static int map_track(struct xen *x, const struct xen_map *m)
{
	if (x->nmaps == x->maps_cap) {
		size_t n = x->maps_cap ? 2 * x->maps_cap : 8;
		struct xen_map *t = realloc(x->maps, n * sizeof(*t));

		if (!t)
			return -ENOMEM;
		x->maps = t;
		x->maps_cap = n;
	}
	x->maps[x->nmaps++] = *m;
	return 0;
}

static void map_release(struct xen *x, const struct xen_map *m)
{
	if (m->is_grant)
		xengnttab_unmap(x->xgt, m->addr, m->n);
	else
		munmap(m->addr, PLAT_PAGE_SIZE);
}

static int xen_map_grants(struct plat *p, unsigned int domid,
                          const uint32_t *refs, unsigned int n,
                          bool is_writable, void **addr)
{
	struct xen *x = to_xen(p);
	struct xen_map m = {NULL, n, true};
	int err;

	*addr = NULL;
	if (domid >= DOMID_FIRST_RESERVED)
		return -EINVAL;
	/* One call maps them contiguously, as a multi-page ring needs. */
	m.addr = xengnttab_map_domain_grant_refs(
	    x->xgt, n, domid, (uint32_t *)refs,
	    PROT_READ | (is_writable ? PROT_WRITE : 0));
	if (!m.addr)
		return lib_err();
	err = map_track(x, &m);
	if (err) {
		map_release(x, &m);
		return err;
	}
	*addr = m.addr;
	return 0;
}

static int xen_map_foreign(struct plat *p, unsigned int domid, uint64_t gfn,
                           void **addr)
{
	struct xen *x = to_xen(p);
	struct xen_map m = {NULL, 1, false};
	int err;

	*addr = NULL;
	if (p->self != 0)
		return -EPERM;
	if (domid >= DOMID_FIRST_RESERVED || gfn > ULONG_MAX)
		return -EINVAL;
	m.addr =
	    xc_map_foreign_range(x->xch, domid, PLAT_PAGE_SIZE,
	                         PROT_READ | PROT_WRITE, (unsigned long)gfn);
	if (!m.addr)
		return lib_err();
	err = map_track(x, &m);
	if (err) {
		map_release(x, &m);
		return err;
	}
	*addr = m.addr;
	return 0;
}

static int xen_map_own_pages(struct plat *p, const uint64_t *gfns,
                             unsigned int n, void **addr)
{
	*addr = NULL;
	return -ENOTSUP;
}

static void xen_unmap(struct plat *p, void *addr)
{
	struct xen *x = to_xen(p);

	for (size_t i = 0; i < x->nmaps; i++) {
		if (x->maps[i].addr == addr) {
			map_release(x, &x->maps[i]);
			x->maps[i] = x->maps[--x->nmaps];
			return;
		}
	}
}

static int xen_grant(struct plat *p, uint64_t gfn, unsigned int grantee,
                     bool is_writable, uint32_t *ref)
{
	return -ENOTSUP;
}

static int xen_ungrant(struct plat *p, uint32_t ref)
{
	return -ENOTSUP;
}

static int xen_alloc_page(struct plat *p, uint64_t *gfn)
{
	return -ENOTSUP;
}

static int xen_free_page(struct plat *p, uint64_t gfn)
{
	return -ENOTSUP;
}

static int xen_evtchn_alloc_unbound(struct plat *p, unsigned int remote,
                                    unsigned int *port)
{
	xenevtchn_port_or_error_t r;

	if (remote >= DOMID_FIRST_RESERVED)
		return -EINVAL;
	r = xenevtchn_bind_unbound_port(to_xen(p)->xce, remote);
	if (r < 0)
		return lib_err();
	*port = (unsigned int)r;
	return 0;
}

static int xen_evtchn_bind(struct plat *p, unsigned int remote,
                           unsigned int remote_port, unsigned int *port)
{
	xenevtchn_port_or_error_t r;

	if (remote >= DOMID_FIRST_RESERVED || remote_port == 0)
		return -EINVAL;
	r = xenevtchn_bind_interdomain(to_xen(p)->xce, remote,
	                               (evtchn_port_t)remote_port);
	if (r < 0)
		return lib_err();
	*port = (unsigned int)r;
	return 0;
}

/* Our ports closed with the process that bound them (its evtchn handle
 * went with it), leaving the remote end unbound for us: bind again. */
static int xen_evtchn_rebind(struct plat *p, unsigned int remote,
                             unsigned int remote_port, unsigned int old_port,
                             unsigned int *port)
{
	(void)old_port;
	return xen_evtchn_bind(p, remote, remote_port, port);
}

static int xen_evtchn_unbind(struct plat *p, unsigned int port)
{
	if (xenevtchn_unbind(to_xen(p)->xce, (evtchn_port_t)port) < 0)
		return lib_err();
	return 0;
}

static int xen_evtchn_notify(struct plat *p, unsigned int port)
{
	if (xenevtchn_notify(to_xen(p)->xce, (evtchn_port_t)port) < 0)
		return lib_err();
	return 0;
}

static int xen_evtchn_fd(struct plat *p)
{
	return xenevtchn_fd(to_xen(p)->xce);
}

static int xen_evtchn_pending(struct plat *p, unsigned int *port)
{
	struct xen *x = to_xen(p);
	xenevtchn_port_or_error_t r;

	if (!is_readable(xenevtchn_fd(x->xce)))
		return -EAGAIN; /* the read below would block */
	r = xenevtchn_pending(x->xce);
	if (r < 0)
		return lib_err();
	if (xenevtchn_unmask(x->xce, (evtchn_port_t)r) < 0)
		return lib_err();
	*port = (unsigned int)r;
	return 0;
}

static void xen_close(struct plat *p)
{
	struct xen *x = to_xen(p);

	while (x->nmaps)
		xen_unmap(p, x->maps[0].addr);
	free(x->maps);
	/* Closing an evtchn handle unbinds its ports. */
	if (x->virq)
		xenevtchn_close(x->virq);
	if (x->xce)
		xenevtchn_close(x->xce);
	if (x->xgt)
		xengnttab_close(x->xgt);
	if (x->xch)
		xc_interface_close(x->xch);
	free(x);
}

int xen_open(unsigned int self, struct plat **out)
{
	struct xen *x;
	int err = 0;

	*out = NULL;
	if (self >= DOMID_FIRST_RESERVED)
		return -EINVAL;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->base.ops = &xen_ops;
	x->base.self = self;
	errno = 0;
	x->xch = xc_interface_open(NULL, NULL, 0);
	if (x->xch)
		x->xce = xenevtchn_open(NULL, 0);
	if (x->xce)
		x->xgt = xengnttab_open(NULL, 0);
	if (!x->xgt) {
		/* No /dev/xen/...: no hypervisor here. */
		err = errno == ENOENT || errno == ENODEV || errno == 0 ? -ENOENT
		                                                       : -errno;
		xen_close(&x->base);
		return err;
	}
	*out = &x->base;
	return 0;
}

static const struct plat_ops xen_ops = {
    .name = "xen",
    .close = xen_close,
    .domain_state = xen_domain_state,
    .domain_exc_fd = xen_domain_exc_fd,
    .domain_exc_ack = xen_domain_exc_ack,
    .start_info = xen_start_info,
    .map_grants = xen_map_grants,
    .map_foreign = xen_map_foreign,
    .map_own_pages = xen_map_own_pages,
    .unmap = xen_unmap,
    .grant = xen_grant,
    .ungrant = xen_ungrant,
    .alloc_page = xen_alloc_page,
    .free_page = xen_free_page,
    .evtchn_alloc_unbound = xen_evtchn_alloc_unbound,
    .evtchn_bind = xen_evtchn_bind,
    .evtchn_rebind = xen_evtchn_rebind,
    .evtchn_unbind = xen_evtchn_unbind,
    .evtchn_notify = xen_evtchn_notify,
    .evtchn_fd = xen_evtchn_fd,
    .evtchn_pending = xen_evtchn_pending,
};
