/*
 * sim_dom.c - the simulator's domain builder (see sim_dom.h): the files
 * docs/sim.md says the toolstack writes.
 *
 * A domain is built complete under "dom<D>.tmp.<pid>.<n>" and renamed
 * to dom<D> without replacing (renameat2 RENAME_NOREPLACE), so a reader
 * never meets half a domain and two builders of one domid cannot both
 * win.  Removal renames dom<D> away first for the same reason.  Names
 * not of the form dom<number> are never domains.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plat/plat_int.h"
#include "plat/sim_dom.h"
#include "plat/simfs.h"

#define STORE_PORT 1u

/* mkdir -p for the sim directory (a path from the user, not a guest). */
static int mkdir_p(const char *dir)
{
	char buf[4096];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, dir, len + 1);
	for (char *s = buf + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;

		*s = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*s = c;
		if (!c)
			return 0;
	}
}

static int root_open(const char *dir, int *root)
{
	*root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return *root < 0 ? -errno : 0;
}

const char *sim_dom_default_dir(void)
{
	const char *dir = getenv("XSIM_DIR");

	return dir && *dir ? dir : SIM_DEFAULT_DIR;
}

int sim_dom_name_check(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > SIM_NAME_MAX)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 0x20 || c == 0x7f)
			return -EINVAL;
	}
	return 0;
}

static int put_text(int dir, const char *name, const char *text)
{
	return simfs_write(dir, name, text, strlen(text), true);
}

/* Fill the new domain directory `d`. */
static int build(int d, const char *name, struct plat_start_info *si)
{
	static const char zero[PLAT_PAGE_SIZE];
	char path[SIM_PATH_MAX], text[128];
	int sub, err;

	si->store_gfn = SIM_GFN_FIRST;
	si->store_evtchn = STORE_PORT;
	if ((err = simfs_mkdir(d, "page")) || (err = simfs_mkdir(d, "grant")) ||
	    (err = simfs_mkdir(d, "evtchn")))
		return err;

	if ((err = simfs_dir_open(d, "page", &sub)))
		return err;
	simfs_path(path, "%llu", (unsigned long long)si->store_gfn);
	err = simfs_write(sub, path, zero, sizeof(zero), true);
	close(sub);
	if (err || (err = simfs_dir_open(d, "grant", &sub)))
		return err;
	simfs_path(path, "%u", PLAT_GRANT_XENSTORE);
	snprintf(text, sizeof(text), "%llu 0 rw\n",
	         (unsigned long long)si->store_gfn);
	err = put_text(sub, path, text);
	close(sub);
	if (err || (err = simfs_dir_open(d, "evtchn", &sub)))
		return err;
	simfs_path(path, "%u", si->store_evtchn);
	err = simfs_fifo_make(sub, path);
	if (!err) {
		simfs_path(path, "%u.unbound", si->store_evtchn);
		err = put_text(sub, path, "0\n");
	}
	close(sub);
	if (err)
		return err;

	snprintf(text, sizeof(text), "store_gfn=%llu\nstore_evtchn=%u\n",
	         (unsigned long long)si->store_gfn, si->store_evtchn);
	if ((err = put_text(d, "start-info", text)))
		return err;
	snprintf(text, sizeof(text), "%s\n", name);
	if ((err = put_text(d, "name", text)))
		return err;
	return put_text(d, "state", "running\n");
}

