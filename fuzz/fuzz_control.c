/*
 * fuzz_control.c - libFuzzer target: CONTROL (daemon/control.c) and the
 * GET_QUOTA/SET_QUOTA requests, with argument vectors the input builds
 * from a dictionary of the commands' own words, numbers and raw bytes,
 * sent by dom0, by a read-only dom0 socket and by a guest, in one
 * in-process daemon per input.
 *
 * Paths: whatever the input says, the argument that CONTROL logfile and
 * memreport open is replaced (after splitting the payload as the daemon
 * does) by one of a few names inside a private temporary directory:
 * regular files, a symlink to one, a dangling symlink (created through),
 * a directory, a FIFO, a symlink to /dev/null, a missing directory.  So
 * the daemon never writes outside that directory.
 *
 * Oracles, after every request: the guest and the read-only socket are
 * refused (EACCES, EROFS; class: an unprivileged client reaching the
 * operator's commands, no XSA); logfile and memreport refuse anything
 * but a regular file and leave the log where it was (class: a path a
 * client names stalls the daemon's loop, issue 10 item 7); the store
 * passes store_check.  After the input the log goes back to the fuzzer's sink
 * and the files made are removed.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "daemon/conn.h"
#include "daemon/daemon.h"
#include "daemon/dispatch.h"
#include "fuzz/fuzz_log.h"
#include "store/store.h"
#include "store/watch.h"
#include "tests/support/fakeplat.h"
#include "xstore/wire.h"
#include "fuzz/fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_REQS 64
#define OUT_MAX  (64u * 1024u)

enum { DOM0, DOM0_RO, GUEST5, NR_CONNS };

/* ---- the private directory and the paths the input may name ---- */

enum path_kind { P_REGULAR, P_REFUSED, P_MISSING };

static const struct {
	const char *name;
	enum path_kind kind;
} names[] = {
    {"f0", P_REGULAR},       {"f1", P_REGULAR},   {"link", P_REGULAR},
    {"dangling", P_REGULAR}, {"d", P_REFUSED},    {"fifo", P_REFUSED},
    {"devnull", P_REFUSED},  {"no/f", P_MISSING}, {"", P_MISSING},
};
#define NR_NAMES (sizeof(names) / sizeof(names[0]))

/* Made by the daemon (or through "dangling"): removed after each input. */
static const char *const made[] = {"f0",   "f0.1", "f1",
                                   "f1.1", "gone", "gone.1"};

static char dir[256];

static void dir_path(char *out, size_t outsz, const char *name)
{
	if (*name)
		snprintf(out, outsz, "%s/%s", dir, name);
	else
		*out = '\0';
}

static void dir_clean(void)
{
	char p[512];

	for (size_t i = 0; i < sizeof(made) / sizeof(made[0]); i++) {
		dir_path(p, sizeof(p), made[i]);
		unlink(p);
	}
}

static void dir_remove(void)
{
	static const char *const fixed[] = {"link", "dangling", "fifo",
	                                    "devnull"};
	char p[512];

	dir_clean();
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		dir_path(p, sizeof(p), fixed[i]);
		unlink(p);
	}
	dir_path(p, sizeof(p), "d");
	rmdir(p);
	rmdir(dir);
}

