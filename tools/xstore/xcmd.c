/*
 * xcmd.c - the commands only "xstore" has: mkdir, getperms, quota,
 * domain-path, introduce, release, is-introduced, request, devices.  Output
 * is one plain line per answer (devices: also JSON), errors "xstore: <what>:
 * <errno text>" on stderr; exit 0 on success, 1 on any failure or bad usage (as
 * xenstore-utils).
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/xstore/cli.h"
#include "xstore/xenbus.h"

struct xcmd {
	const char *name;
	const char *args;
	const char *help;
	int (*fn)(struct cli *c, int argc, char **argv);
};

static const struct xcmd *current;

static void usage(struct cli *c) __attribute__((noreturn));

static void usage(struct cli *c)
{
	errx(1, "Usage: %s %s %s", c->argv0, current->name, current->args);
}

/* A decimal number in [0, max], or usage. */
static unsigned long number(struct cli *c, const char *s, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > max || s[0] == '-')
		usage(c);
	return v;
}

static int x_mkdir(struct cli *c, int argc, char **argv)
{
	xstore_txn_t t;
	int err, ret;

	if (argc < 2)
		usage(c);
	cli_connect(c);
	do {
		ret = 0;
		if (xstore_txn_start(c->h, &t))
			errx(1, "couldn't start transaction");
		for (int i = 1; i < argc && !ret; i++) {
			err = xstore_mkdir(c->h, t, argv[i]);
			if (err) {
				warnx("could not create path %s: %s", argv[i],
				      strerror(-err));
				ret = 1;
			}
		}
		err = xstore_txn_end(c->h, t, ret == 0);
	} while (ret == 0 && err == -EAGAIN);
	if (err)
		errx(1, "couldn't end transaction");
	return ret;
}

/* Permissions in the form chmod takes them, so they round-trip. */
static int x_getperms(struct cli *c, int argc, char **argv)
{
	bool prefix = argc > 2;
	char buf[XSTORE_PERM_STRLEN];

	if (argc < 2)
		usage(c);
	cli_connect(c);
	for (int i = 1; i < argc; i++) {
		struct xstore_perm *p;
		unsigned int n;
		int err = xstore_get_perms(c->h, 0, argv[i], &p, &n);

		if (err) {
			warnx("could not get permissions of %s: %s", argv[i],
			      strerror(-err));
			return 1;
		}
		if (prefix)
			printf("%s: ", argv[i]);
		for (unsigned int k = 0; k < n; k++)
			printf("%s%s", k ? " " : "",
			       xstore_perm_format(&p[k], buf));
		putchar('\n');
		free(p);
	}
	return 0;
}

/*
 * quota                  every global quota, "name value" per line
 * quota [DOMID] NAME     one value
 * quota [DOMID] NAME V   set it
 */
static int x_quota(struct cli *c, int argc, char **argv)
{
	int domid = -1, a = 1, err;
	uint64_t v;
	char *names, *tok, *save = NULL;

	if (argc > 1 && argv[1][0] >= '0' && argv[1][0] <= '9') {
		domid = (int)number(c, argv[1], XS_DOMID_MAX);
		a = 2;
	}
	if (argc - a > 2 || (domid >= 0 && argc - a == 0))
		usage(c);
	cli_connect(c);
	if (argc - a == 2) {
		char *end;

		errno = 0;
		v = strtoull(argv[a + 1], &end, 10);
		if (errno || end == argv[a + 1] || *end ||
		    argv[a + 1][0] == '-')
			usage(c);
		err = xstore_set_quota(c->h, domid, argv[a], v);
		if (err)
			errx(1, "could not set quota %s: %s", argv[a],
			     strerror(-err));
		return 0;
	}
	if (argc - a == 1) {
		err = xstore_get_quota(c->h, domid, argv[a], &v);
		if (err)
			errx(1, "could not get quota %s: %s", argv[a],
			     strerror(-err));
		printf("%" PRIu64 "\n", v);
		return 0;
	}
	err = xstore_quota_names(c->h, &names);
	if (err)
		errx(1, "could not list quotas: %s", strerror(-err));
	for (tok = strtok_r(names, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save)) {
		err = xstore_get_quota(c->h, -1, tok, &v);
		if (err)
			errx(1, "could not get quota %s: %s", tok,
			     strerror(-err));
		printf("%s %" PRIu64 "\n", tok, v);
	}
	free(names);
	return 0;
}

