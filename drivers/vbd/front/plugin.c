/*
 * plugin.c - nbdkit-xsblkfront-plugin.so: a guest's Xen virtual block
 * device (blkfront.c) served as an NBD export by nbdkit.  Parameters:
 *   domid=D [devid=N|xvdX] [store=SPEC] [platform=SPEC] [persistent=0|1]
 *   [ring-order=N] [max-segs=N] [wait=SECONDS] [timeout=SECONDS]
 *   [ready=PATH]
 * The bus thread starts in after_fork (threads do not survive nbdkit's
 * fork), which returns only once the device is Connected, and then
 * writes our pid to PATH: xsblkfront waits for that file.  Parallel thread
 * model: every client request becomes a bf_io() that waits for its blkif
 * responses.  The only symbol this object exports is nbdkit's entry point (see
 * front.mk).
 */
#define NBDKIT_API_VERSION 2
#include <errno.h>
#include <nbdkit-plugin.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/version.h"
#include "drivers/vbd/front/blkfront.h"

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

#define DEVID_XVDA 51712u /* (202 << 8) | (0 << 4) */
#define DEVID_STEP 16u

static struct bf_opts opts = {
    .devid = DEVID_XVDA,
    .is_persistent = true,
    .max_order = 2,
    .max_segs = 32,
    .io_timeout_ms = 30000,
};
static bool has_domid;
static unsigned int wait_s = 30;
static struct bf_info info;
static char *store_spec, *platform_spec, *ready_path;

static void plugin_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	nbdkit_vdebug(fmt, ap);
	va_end(ap);
}

/* "51712", or a Linux disk name "xvda".."xvdp". */
static int parse_devid(const char *v, unsigned int *out)
{
	if (!strncmp(v, "xvd", 3) && v[3] >= 'a' && v[3] <= 'p' && !v[4]) {
		*out = DEVID_XVDA + (unsigned int)(v[3] - 'a') * DEVID_STEP;
		return 0;
	}
	return nbdkit_parse_unsigned("devid", v, out);
}

static int xsbf_config(const char *key, const char *value)
{
	unsigned int n;
	int b;

	if (!strcmp(key, "domid")) {
		if (nbdkit_parse_unsigned("domid", value, &opts.domid))
			return -1;
		if (opts.domid == 0 || opts.domid >= 0x7ff0) {
			nbdkit_error("domid %u is not a guest", opts.domid);
			return -1;
		}
		has_domid = true;
	} else if (!strcmp(key, "devid")) {
		if (parse_devid(value, &opts.devid))
			return -1;
	} else if (!strcmp(key, "store")) {
		free(store_spec);
		store_spec = strdup(value);
		if (!store_spec)
			return -1;
	} else if (!strcmp(key, "platform")) {
		free(platform_spec);
		platform_spec = strdup(value);
		if (!platform_spec)
			return -1;
	} else if (!strcmp(key, "persistent")) {
		if ((b = nbdkit_parse_bool(value)) < 0)
			return -1;
		opts.is_persistent = b;
	} else if (!strcmp(key, "ring-order")) {
		if (nbdkit_parse_unsigned("ring-order", value, &n))
			return -1;
		opts.max_order = n;
	} else if (!strcmp(key, "max-segs")) {
		if (nbdkit_parse_unsigned("max-segs", value, &n))
			return -1;
		opts.max_segs = n;
	} else if (!strcmp(key, "ready")) {
		free(ready_path);
		ready_path = strdup(value);
		if (!ready_path)
			return -1;
	} else if (!strcmp(key, "wait")) {
		if (nbdkit_parse_unsigned("wait", value, &wait_s))
			return -1;
	} else if (!strcmp(key, "timeout")) {
		if (nbdkit_parse_unsigned("timeout", value, &n) || n == 0 ||
		    n > 3600) {
			nbdkit_error("timeout: 1..3600 seconds");
			return -1;
		}
		opts.io_timeout_ms = n * 1000;
	} else {
		nbdkit_error("unknown parameter '%s'", key);
		return -1;
	}
	return 0;
}

static int xsbf_config_complete(void)
{
	if (!has_domid) {
		nbdkit_error("domid=D is required");
		return -1;
	}
	opts.store = store_spec;
	opts.platform = platform_spec;
	opts.log = plugin_log;
	/* The disk was unplugged: the export ends (nbdkit exits). */
	opts.on_gone = nbdkit_shutdown;
	return 0;
}

/*
 * ready=PATH: our pid once the disk is Connected (nbdkit writes its pid
 * file before after_fork, so that file cannot mean it), or "error: why"
 * when it never will be (after the fork, our stderr may be gone).
 */