static void dir_make(void)
{
	const char *tmp = getenv("TMPDIR");
	char p[512];

	snprintf(dir, sizeof(dir), "%s/fuzz_control-XXXXXX",
	         tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		abort();
	dir_path(p, sizeof(p), "d");
	if (mkdir(p, 0700))
		abort();
	dir_path(p, sizeof(p), "fifo");
	if (mkfifo(p, 0600))
		abort();
	dir_path(p, sizeof(p), "link");
	if (symlink("f0", p))
		abort();
	dir_path(p, sizeof(p), "dangling");
	if (symlink("gone", p))
		abort();
	dir_path(p, sizeof(p), "devnull");
	if (symlink("/dev/null", p))
		abort();
	atexit(dir_remove);
}

/* ---- connections over a fake transport ---- */

struct fake {
	struct conn *c;
	char in[XS_HDR_SIZE + XS_PAYLOAD_MAX];
	size_t in_len, in_off;
	char out[OUT_MAX];
	size_t out_len;
};

static struct daemon dmn;
static struct fake fakes[NR_CONNS];

static long fk_read(struct conn *c, void *buf, size_t len)
{
	struct fake *f = c->transport;
	size_t n = f->in_len - f->in_off;

	if (n > len)
		n = len;
	memcpy(buf, f->in + f->in_off, n);
	f->in_off += n;
	return (long)n;
}

static long fk_write(struct conn *c, const void *buf, size_t len)
{
	struct fake *f = c->transport;

	/* Replies are looked at once and dropped: keep the newest. */
	if (len > OUT_MAX - f->out_len)
		f->out_len = 0;
	if (len > OUT_MAX)
		len = OUT_MAX;
	memcpy(f->out + f->out_len, buf, len);
	f->out_len += len;
	return (long)len;
}

static void fk_want(struct conn *c, bool on)
{
}

static void fk_close(struct conn *c)
{
	struct fake *f = c->transport;

	f->c = NULL;
}

static const struct transport_ops fake_ops = {
    .name = "fuzz",
    .read = fk_read,
    .write = fk_write,
    .want_write = fk_want,
    .want_read = fk_want,
    .close = fk_close,
};

static struct conn *fake_conn(unsigned int i)
{
	struct fake *f = &fakes[i];

	if (f->c)
		return f->c;
	f->c = conn_new(&dmn, CONN_SOCKET, &fake_ops, f, -1);
	if (!f->c)
		abort();
	f->c->is_privileged = i != GUEST5;
	f->c->is_readonly = i == DOM0_RO;
	f->c->domid = i == GUEST5 ? 5 : 0;
	return f->c;
}

/* ---- input ---- */

static const char *const words[] = {
    "check",
    "log",
    "logfile",
    "memreport",
    "print",
    "quota",
    "quota-soft",
    "help",
    "set",
    "on",
    "off",
    "+trace",
    "-trace",
    "+debug",
    "-debug",
    "nodes",
    "node-size",
    "watches",
    "transactions",
    "transaction-nodes",
    "permissions",
    "path-max",
    "memory",
    "outstanding",
    "0",
    "1",
    "5",
    "7",
    "100",
    "2048",
    "2049",
    "4294967295",
    "4294967296",
    "65535",
    "-1",
    "",
    "debug",
    "/a",
    "x",
};
#define NR_WORDS (sizeof(words) / sizeof(words[0]))

/* A payload of nul-separated arguments, the last maybe unterminated. */
static size_t build_args(struct input *in, char *out, size_t cap)
{
	unsigned int argc = get8(in) % 6;
	size_t len = 0;
	bool is_terminated = get8(in) < 0xf0;

	for (unsigned int i = 0; i < argc; i++) {
		uint8_t sel = get8(in);
		const char *w;
		size_t n;

		if (sel < 0xc0) {
			w = words[sel % NR_WORDS];
			n = strlen(w);
		} else {
			/* Raw bytes, nuls included. */
			n = get8(in) % 48u;
			if (n > in->n)
				n = in->n;
			w = (const char *)in->p;
			in->p += n;
			in->n -= n;
		}
		if (n + 1 > cap - len)
			break;
		memcpy(out + len, w, n);
		len += n;
		if (i + 1 < argc || is_terminated)
			out[len++] = '\0';
	}
	return len;
}

/*
 * Split as dispatch does; for logfile and memreport, put one of the
 * private directory's paths (chosen by `pick`) in place of argv[1].
 * Returns the new length; *kind says what that path is (P_MISSING if
 * the command opens nothing).
 */
static size_t confine(char *buf, size_t len, uint8_t pick, enum path_kind *kind,
                      bool *is_logfile)
{
	char tmp[XS_PAYLOAD_MAX + 512], path[512];
	const char *arg[8];
	size_t alen[8], argc = 0, off = 0, out = 0;

	*kind = P_MISSING;
	*is_logfile = false;
	while (off < len && argc < 8) {
		const char *nul = memchr(buf + off, '\0', len - off);

		if (!nul)
			break;
		arg[argc] = buf + off;
		alen[argc] = (size_t)(nul - (buf + off));
		off += alen[argc++] + 1;
	}
	if (argc < 2 ||
	    (strcmp(arg[0], "logfile") && strcmp(arg[0], "memreport")))
		return len;
	*is_logfile = !strcmp(arg[0], "logfile");
	dir_path(path, sizeof(path), names[pick % NR_NAMES].name);
	*kind = names[pick % NR_NAMES].kind;
	for (size_t i = 0; i < argc; i++) {
		const char *a = i == 1 ? path : arg[i];
		size_t n = i == 1 ? strlen(path) : alen[i];

		memcpy(tmp + out, a, n);
		out += n;
		tmp[out++] = '\0';
	}
	/* What followed (more arguments, an unterminated tail). */
	memcpy(tmp + out, buf + off, len - off);
	out += len - off;
	if (out > XS_PAYLOAD_MAX) {
		*kind = P_MISSING;
		return 0;
	}
	memcpy(buf, tmp, out);
	return out;
}

/* ---- one request ---- */

static void fail(const char *what, const char *cmd)
{
	fprintf(stderr, "fuzz_control: %s (command \"%s\")\n", what, cmd);
	abort();
}

/* Send one request on conn i; the reply's type and payload. */
static uint32_t roundtrip(unsigned int i, uint32_t type, const char *pl,
                          size_t len, const char **rpl, uint32_t *rlen)
{
	static uint32_t req_id;
	struct fake *f = &fakes[i];
	struct xs_wire_hdr hdr = {type, ++req_id, 0, (uint32_t)len};
	struct conn *c = fake_conn(i);
	size_t at;

	memcpy(f->in, &hdr, sizeof(hdr));
	memcpy(f->in + sizeof(hdr), pl, len);
	f->in_len = sizeof(hdr) + len;
	f->in_off = 0;
	f->out_len = 0;
	conn_handle_input(c);
	conn_flush_all(&dmn);
	conn_reap(&dmn);
	/* Skip watch events; the reply carries our req_id. */
	for (at = 0; f->out_len - at >= XS_HDR_SIZE;) {
		struct xs_wire_hdr r;

		memcpy(&r, f->out + at, sizeof(r));
		if (r.type != XS_WATCH_EVENT && r.req_id == req_id) {
			*rpl = f->out + at + XS_HDR_SIZE;
			*rlen = r.len;
			return r.type;
		}
		at += XS_HDR_SIZE + r.len;
	}
	*rpl = "";
	*rlen = 0;
	return XS_INVALID;
}

static bool is_error(uint32_t type, const char *pl, uint32_t len,
                     const char *name)
{
	return type == XS_ERROR && len == strlen(name) + 1 &&
	       !memcmp(pl, name, len);
}

static void check_store(void)
{
	unsigned long watches = 0;
	char why[256];

	for (const struct conn *c = dmn.conns; c; c = c->next)
		watches += dispatch_conn_watches(c);
	if (watches != watch_count(dmn.watches))
		fail("watches in sessions and in the index differ", "");
	if (store_check(dmn.store, why, sizeof(why))) {
		fprintf(stderr, "fuzz_control: store_check: %s\n", why);
		abort();
	}
}

static void request(struct input *in)
{
	static const uint32_t types[4] = {XS_CONTROL, XS_GET_QUOTA,
	                                  XS_SET_QUOTA, XS_WRITE};
	char buf[XS_PAYLOAD_MAX + 1];
	uint8_t op = get8(in), pick = get8(in);
	unsigned int who = (op & 3) % NR_CONNS;
	uint32_t type = types[(op >> 2) & 3], rtype, rlen;
	size_t len = build_args(in, buf, XS_PAYLOAD_MAX);
	enum path_kind kind;
	bool is_logfile;
	char *log_before;
	const char *rpl;

	buf[len] = '\0';
	if (type == XS_CONTROL)
		len = confine(buf, len, pick, &kind, &is_logfile);
	else
		kind = P_MISSING, is_logfile = false;
	log_before = log_path() ? strdup(log_path()) : NULL;
	rtype = roundtrip(who, type, buf, len, &rpl, &rlen);
	if (rtype == XS_INVALID)
		fail("no reply", buf);
	if (type != XS_WRITE && who == GUEST5 &&
	    !is_error(rtype, rpl, rlen, "EACCES"))
		fail("a guest was not refused", buf);
	if (type != XS_GET_QUOTA && who == DOM0_RO &&
	    !is_error(rtype, rpl, rlen, "EROFS"))
		fail("a read-only socket was not refused", buf);
	if (who == DOM0 && kind == P_REFUSED && rtype != XS_ERROR)
		fail("a path that is not a regular file was accepted", buf);
	/* A refused logfile leaves the log where it was. */
	if (is_logfile && rtype == XS_ERROR &&
	    (log_before ? !log_path() || strcmp(log_before, log_path())
	                : log_path() != NULL))
		fail("a refused logfile moved the log", buf);
	free(log_before);
	check_store();
}

/* ---- the entry point ---- */

static bool is_trace; /* FUZZ_CONTROL_TRACE=1: the daemon's log on stderr */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool is_initialized;
	static unsigned char page5[XS_RING_PAGE_SIZE];
	struct daemon_config cfg;
	struct input in = {data, size};
	struct plat *plat;

	if (!is_initialized) {
		is_trace = getenv("FUZZ_CONTROL_TRACE") != NULL;
		fuzz_log_open("fuzz_control", LOG_DEBUG, is_trace);
		dir_make();
		is_initialized = true;
	}
	/* Domain 5 exists (quota <domid> makes its record). */
	if (fakeplat_new(&plat) || fakeplat_set_domain(plat, 5, page5))
		abort();
	daemon_config_defaults(&cfg);
	cfg.platform = (char *)"none";
	cfg.write_rate = 0;
	if (daemon_init(&dmn, &cfg))
		abort();
	dmn.plat = plat;
	memset(fakes, 0, sizeof(fakes));
	for (int n = 0; in.n && n < MAX_REQS; n++)
		request(&in);
	daemon_fini(&dmn);
	/* What CONTROL may have switched; then its files go. */
	if (is_trace)
		log_open(NULL, LOG_DEBUG);
	else if (log_open(fuzz_log_path, LOG_DEBUG))
		abort();
	log_set_trace(is_trace);
	dir_clean();
	return 0;
}