static int x_domain_path(struct cli *c, int argc, char **argv)
{
	if (argc < 2)
		usage(c);
	cli_connect(c);
	for (int i = 1; i < argc; i++) {
		unsigned int d = (unsigned int)number(c, argv[i], XS_DOMID_MAX);
		char *p;
		int err = xstore_get_domain_path(c->h, d, &p);

		if (err)
			errx(1, "could not get the path of domain %u: %s", d,
			     strerror(-err));
		printf("%s\n", p);
		free(p);
	}
	return 0;
}

static int x_introduce(struct cli *c, int argc, char **argv)
{
	unsigned long d, port;
	uint64_t gfn;
	int err;

	if (argc != 4)
		usage(c);
	d = number(c, argv[1], XS_DOMID_MAX);
	gfn = number(c, argv[2], (unsigned long)-1);
	port = number(c, argv[3], 0xffffffffu);
	cli_connect(c);
	err = xstore_introduce(c->h, (unsigned int)d, gfn, (unsigned int)port);
	if (err)
		errx(1, "could not introduce domain %lu: %s", d,
		     strerror(-err));
	return 0;
}

static int x_release(struct cli *c, int argc, char **argv)
{
	unsigned long d;
	int err;

	if (argc != 2)
		usage(c);
	d = number(c, argv[1], XS_DOMID_MAX);
	cli_connect(c);
	err = xstore_release(c->h, (unsigned int)d);
	if (err)
		errx(1, "could not release domain %lu: %s", d, strerror(-err));
	return 0;
}

/* Prints T or F, and exits 0 or 1 accordingly (for `if` in scripts). */
static int x_is_introduced(struct cli *c, int argc, char **argv)
{
	unsigned long d;
	int r;

	if (argc != 2)
		usage(c);
	d = number(c, argv[1], XS_DOMID_MAX);
	cli_connect(c);
	r = xstore_is_introduced(c->h, (unsigned int)d);
	if (r < 0)
		errx(1, "could not ask about domain %lu: %s", d, strerror(-r));
	printf("%s\n", r ? "T" : "F");
	return r ? 0 : 1;
}

/* A message type by name ("READ") or number. */
static uint32_t type_of(struct cli *c, const char *s)
{
	for (uint32_t t = 0; t < XS_TYPE_COUNT; t++) {
		const char *n = xs_type_name(t);

		if (n && !strcasecmp(n, s))
			return t;
	}
	return (uint32_t)number(c, s, 0xffffffffu);
}

/*
 * request TYPE [ARG...]: each ARG sent with its nul (escapes as for
 * write); the reply printed escaped, its nuls as \000.
 */
static int x_request(struct cli *c, int argc, char **argv)
{
	char buf[XS_PAYLOAD_MAX + 1];
	size_t len = 0;
	uint32_t type, rtype;
	void *reply;
	size_t rlen;
	struct outbuf o = {0};
	int err;

	if (argc < 2)
		usage(c);
	type = type_of(c, argv[1]);
	for (int i = 2; i < argc; i++) {
		char *v = malloc(strlen(argv[i]) + 1);
		size_t l;

		if (!v)
			errx(1, "out of memory");
		l = cli_unescape(argv[i], v);
		if (len + l + 1 > XS_PAYLOAD_MAX)
			errx(1, "request too long");
		memcpy(buf + len, v, l);
		len += l;
		buf[len++] = '\0';
		free(v);
	}
	cli_connect(c);
	err = xstore_request(c->h, type, 0, buf, len, &rtype, &reply, &rlen);
	if (err)
		errx(1, "%s: %s", argv[1], strerror(-err));
	cli_escape(&o, reply, rlen);
	out_bytes(&o, "\n", 1);
	out_flush(&o);
	out_free(&o);
	free(reply);
	return 0;
}

