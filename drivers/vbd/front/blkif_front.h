/*
 * blkif_front.h - Xen's blkif ring and request types for the frontend,
 * from Xen's own public headers (included, never re-typed), with the
 * memory barriers ring.h leaves to its user.  Frontend-only sizes too.
 */
#ifndef VBD_FRONT_BLKIF_FRONT_H
#define VBD_FRONT_BLKIF_FRONT_H

#include <stdint.h>

/* From interface 3.2.8 on, ring.h leaves its barriers to us (before, it
 * calls a kernel's mb()): C11 fences. */
#ifndef __XEN_INTERFACE_VERSION__
#define __XEN_INTERFACE_VERSION__ 0x00030208
#endif
#ifndef xen_mb
#define xen_mb()  __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define xen_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define xen_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)
#endif
#include <xen/io/blkif.h>
#include <xen/io/protocols.h>

#define BF_PAGE_SIZE      4096u
#define BF_SECTOR         512u /* blkif's sector unit (no large sectors) */
#define BF_SECTS_PER_PAGE (BF_PAGE_SIZE / BF_SECTOR)
/* Segments one indirect page holds. */
#define BF_SEGS_PER_IND_PAGE                                                   \
	(BF_PAGE_SIZE / sizeof(struct blkif_request_segment))
/* Our own ceiling on segments per request: one indirect page, and a
 * slot's pages in one grant call (<= PLAT_MAP_PAGES_MAX). */
#define BF_MAX_SEGS       128u
#define BF_MAX_RING_ORDER 4u
/*
 * Persistent grants a backend keeps per device: Linux blkback's default
 * (max_persistent_grants) and xsblkback's VBD_PGRANT_MAX.  A page beyond
 * it is mapped and unmapped by the backend on every request, which in
 * the simulator costs far more than the copy it saves, so with
 * persistent grants we use no more slots than their pools fit in it.
 */
#define BF_PGRANT_BUDGET 1056u

#endif
