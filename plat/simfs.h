/*
 * simfs.h - the files of the simulated platform (docs/sim.md): limits,
 * strict parsers for every file a domain may write, and file operations
 * that never follow a symlink and never show a reader half a file.
 *
 * Used by the simulator (sim.c), its domain builder (sim_dom.c) and
 * nothing outside plat/ except xsim and tests.  Every function works
 * relative to an open directory fd and one path component, returns 0 or
 * -errno, and keeps no state; all are thread-safe.
 */
#ifndef XSTORE_PLAT_SIMFS_H
#define XSTORE_PLAT_SIMFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plat/plat.h"

#define SIM_DOMID_MAX    0x7fefu /* DOMID_FIRST_RESERVED - 1 */
#define SIM_PORT_MAX     131071u /* ports 1..2^17-1, as Xen's FIFO ABI */
#define SIM_GRANT_MAX    32767u  /* refs 1..32767 (64 frames of v1) */
#define SIM_GRANT_FIRST  8u      /* refs below are reserved (Xen's 8) */
#define SIM_GFN_FIRST    0x1000u /* the first frame plat_alloc_page gives */
#define SIM_GFN_MAX      0xfffffffffull /* frames are below 2^36 */
#define SIM_FILE_MAX     256u           /* text files longer are garbage */
#define SIM_NAME_MAX     64u            /* a domain's name, without the nul */
#define SIM_VIRQ_DOM_EXC "virq-dom-exc"

/* A buffer for one relative path of the layout ("dom123/evtchn/45.peer"). */
#define SIM_PATH_MAX 64u