/* Rename `from` to `to` in `root` unless `to` exists. */
static int rename_noreplace(int root, const char *from, const char *to)
{
	struct stat st;

	if (renameat2(root, from, root, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return errno == ENOTEMPTY ? -EEXIST : -errno;
	/* A filesystem without RENAME_NOREPLACE: check, then rename. */
	if (fstatat(root, to, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return -EEXIST;
	return renameat(root, from, root, to) < 0 ? -errno : 0;
}

static int tmp_name(char *buf, const char *base, const char *what)
{
	static unsigned int counter;
	unsigned int seq = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);

	return simfs_path(buf, "%s.%s.%ld.%u", base, what, (long)getpid(), seq);
}

int sim_dom_create(const char *dir, unsigned int domid, const char *name,
                   struct plat_start_info *si)
{
	char final[SIM_PATH_MAX], tmp[SIM_PATH_MAX];
	struct plat_start_info info;
	struct stat st;
	int root, d, err;

	if (domid == 0 || domid > SIM_DOMID_MAX || sim_dom_name_check(name))
		return -EINVAL;
	if ((err = mkdir_p(dir)) || (err = root_open(dir, &root)))
		return err;
	err = simfs_ensure_dom0(root);
	if (err)
		goto out;
	simfs_path(final, "dom%u", domid);
	if (fstatat(root, final, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		err = -EEXIST;
		goto out;
	}
	if ((err = tmp_name(tmp, final, "tmp")) ||
	    (err = simfs_mkdir(root, tmp)))
		goto out;
	err = simfs_dir_open(root, tmp, &d);
	if (!err) {
		err = build(d, name, &info);
		close(d);
	}
	if (!err)
		err = rename_noreplace(root, tmp, final);
	if (err)
		simfs_rmtree(root, tmp);
	else if (si)
		*si = info;
out:
	close(root);
	return err;
}

int sim_dom_set_state(const char *dir, unsigned int domid,
                      enum plat_dom_state st)
{
	char rel[SIM_PATH_MAX], text[32];
	int root, d, fd, err;

	if (domid > SIM_DOMID_MAX || (unsigned int)st > PLAT_DOM_SUSPENDED)
		return -EINVAL;
	if ((err = root_open(dir, &root)))
		return err;
	simfs_path(rel, "dom%u", domid);
	err = simfs_dir_open(root, rel, &d);
	if (err) {
		err = err == -ENOTDIR ? -ENOENT : err;
		goto out;
	}
	snprintf(text, sizeof(text), "%s\n", simfs_state_name(st));
	err = simfs_write(d, "state", text, strlen(text), false);
	close(d);
	if (err)
		goto out;
	err = simfs_fifo_make(root, SIM_VIRQ_DOM_EXC);
	if (err && err != -EEXIST)
		goto out;
	err = simfs_fifo_open(root, SIM_VIRQ_DOM_EXC, &fd);
	if (!err) {
		err = simfs_exc_raise(fd, domid);
		close(fd);
	}
out:
	close(root);
	return err;
}

int sim_dom_remove(const char *dir, unsigned int domid)
{
	char name[SIM_PATH_MAX], tmp[SIM_PATH_MAX];
	struct stat st;
	int root, err;

	if (domid == 0)
		return -EPERM;
	if (domid > SIM_DOMID_MAX)
		return -EINVAL;
	if ((err = root_open(dir, &root)))
		return err;
	simfs_path(name, "dom%u", domid);
	if (fstatat(root, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISDIR(st.st_mode)) {
		err = -ENOENT;
		goto out;
	}
	if ((err = tmp_name(tmp, name, "dead")))
		goto out;
	if (renameat(root, name, root, tmp) < 0) {
		err = errno == ENOENT ? -ENOENT : -errno;
		goto out;
	}
	err = simfs_rmtree(root, tmp);
out:
	close(root);
	return err;
}

static void info_read(int root, const char *rel, struct sim_dom_info *di)
{
	char text[SIM_FILE_MAX];
	size_t len;
	int d;

	di->has_state = false;
	di->name[0] = '\0';
	if (simfs_dir_open(root, rel, &d))
		return;
	if (!simfs_read(d, "state", text, sizeof(text), &len) &&
	    !simfs_parse_state(text, &di->state))
		di->has_state = true;
	if (!simfs_read(d, "name", text, sizeof(text), &len)) {
		if (len && text[len - 1] == '\n')
			text[--len] = '\0';
		if (!sim_dom_name_check(text))
			memcpy(di->name, text, len + 1);
	}
	close(d);
}

int sim_dom_info_get(const char *dir, unsigned int domid,
                     struct sim_dom_info *out)
{
	char rel[SIM_PATH_MAX];
	struct stat st;
	int root, err;

	if (domid > SIM_DOMID_MAX)
		return -EINVAL;
	if ((err = root_open(dir, &root)))
		return err;
	simfs_path(rel, "dom%u", domid);
	if (fstatat(root, rel, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		err = errno == ENOENT ? -ENOENT : -errno;
	} else if (!S_ISDIR(st.st_mode)) {
		err = -ENOENT; /* as sim_dom_list: not a domain */
	} else {
		out->domid = domid;
		info_read(root, rel, out);
	}
	close(root);
	return err;
}

static int info_cmp(const void *a, const void *b)
{
	const struct sim_dom_info *x = a, *y = b;

	return (x->domid > y->domid) - (x->domid < y->domid);
}

int sim_dom_list(const char *dir, struct sim_dom_info **out, size_t *n)
{
	struct sim_dom_info *v = NULL;
	size_t cnt = 0, cap = 0;
	struct dirent *e;
	DIR *dp;
	int root, err = 0;

	*out = NULL;
	*n = 0;
	if ((err = root_open(dir, &root)))
		return err;
	dp = fdopendir(root);
	if (!dp) {
		err = -errno;
		close(root);
		return err;
	}
	while ((e = readdir(dp)) != NULL) {
		uint64_t domid;

		if (strncmp(e->d_name, "dom", 3) ||
		    simfs_parse_name_num(e->d_name + 3, 0, SIM_DOMID_MAX,
		                         &domid))
			continue;
		if (cnt == cap) {
			size_t nc = cap ? 2 * cap : 16;
			struct sim_dom_info *t = realloc(v, nc * sizeof(*t));

			if (!t) {
				err = -ENOMEM;
				break;
			}
			v = t;
			cap = nc;
		}
		v[cnt].domid = (unsigned int)domid;
		info_read(dirfd(dp), e->d_name, &v[cnt]);
		cnt++;
	}
	closedir(dp);
	if (err) {
		free(v);
		return err;
	}
	if (cnt)
		qsort(v, cnt, sizeof(*v), info_cmp);
	*out = v;
	*n = cnt;
	return 0;
}
