/*
 * sim_dom.h - the simulator's domain builder: what a hypervisor and its
 * toolstack do to domains of the sim (create, change state, destroy,
 * list), as opposed to what a domain does (plat.h).  For xsim and
 * tests; the daemon never needs it.
 *
 * `dir` is the sim directory.  Functions return 0 or -errno and are
 * thread-safe (they keep no state).
 */
#ifndef XSTORE_PLAT_SIM_DOM_H
#define XSTORE_PLAT_SIM_DOM_H

#include <stddef.h>

#include "plat/plat.h"
#include "plat/simfs.h"

/*
 * sim_dom_create - build domain `domid` (1..SIM_DOMID_MAX): its store
 * page (one zeroed frame), grant PLAT_GRANT_XENSTORE of it to dom0
 * read-write, its store port unbound for dom0, start-info, `name` and
 * state "running".  `dir` and dom0 are made if missing.  The domain
 * appears whole or not at all (built under a temporary name, renamed).
 * *si (may be NULL) gets the start info.  -EEXIST if the domain exists,
 * -EINVAL for a bad domid or a name that is empty, longer than
 * SIM_NAME_MAX or holds a control character.
 */
int sim_dom_create(const char *dir, unsigned int domid, const char *name,
                   struct plat_start_info *si);

/*
 * sim_dom_set_state - set domain `domid`'s state and raise virq-dom-exc
 * (the state file is replaced atomically first).  -ENOENT no such domain.
 */
int sim_dom_set_state(const char *dir, unsigned int domid,
                      enum plat_dom_state st);

/*
 * sim_dom_remove - make domain `domid` vanish (renamed away at once, its
 * files removed after).  Dom0 cannot be removed (-EPERM).  Does not
 * raise virq-dom-exc: set the state to dying first, as Xen does.
 */
int sim_dom_remove(const char *dir, unsigned int domid);

struct sim_dom_info {
	unsigned int domid;
	enum plat_dom_state state;
	bool has_state;              /* false: state file missing or garbage */
	char name[SIM_NAME_MAX + 1]; /* "" if none */
};

/*
 * sim_dom_list - every domain of the sim, by increasing domid.  *out
 * gets a malloc'd array of *n entries (the caller frees it; NULL if 0).
 */
int sim_dom_list(const char *dir, struct sim_dom_info **out, size_t *n);

/*
 * sim_dom_info_get - domain `domid` of the sim alone, as sim_dom_list
 * would give it, without reading the others (a toolstack's lookup of one
 * domain stays one directory's read however many domains there are).
 * -ENOENT if there is no such domain (or no sim at `dir`), -EINVAL for a
 * domid past SIM_DOMID_MAX, -errno if `dir` cannot be read.  *out is
 * written only on success.
 */
int sim_dom_info_get(const char *dir, unsigned int domid,
                     struct sim_dom_info *out);

/* sim_dom_default_dir - $XSIM_DIR if set and not empty, else the
 * default sim directory (static storage; never NULL). */
const char *sim_dom_default_dir(void);

/* sim_dom_name_check - 0 if `name` is acceptable as a domain name. */
int sim_dom_name_check(const char *name);

#endif