/* simfs_path - snprintf into buf[SIM_PATH_MAX]; -ENAMETOOLONG if cut. */
int simfs_path(char *buf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * simfs_dir_open - open directory `rel` ("dom5/evtchn") under `root`,
 * one component at a time, refusing symlinks.  *fd gets an O_DIRECTORY
 * fd the caller closes.  -ENOENT missing, -ENOTDIR not a directory.
 */
int simfs_dir_open(int root, const char *rel, int *fd);

/*
 * simfs_read - read regular file `name` in `dir` into buf[size] (nul-
 * terminated; *len gets the length).  -ENOENT missing, -EINVAL not a
 * regular file, not smaller than `size`, or containing a nul byte.
 */
int simfs_read(int dir, const char *name, char *buf, size_t size, size_t *len);

/*
 * simfs_write - make `name` in `dir` hold exactly `len` bytes of `data`,
 * atomically: written to a temporary name (containing ".tmp."), then
 * renamed over `name`, or, if `is_exclusive`, linked to it (-EEXIST if
 * `name` exists).
 */
int simfs_write(int dir, const char *name, const void *data, size_t len,
                bool is_exclusive);

/* simfs_fifo_make, simfs_mkdir - create with the layout's modes (FIFOs
 * 0600, directories 0755, files 0644); -EEXIST if `name` exists. */
int simfs_fifo_make(int dir, const char *name);
int simfs_mkdir(int dir, const char *name);

/* simfs_unlink - remove `name` from `dir`; a missing name is not an error. */
int simfs_unlink(int dir, const char *name);

/*
 * simfs_fifo_open - open FIFO `name` in `dir` O_RDWR|O_NONBLOCK (never
 * blocks, never sees EOF).  -ENOENT missing, -EINVAL not a FIFO.
 */
int simfs_fifo_open(int dir, const char *name, int *fd);

/* simfs_fifo_poke - write one byte to a FIFO fd; a full pipe already has
 * an event pending, so -EAGAIN is success. */
int simfs_fifo_poke(int fd);

/*
 * simfs_exc_raise - tell virq-dom-exc (open as `fd`) that domain `domid`
 * changed state: the line "<domid>\n", one write (atomic: shorter than
 * PIPE_BUF).  A full pipe loses the line, and is success: its reader
 * sees a pipe that filled and checks every domain (simfs_exc_take).
 */
int simfs_exc_raise(int fd, unsigned int domid);

/*
 * simfs_exc_take - drain virq-dom-exc (open as `fd`, by its one reader)
 * into `out`: the domains named by "<domid>\n" lines, or is_all if
 * anything else came (a writer that names none: any bytes say "some
 * domain"), more than PLAT_EXC_MAX domains, or so much that a writer
 * may have found the pipe full (half its capacity).
 */
void simfs_exc_take(int fd, struct plat_exc *out);

/*
 * simfs_exc_parse - the parser of simfs_exc_take, for tests: adds the
 * complete lines of buf[0..len) to `out` and returns how many bytes
 * it used (an unfinished last line is left, for the next read).
 */
size_t simfs_exc_parse(const char *buf, size_t len, struct plat_exc *out);

/*
 * simfs_fifo_take - read what is pending on a non-blocking FIFO fd with
 * as few reads as it takes (one unless the buffer came back full, no
 * read to see EAGAIN); true if there was anything.
 */
bool simfs_fifo_take(int fd);

/*
 * simfs_page_map - map frame file `name` in `dir` (a regular file of
 * exactly PLAT_PAGE_SIZE bytes) MAP_SHARED, writable if `is_writable`,
 * anywhere if `at` is NULL, else over the caller's reservation at `at`
 * (MAP_FIXED).  -ENOENT missing, -EINVAL not such a file.
 */
int simfs_page_map(int dir, const char *name, bool is_writable, void *at,
                   void **addr);

/*
 * simfs_grant_hold - read grant file `name` in `dir` into buf[size] (as
 * simfs_read) and hold it: *fd gets an fd with an OFD read lock on the
 * file, which the caller keeps open exactly as long as it maps the page
 * (docs/sim.md, "Frames and grants").  -ENOENT missing or being ended.
 */
int simfs_grant_hold(int dir, const char *name, char *buf, size_t size,
                     int *fd);

/*
 * simfs_grant_end - remove grant file `name` in `dir` unless somebody
 * holds it: -EBUSY (the file stays) while a mapper's lock exists,
 * -ENOENT no such grant.
 */
int simfs_grant_end(int dir, const char *name);

/*
 * simfs_rmtree - remove `name` in `dir` and everything below it, at most
 * three levels deep (the layout has two); deeper trees give -ENOTEMPTY.
 */
int simfs_rmtree(int dir, const char *name);

/* ---- parsers: the whole text must match; one trailing '\n' allowed ---- */

/*
 * simfs_parse_num - a decimal number at *s (no sign, no leading zero
 * unless it is "0", at most `max`); advances *s.  -EINVAL otherwise.
 */
int simfs_parse_num(const char **s, uint64_t max, uint64_t *out);

/* simfs_parse_name_num - `name` is exactly a number in [min, max]. */
int simfs_parse_name_num(const char *name, uint64_t min, uint64_t max,
                         uint64_t *out);

/* "running" | "shutdown" | "dying" */
int simfs_parse_state(const char *text, enum plat_dom_state *out);
const char *simfs_state_name(enum plat_dom_state st);

/* "<gfn> <grantee-domid> rw|ro" */
int simfs_parse_grant(const char *text, uint64_t *gfn, unsigned int *grantee,
                      bool *is_writable);

/* "<remote-domid> <remote-port>" (a .peer file) */
int simfs_parse_peer(const char *text, unsigned int *domid, unsigned int *port);

/* "<remote-domid>" (a .unbound file) */
int simfs_parse_domid(const char *text, unsigned int *domid);

/* "store_gfn=<n>\nstore_evtchn=<port>\n": both keys required, each at
 * most once; lines with other keys are ignored (for later additions). */
int simfs_parse_start_info(const char *text, struct plat_start_info *out);

/*
 * simfs_ensure_dom0 - make dom0 (its subdirectories, state "running")
 * and the virq-dom-exc FIFO under `root` if missing; safe to race.
 */
int simfs_ensure_dom0(int root);

#endif