/* A string as JSON: the values come from guests, so escape everything. */
static void json_str(struct outbuf *o, const char *s)
{
	if (!s) {
		out_printf(o, "null");
		return;
	}
	out_bytes(o, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			out_printf(o, "\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			out_printf(o, "\\u%04x", *p);
		else
			out_bytes(o, p, 1);
	}
	out_bytes(o, "\"", 1);
}

static const char *state_name(int state)
{
	return state < 0 ? "-" : xenbus_strstate(state);
}

static void json_int(struct outbuf *o, int v)
{
	if (v < 0)
		out_printf(o, "null");
	else
		out_printf(o, "%d", v);
}

static void json_state(struct outbuf *o, int state)
{
	if (state < 0)
		out_printf(o, "null");
	else
		json_str(o, xenbus_strstate(state));
}

/*
 * devices [DOMID] [--json]: what xenbus_scan() finds.  A line per device
 * "NODE TYPE STATE OTHEREND OTHEREND-STATE" ("-" for what is missing), or
 * a JSON array of objects with those and the numbers behind them.
 */
static int x_devices(struct cli *c, int argc, char **argv)
{
	struct xenbus_devinfo *v;
	struct outbuf o = {0};
	unsigned int n;
	int domid = -1, err;
	bool is_json = false;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			is_json = true;
		else if (domid < 0 && argv[i][0] >= '0' && argv[i][0] <= '9')
			domid = (int)number(c, argv[i], XS_DOMID_MAX);
		else
			usage(c);
	}
	cli_connect(c);
	err = xenbus_scan(c->h, domid, &v, &n);
	if (err)
		errx(1, "could not scan devices: %s", strerror(-err));
	if (is_json)
		out_printf(&o, "[");
	for (unsigned int i = 0; i < n; i++) {
		const struct xenbus_devinfo *d = &v[i];

		if (!is_json) {
			char *oe = d->otherend
			               ? cli_escape_str(d->otherend,
			                                strlen(d->otherend))
			               : NULL;

			out_printf(&o, "%s %s %s %s %s\n", d->node, d->type,
			           state_name(d->state), oe ? oe : "-",
			           state_name(d->otherend_state));
			free(oe);
			continue;
		}
		out_printf(&o, "%s\n {\"node\": ", i ? "," : "");
		json_str(&o, d->node);
		out_printf(&o, ", \"type\": ");
		json_str(&o, d->type);
		out_printf(&o, ", \"domid\": %u, \"id\": %u, \"backend\": %s",
		           d->domid, d->id, d->is_backend ? "true" : "false");
		out_printf(&o, ", \"state\": ");
		json_state(&o, d->state);
		out_printf(&o, ", \"state_value\": ");
		json_int(&o, d->state);
		out_printf(&o, ", \"otherend\": ");
		json_str(&o, d->otherend);
		out_printf(&o, ", \"otherend_id\": ");
		json_int(&o, d->otherend_id);
		out_printf(&o, ", \"otherend_state\": ");
		json_state(&o, d->otherend_state);
		out_printf(&o, ", \"otherend_state_value\": ");
		json_int(&o, d->otherend_state);
		out_printf(&o, "}");
	}
	if (is_json)
		out_printf(&o, "%s]\n", n ? "\n" : "");
	out_flush(&o);
	out_free(&o);
	xenbus_devinfo_free(v, n);
	return 0;
}

static int x_control(struct cli *c, int argc, char **argv)
{
	return control_main(c, argc, argv);
}

static const struct xcmd cmds[] = {
    {"mkdir", "path [...]", "create nodes (and missing parents)", x_mkdir},
    {"getperms", "path [...]", "permissions, as chmod takes them", x_getperms},
    {"quota", "[domid] [name [value]]", "show or set quotas", x_quota},
    {"domain-path", "domid [...]", "the home path of domains", x_domain_path},
    {"introduce", "domid gfn evtchn", "introduce a domain", x_introduce},
    {"release", "domid", "release a domain", x_release},
    {"is-introduced", "domid", "T (exit 0) or F (exit 1)", x_is_introduced},
    {"control", "command [arg...]", "a CONTROL command", x_control},
    {"request", "type [arg...]", "send a raw request, print the reply",
     x_request},
    {"devices", "[domid] [--json]", "split devices in the store", x_devices},
};

bool xcmd_has(const char *name)
{
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(cmds[i].name, name))
			return true;
	return false;
}

int xcmd_main(struct cli *c, const char *name, int argc, char **argv)
{
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(cmds[i].name, name))
			continue;
		current = &cmds[i];
		if (argc > 1 &&
		    (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))
			usage(c);
		return cmds[i].fn(c, argc, argv);
	}
	errx(1, "unknown command %s", name);
}

void xcmd_list(void)
{
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		printf("  %-14s %-24s %s\n", cmds[i].name, cmds[i].args,
		       cmds[i].help);
}