static int mark_ready(const char *error)
{
	FILE *f;

	if (!ready_path)
		return error ? -1 : 0;
	f = fopen(ready_path, "w");
	if (!f)
		return -1;
	if (error)
		fprintf(f, "error: %s\n", error);
	else
		fprintf(f, "%lld\n", (long long)getpid());
	if (fclose(f))
		return -1;
	return error ? -1 : 0;
}

static int xsbf_after_fork(void)
{
	char why[160];
	int err = bf_start(&opts);

	if (err) {
		snprintf(why, sizeof(why),
		         "starting the frontend of domain %u: %s", opts.domid,
		         strerror(-err));
		nbdkit_error("%s", why);
		return mark_ready(why);
	}
	err = bf_wait_connected(wait_s * 1000, &info);
	if (err) {
		snprintf(why, sizeof(why), "vbd %u of domain %u: %s",
		         opts.devid, opts.domid,
		         err == -ETIMEDOUT ? "not connected in time"
		                           : strerror(-err));
		nbdkit_error("%s", why);
		bf_stop();
		return mark_ready(why);
	}
	nbdkit_debug("connected: %llu bytes", (unsigned long long)info.size);
	return mark_ready(NULL);
}

static void xsbf_cleanup(void)
{
	bf_stop();
}

static void xsbf_unload(void)
{
	free(store_spec);
	free(platform_spec);
	free(ready_path);
}

static void *xsbf_open(int readonly)
{
	static int handle;

	return &handle;
}

static int64_t xsbf_get_size(void *handle)
{
	return (int64_t)info.size;
}

static int xsbf_block_size(void *handle, uint32_t *minimum, uint32_t *preferred,
                           uint32_t *maximum)
{
	*minimum = info.sector_size;
	*preferred = info.sector_size > 4096 ? info.sector_size : 4096;
	*maximum = 0xffffffff;
	return 0;
}

static int xsbf_can_write(void *handle)
{
	return !info.is_readonly;
}

static int xsbf_can_flush(void *handle)
{
	return info.has_flush;
}

static int xsbf_can_fua(void *handle)
{
	return info.has_flush ? NBDKIT_FUA_EMULATE : NBDKIT_FUA_NONE;
}

static int xsbf_can_trim(void *handle)
{
	return info.has_discard && !info.is_readonly;
}

static int xsbf_can_multi_conn(void *handle)
{
	/* One device, one cache: a flush on any connection covers all. */
	return 1;
}

static int done(int err)
{
	if (!err)
		return 0;
	if (err == -ENODEV && bf_is_gone())
		nbdkit_shutdown();
	nbdkit_set_error(err == -EOPNOTSUPP ? ENOTSUP : -err);
	return -1;
}

static int xsbf_pread(void *handle, void *buf, uint32_t count, uint64_t offset,
                      uint32_t flags)
{
	return done(bf_io(BF_READ, buf, offset, count));
}

static int xsbf_pwrite(void *handle, const void *buf, uint32_t count,
                       uint64_t offset, uint32_t flags)
{
	/* bf_io only reads a write's buffer. */
	return done(bf_io(BF_WRITE, (void *)buf, offset, count));
}

static int xsbf_flush(void *handle, uint32_t flags)
{
	return done(bf_io(BF_FLUSH, NULL, 0, 0));
}

static int xsbf_trim(void *handle, uint32_t count, uint64_t offset,
                     uint32_t flags)
{
	int err = bf_io(BF_DISCARD, NULL, offset, count);

	if (!err && (flags & NBDKIT_FLAG_FUA) && info.has_flush)
		err = bf_io(BF_FLUSH, NULL, 0, 0);
	return done(err);
}

static struct nbdkit_plugin plugin = {
    .name = "xsblkfront",
    .longname = "xstore's Xen blkfront (a simulated guest's disk)",
    .version = XSTORE_VERSION,
    .description = "A guest's Xen virtual block device, as an NBD export",
    .config = xsbf_config,
    .config_complete = xsbf_config_complete,
    .config_help = "domid=D [devid=N|xvdX] [store=SPEC] [platform=SPEC]\n"
                   "persistent=0|1 ring-order=N max-segs=N wait=S "
                   "timeout=S ready=PATH",
    .magic_config_key = "domid",
    .after_fork = xsbf_after_fork,
    .cleanup = xsbf_cleanup,
    .unload = xsbf_unload,
    .open = xsbf_open,
    .get_size = xsbf_get_size,
    .block_size = xsbf_block_size,
    .can_write = xsbf_can_write,
    .can_flush = xsbf_can_flush,
    .can_fua = xsbf_can_fua,
    .can_trim = xsbf_can_trim,
    .can_multi_conn = xsbf_can_multi_conn,
    .pread = xsbf_pread,
    .pwrite = xsbf_pwrite,
    .flush = xsbf_flush,
    .trim = xsbf_trim,
    .errno_is_preserved = 0,
};

NBDKIT_REGISTER_PLUGIN(plugin)
