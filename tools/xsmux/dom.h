/*
 * dom.h - xsmux's view of its domain in the sim directory (docs/sim.md):
 * the state file, atomic writes into dom<D>/, and virq-dom-exc.  Plain
 * files, no plat: a guest's plat would listen on the store port that the
 * ring transport already owns.
 */
#ifndef XSTORE_XSMUX_DOM_H
#define XSTORE_XSMUX_DOM_H

enum dom_state {
	DOM_RUNNING,
	DOM_SHUTDOWN,
	DOM_DYING,
	DOM_SUSPENDED,
	DOM_GONE
};

/*
 * dom_state - the state in `dom`/state; DOM_GONE when the directory is
 * gone.  Unreadable or unknown contents count as running (a reader never
 * sees a half-written file: writers rename).
 */
enum dom_state dom_state(const char *dom);

/* dom_write_atomic - `dom`/`name` = `text`, through a ".tmp." file and a
 * rename.  0 or -errno. */
int dom_write_atomic(const char *dom, const char *name, const char *text);

/* dom_signal_exc - tell `sim`/virq-dom-exc that domain `domid` changed
 * state (the line "<domid>\n", docs/sim.md); best effort: a full FIFO
 * makes its reader check every domain. */
void dom_signal_exc(const char *sim, unsigned int domid);

#endif
