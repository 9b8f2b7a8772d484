/*
 * test_store_apply.c - change sets and their records (store/apply.c),
 * snapshots (store/dump.c): every kind of change gives exactly one
 * record; a replica fed only by records stays equal (store_equal) to
 * the store through a random history of operations, transactions and
 * forgotten domains; a snapshot loads back equal; corrupted records and
 * snapshots are refused without changing anything; an allocation
 * failure anywhere on these paths changes nothing and emits nothing.
 *
 * Records and copies are kept with plain malloc, so that xalloc fault
 * injection only hits the store.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "store/store.h"
#include "tests/support/check.h"
#include "tests/support/storetest.h"

/* ---- records captured ---- */

struct rec {
	unsigned char *p;
	size_t len;
};

struct recs {
	unsigned int n;
	struct rec v[4096];
	struct store *replica; /* fed each record at once, if set */
	int replay_err;        /* the first replay error */
};

static void rec_cb(void *opaque, const void *rec, size_t len)
{
	struct recs *r = opaque;
	int err;

	if (r->replica) {
		err = store_replay(r->replica, rec, len);
		if (err && !r->replay_err)
			r->replay_err = err;
	}
	if (r->n == sizeof(r->v) / sizeof(r->v[0]))
		return;
	r->v[r->n].p = malloc(len);
	memcpy(r->v[r->n].p, rec, len);
	r->v[r->n].len = len;
	r->n++;
}

static void recs_clear(struct recs *r)
{
	for (unsigned int i = 0; i < r->n; i++)
		free(r->v[i].p);
	r->n = 0;
}

/* ---- snapshots into memory ---- */

/* A copy of `s` through dump and load (NULL on failure). */
static struct store *copy_of(struct store *s)
{
	struct st_buf b = {0};
	struct store *c = NULL;

	if (store_dump(s, st_buf_write, &b) == 0)
		store_load(b.p, b.len, &c);
	free(b.p);
	return c;
}

static uint64_t gen_of(const struct store *s)
{
	struct store_stats st;

	store_stats(s, &st);
	return st.generation;
}

static const struct store_caller dom5 = {5, PERM_NO_TARGET, false, NULL, 0};

/* ---- exactly one record per change set ---- */

static int count_after(struct recs *r, unsigned int before)
{
	return (int)(r->n - before);
}

static void test_one_record_per_change(void)
{
	static const struct perm_entry p5[2] = {{5, PERM_NONE}, {7, PERM_READ}};
	static const struct perm_entry p0[2] = {{0, PERM_NONE}, {5, PERM_READ}};
	struct store *s = store_new();
	struct recs *r = calloc(1, sizeof(*r));
	struct txn *t;
	unsigned int n;

	r->replica = copy_of(s);
	CHECK(r->replica != NULL);
	store_set_record_cb(s, rec_cb, r);

	n = r->n; /* a write creating ancestors */
	CHECK_EQ_INT(store_write(s, NULL, &st_dom0, "/a/b/c", "v", 1), 0);
	CHECK_EQ_INT(count_after(r, n), 1);
	n = r->n; /* overwrite */
	CHECK_EQ_INT(store_write(s, NULL, &st_dom0, "/a/b/c", "vv", 2), 0);
	CHECK_EQ_INT(count_after(r, n), 1);
	n = r->n; /* nothing changes: no record */
	CHECK_EQ_INT(store_mkdir(s, NULL, &st_dom0, "/a/b"), 0);
	CHECK_EQ_INT(store_rm(s, NULL, &st_dom0, "/a/nothing"), 0);
	CHECK_EQ_INT(store_write(s, NULL, &dom5, "/a/x", "v", 1), -EACCES);
	CHECK_EQ_INT(count_after(r, n), 0);
	n = r->n;
	CHECK_EQ_INT(store_mkdir(s, NULL, &st_dom0, "/local/domain/5"), 0);
	CHECK_EQ_INT(count_after(r, n), 1);
	n = r->n;
	CHECK_EQ_INT(
	    store_set_perms(s, NULL, &st_dom0, "/local/domain/5", p5, 2), 0);
	CHECK_EQ_INT(count_after(r, n), 1);
	n = r->n; /* an unprivileged write: owned by its creator */
	CHECK_EQ_INT(store_write(s, NULL, &dom5, "/local/domain/5/d/e", "x", 1),
	             0);
	CHECK_EQ_INT(count_after(r, n), 1);
	n = r->n;
	CHECK_EQ_INT(
	    store_set_perms(s, NULL, &st_dom0, "@releaseDomain", p0, 2), 0);
	CHECK_EQ_INT(store_set_perms(s, NULL, &st_dom0, "/a", p0, 2), 0);
	CHECK_EQ_INT(count_after(r, n), 2);
	n = r->n;
	CHECK_EQ_INT(store_rm(s, NULL, &st_dom0, "/a/b"), 0);
	CHECK_EQ_INT(count_after(r, n), 1);

	/* A transaction: one record at commit, none before, none on abort. */
	n = r->n;
	CHECK_EQ_INT(store_txn_start(s, &st_dom0, &t), 0);
	CHECK_EQ_INT(store_write(s, t, &st_dom0, "/t/1", "1", 1), 0);
	CHECK_EQ_INT(store_write(s, t, &st_dom0, "/t/2", "2", 1), 0);
	CHECK_EQ_INT(store_rm(s, t, &st_dom0, "/t/1"), 0);
	CHECK_EQ_INT(store_set_perms(s, t, &st_dom0, "/t", p0, 2), 0);
	CHECK_EQ_INT(count_after(r, n), 0);
	CHECK_EQ_INT(store_txn_end(s, t, true), 0);
	CHECK_EQ_INT(count_after(r, n), 1);
	n = r->n;
	CHECK_EQ_INT(store_txn_start(s, &st_dom0, &t), 0);
	CHECK_EQ_INT(store_write(s, t, &st_dom0, "/t/3", "3", 1), 0);
	CHECK_EQ_INT(store_txn_end(s, t, false), 0);
	CHECK_EQ_INT(store_txn_start(s, &st_dom0, &t), 0);
	CHECK_EQ_INT(store_txn_end(s, t, true), 0);
	CHECK_EQ_INT(count_after(r, n), 0);
	/* A commit of one operation. */
	CHECK_EQ_INT(store_txn_start(s, &st_dom0, &t), 0);
	CHECK_EQ_INT(store_write(s, t, &st_dom0, "/t/4", "4", 1), 0);
	CHECK_EQ_INT(store_txn_end(s, t, true), 0);
	CHECK_EQ_INT(count_after(r, n), 1);

	/* Forgetting domain 5: its home goes, 5 leaves /a's list and
	 * @releaseDomain's: one record.  Again: nothing, no record. */
	n = r->n;
	CHECK_EQ_INT(store_forget_domain(s, 5), 0);
	CHECK_EQ_INT(count_after(r, n), 1);
	n = r->n;
	CHECK_EQ_INT(store_forget_domain(s, 5), 0);
	CHECK_EQ_INT(count_after(r, n), 0);

	CHECK_EQ_INT(r->replay_err, 0);
	CHECK(store_equal(s, r->replica));
	CHECK_EQ_UINT(gen_of(s), gen_of(r->replica));
	STORE_OK(s);
	STORE_OK(r->replica);
	recs_clear(r);
	store_free(r->replica);
	free(r);
	store_free(s);
}

/* ---- a random history, replayed ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static unsigned int rnd(unsigned int n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned int)(rng % n);
}

static void random_path(char *out, size_t sz)
{
	static const char *const base[4] = {"", "/local/domain/5", "/x",
	                                    "/local/domain/7"};
	size_t o = (size_t)snprintf(out, sz, "%s", base[rnd(4)]);
	unsigned int depth = 1 + rnd(3);

	for (unsigned int i = 0; i < depth; i++)
		o += (size_t)snprintf(out + o, sz - o, "/%c", 'a' + rnd(4));
}

static void random_perms(struct perm_entry *e, unsigned int *n)
{
	static const uint16_t doms[4] = {0, 5, 6, 7};

	*n = 1 + rnd(3);
	for (unsigned int i = 0; i < *n; i++) {
		e[i].domid = doms[rnd(4)];
		e[i].access = (uint8_t)rnd(4);
	}
}

/* One random operation by a random caller, directly or in `t`. */
static void random_op(struct store *s, struct txn *t,
                      const struct store_caller *c)
{
	struct perm_entry e[4];
	unsigned int n;
	char path[128], val[16];

	random_path(path, sizeof(path));
	switch (rnd(5)) {
	case 0:
	case 1:
		snprintf(val, sizeof(val), "v%u", rnd(1000));
		store_write(s, t, c, path, val, strlen(val));
		break;
	case 2:
		store_mkdir(s, t, c, path);
		break;
	case 3:
		store_rm(s, t, c, path);
		break;
	default:
		random_perms(e, &n);
		if (!t && rnd(8) == 0)
			store_set_perms(s, NULL, c,
			                rnd(2) ? "@introduceDomain"
			                       : "@releaseDomain",
			                e, n);
		else
			store_set_perms(s, t, c, path, e, n);
	}
}

static void test_random_history_replay(void)
{
	static const struct store_caller callers[3] = {
	    {0, PERM_NO_TARGET, true, NULL, 0},
	    {5, PERM_NO_TARGET, false, NULL, 0},
	    {7, PERM_NO_TARGET, false, NULL, 0},
	};
	static const struct perm_entry home5[2] = {{5, PERM_NONE},
	                                           {7, PERM_READ}};
	static const struct perm_entry home7[1] = {{7, PERM_NONE}};
	struct recs *r = calloc(1, sizeof(*r));
	struct store *s = store_new();
	struct store *initial;
	struct txn *t[2] = {NULL, NULL};
	unsigned int loads = 0;

	CHECK_EQ_INT(store_mkdir(s, NULL, &st_dom0, "/local/domain/5"), 0);
	CHECK_EQ_INT(store_mkdir(s, NULL, &st_dom0, "/local/domain/7"), 0);
	CHECK_EQ_INT(
	    store_set_perms(s, NULL, &st_dom0, "/local/domain/5", home5, 2), 0);
	CHECK_EQ_INT(
	    store_set_perms(s, NULL, &st_dom0, "/local/domain/7", home7, 1), 0);
	initial = copy_of(s);
	r->replica = copy_of(s);
	CHECK(initial && r->replica);
	store_set_record_cb(s, rec_cb, r);
	for (unsigned int step = 0; step < 3000; step++) {
		unsigned int k = rnd(20), slot = rnd(2);
		const struct store_caller *c = &callers[rnd(3)];

		if (k < 10) {
			random_op(s, NULL, c);
		} else if (k < 15) {
			if (!t[slot])
				store_txn_start(s, c, &t[slot]);
			random_op(s, t[slot], c);
		} else if (k < 18) {
			if (t[slot])
				store_txn_end(s, t[slot], rnd(4) != 0);
			t[slot] = NULL;
		} else if (k == 18) {
			store_forget_domain(s, rnd(2) ? 5 : 7);
		} else {
			/* A dump/load round trip at a random point. */
			struct store *c2 = copy_of(s);

			CHECK(c2 != NULL);
			CHECK(store_equal(s, c2));
			CHECK_EQ_UINT(gen_of(s), gen_of(c2));
			STORE_OK(c2);
			store_free(c2);
			loads++;
		}
		CHECK_EQ_INT(r->replay_err, 0);
		if (!store_equal(s, r->replica)) {
			printf("  replica differs after step %u\n", step);
			CHECK(store_equal(s, r->replica));
		}
	}
	for (int i = 0; i < 2; i++)
		if (t[i])
			store_txn_end(s, t[i], false);
	STORE_OK(s);
	STORE_OK(r->replica);
	printf("  %u records, %u dump/load round trips\n", r->n, loads);
	CHECK(r->n > 500);

	/* Again from the initial state, all records in one go. */
	for (unsigned int i = 0; i < r->n; i++)
		CHECK_EQ_INT(store_replay(initial, r->v[i].p, r->v[i].len), 0);
	CHECK(store_equal(s, initial));
	STORE_OK(initial);
	/* Once applied, a record does not fit any more (generation). */
	if (r->n)
		CHECK_EQ_INT(store_replay(initial, r->v[0].p, r->v[0].len),
		             -EINVAL);
	recs_clear(r);
	store_free(r->replica);
	store_free(initial);
	free(r);
	store_free(s);
}

/* ---- corrupted records ---- */

static void test_corrupt_records(void)
{
	static const struct perm_entry pp[3] = {
	    {5, PERM_READ}, {7, PERM_BOTH}, {0, PERM_WRITE}};
	struct recs *r = calloc(1, sizeof(*r));
	struct store *s = store_new();
	struct store *pre, *fresh;
	struct txn *t;
	unsigned int detected = 0, accepted = 0;

	pre = copy_of(s);
	store_set_record_cb(s, rec_cb, r);
	CHECK_EQ_INT(store_write(s, NULL, &st_dom0, "/a/b/c", "hello", 5), 0);
	CHECK_EQ_INT(store_set_perms(s, NULL, &st_dom0, "/a/b", pp, 3), 0);
	CHECK_EQ_INT(store_txn_start(s, &st_dom0, &t), 0);
	CHECK_EQ_INT(store_write(s, t, &st_dom0, "/a/d", "x", 1), 0);
	CHECK_EQ_INT(store_rm(s, t, &st_dom0, "/a/b/c"), 0);
	CHECK_EQ_INT(store_set_perms(s, t, &st_dom0, "@introduceDomain", pp, 3),
	             0);
	CHECK_EQ_INT(store_txn_end(s, t, true), 0);
	CHECK_EQ_INT(r->n, 4);

	for (unsigned int i = 0; i < r->n; i++) {
		const struct rec *rc = &r->v[i];
		unsigned char *bad = malloc(rc->len + 1);
		uint64_t g = gen_of(pre);

		/* Every truncation, and one byte too many. */
		for (size_t len = 0; len < rc->len; len++) {
			CHECK_EQ_INT(store_replay(pre, rc->p, len), -EINVAL);
		}
		memcpy(bad, rc->p, rc->len);
		bad[rc->len] = 0;
		CHECK_EQ_INT(store_replay(pre, bad, rc->len + 1), -EINVAL);
		/* Every single bit flipped: refused and nothing changed, or
		 * (a flip in a value, or a valid other path or perm: only
		 * the journal's checksum can tell) applied consistently. */
		for (size_t bit = 0; bit < rc->len * 8; bit++) {
			int err;

			memcpy(bad, rc->p, rc->len);
			bad[bit / 8] ^= (unsigned char)(1u << (bit % 8));
			fresh = copy_of(pre);
			err = store_replay(fresh, bad, rc->len);
			if (err) {
				CHECK_EQ_INT(err, -EINVAL);
				CHECK(store_equal(fresh, pre));
				CHECK_EQ_UINT(gen_of(fresh), gen_of(pre));
				detected++;
			} else {
				accepted++;
			}
			STORE_OK(fresh);
			store_free(fresh);
		}
		CHECK(store_equal(pre, pre));
		CHECK_EQ_UINT(gen_of(pre), g);
		free(bad);
		CHECK_EQ_INT(store_replay(pre, rc->p, rc->len), 0);
	}
	CHECK(store_equal(s, pre));
	printf("  bit flips: %u refused, %u accepted (value or path bytes)\n",
	       detected, accepted);
	CHECK(detected > accepted);
	recs_clear(r);
	free(r);
	store_free(pre);
	store_free(s);
}

/* Records that are well formed but do not fit the store. */
static void put_change(unsigned char *p, size_t *len, unsigned int kind,
                       const char *path, const char *value, unsigned int np)
{
	size_t pl = strlen(path), vl = value ? strlen(value) : 0;
	unsigned char *q = p + *len;

	q[0] = (unsigned char)kind;
	q[1] = 0;
	q[2] = (unsigned char)np;
	q[3] = 0;
	q[4] = (unsigned char)pl;
	q[5] = q[6] = q[7] = 0;
	q[8] = (unsigned char)vl;
	q[9] = q[10] = q[11] = 0;
	memcpy(q + 12, path, pl);
	if (vl)
		memcpy(q + 12 + pl, value, vl);
	memset(q + 12 + pl + vl, 0, 4 * np); /* "n0" entries */
	*len += 12 + pl + vl + 4 * np;
}

static size_t make_rec(unsigned char *p, uint64_t gen, unsigned int count)
{
	memset(p, 0, 16);
	p[0] = 1;
	p[1] = 1;
	p[4] = (unsigned char)count;
	for (int i = 0; i < 8; i++)
		p[8 + i] = (unsigned char)(gen >> (8 * i));
	return 16;
}

static void test_inconsistent_records(void)
{
	struct store *s = store_new();
	struct store *pre = copy_of(s);
	unsigned char rec[512];
	uint64_t g = gen_of(s);
	size_t len;

	/* Well formed and fitting: accepted. */
	len = make_rec(rec, g, 2);
	put_change(rec, &len, 1, "/p/q", "v", 1);
	put_change(rec, &len, 3, "/p", NULL, 0);
	CHECK_EQ_INT(store_replay(s, rec, len), 0);
	CHECK(!store_equal(s, pre)); /* generations moved on */
	store_free(s);
	s = copy_of(pre);

	/* Each bad one after a good change: nothing of it stays. */
	{
		static const struct {
			unsigned int kind;
			const char *path;
			unsigned int np;
		} bad[] = {
		    {3, "/missing", 0}, {2, "/missing", 1},
		    {3, "/", 0},        {1, "/p/q", 0},
		    {3, "/p", 1},       {4, "@other", 1},
		    {4, "/p", 1},       {1, "@introduceDomain", 1},
		    {5, "/p", 1},       {0, "/p", 1},
		    {1, "/p//q", 1},    {1, "p", 1},
		    {1, "/p/", 1},
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			len = make_rec(rec, g, 2);
			put_change(rec, &len, 1, "/p/q", "v", 1);
			put_change(rec, &len, bad[i].kind, bad[i].path, NULL,
			           bad[i].np);
			CHECK_EQ_INT(store_replay(s, rec, len), -EINVAL);
			CHECK(store_equal(s, pre));
			CHECK_EQ_UINT(gen_of(s), g);
		}
	}
	/* A generation from the past; a count of 0; a wrong version. */
	len = make_rec(rec, g - 1, 1);
	put_change(rec, &len, 1, "/p", "v", 1);
	CHECK_EQ_INT(store_replay(s, rec, len), -EINVAL);
	len = make_rec(rec, g, 0);
	CHECK_EQ_INT(store_replay(s, rec, len), -EINVAL);
	len = make_rec(rec, g, 1);
	put_change(rec, &len, 1, "/p", "v", 1);
	rec[0] = 2;
	CHECK_EQ_INT(store_replay(s, rec, len), -EINVAL);
	/* A bad access value in a perm entry. */
	len = make_rec(rec, g, 1);
	put_change(rec, &len, 1, "/p", "v", 1);
	rec[len - 2] = 4;
	CHECK_EQ_INT(store_replay(s, rec, len), -EINVAL);
	CHECK(store_equal(s, pre));
	STORE_OK(s);
	store_free(pre);
	store_free(s);
}

/* ---- snapshots ---- */

static void test_dump_load(void)
{
	static const struct perm_entry pp[3] = {
	    {5, PERM_READ}, {7, PERM_BOTH}, {0, PERM_WRITE}};
	struct store *s = store_new(), *c;
	struct st_buf b = {0}, b2 = {0};
	char big[4096], path[3100];
	struct txn *t;
	size_t o;

	memset(big, 'z', sizeof(big));
	CHECK_EQ_INT(store_write(s, NULL, &st_dom0, "/big", big, sizeof(big)),
	             0);
	CHECK_EQ_INT(store_write(s, NULL, &st_dom0, "/nul", "a\0b", 3), 0);
	CHECK_EQ_INT(store_set_perms(s, NULL, &st_dom0, "/nul", pp, 3), 0);
	CHECK_EQ_INT(
	    store_set_perms(s, NULL, &st_dom0, "@releaseDomain", pp, 2), 0);
	/* The deepest path there can be: "/a" repeated. */
	for (o = 0; o + 2 <= 3072; o += 2)
		memcpy(path + o, "/a", 2);
	path[o] = '\0';
	CHECK_EQ_INT(store_write(s, NULL, &st_dom0, path, "deep", 4), 0);
	for (int i = 0; i < 300; i++) {
		snprintf(path, sizeof(path), "/wide/n%d", i);
		CHECK_EQ_INT(store_write(s, NULL, &dom5, path, "", 0), -EACCES);
		CHECK_EQ_INT(store_write(s, NULL, &st_dom0, path, "w", 1), 0);
	}
	/* An open transaction's changes are not in the snapshot. */
	CHECK_EQ_INT(store_txn_start(s, &st_dom0, &t), 0);
	CHECK_EQ_INT(store_write(s, t, &st_dom0, "/wide/n1", "txn", 3), 0);
	CHECK_EQ_INT(store_dump(s, st_buf_write, &b), 0);
	CHECK_EQ_INT(store_load(b.p, b.len, &c), 0);
	CHECK(store_equal(s, c));
	CHECK_EQ_UINT(gen_of(s), gen_of(c));
	STORE_OK(c);
	CHECK_EQ_INT(store_txn_end(s, t, false), 0);
	/* Loaded, dumped again: the same bytes. */
	CHECK_EQ_INT(store_dump(c, st_buf_write, &b2), 0);
	CHECK_EQ_UINT(b.len, b2.len);
	CHECK(b.len == b2.len && !memcmp(b.p, b2.p, b.len));
	CHECK_EQ_UINT(store_domain_nodes(s, 0), store_domain_nodes(c, 0));
	store_free(c);

	/* Truncated anywhere (sampled), or one byte more: refused. */
	for (size_t len = 0; len < b.len; len += 1 + len / 64) {
		c = (struct store *)1;
		CHECK_EQ_INT(store_load(b.p, len, &c), -EINVAL);
		CHECK(c == NULL);
	}
	b.p = realloc(b.p, b.len + 1);
	b.p[b.len] = 0;
	CHECK_EQ_INT(store_load(b.p, b.len + 1, &c), -EINVAL);
	/* A duplicate child: rename "n1" to "n0" under /wide. */
	{
		unsigned char *q = memmem(b.p, b.len, "n1w", 3);

		CHECK(q != NULL);
		if (q) {
			q[1] = '0';
			CHECK_EQ_INT(store_load(b.p, b.len, &c), -EINVAL);
			q[1] = '/';
			CHECK_EQ_INT(store_load(b.p, b.len, &c), -EINVAL);
			q[1] = '1';
		}
	}
	CHECK_EQ_INT(store_load(b.p, b.len, &c), 0);
	store_free(c);
	free(b.p);
	free(b2.p);
	store_free(s);
}

/* ---- allocation failures ---- */

struct fault_case {
	const char *what;
	/* Set up `s` (no faults), then the step under test. */
	void (*setup)(struct store *s, struct txn **t);
	int (*step)(struct store *s, struct txn *t);
};

static void setup_base(struct store *s, struct txn **t)
{
	static const struct perm_entry p5[2] = {{5, PERM_NONE}, {7, PERM_READ}};
	static const struct perm_entry p7[3] = {
	    {7, PERM_NONE}, {5, PERM_READ}, {0, PERM_WRITE}};

	/* Domain 5 owns a subtree and is named in other lists: forgetting
	 * it is several changes (strip /other, @introduceDomain; rm). */
	store_write(s, NULL, &st_dom0, "/local/domain/5/a/b", "x", 1);
	store_set_perms(s, NULL, &st_dom0, "/local/domain/5/a", p5, 2);
	store_set_perms(s, NULL, &st_dom0, "/local/domain/5", p5, 2);
	store_set_perms(s, NULL, &st_dom0, "@introduceDomain", p7 + 1, 2);
	store_write(s, NULL, &st_dom0, "/other/x", "y", 1);
	store_set_perms(s, NULL, &st_dom0, "/other", p7, 3);
	store_set_perms(s, NULL, &st_dom0, "/other/x", p7, 2);
	*t = NULL;
}

static void setup_txn(struct store *s, struct txn **t)
{
	setup_base(s, t);
	store_txn_start(s, &st_dom0, t);
	store_write(s, *t, &st_dom0, "/n/1/2", "a", 1);
	store_rm(s, *t, &st_dom0, "/other/x");
	store_write(s, *t, &st_dom0, "/other/x", "b", 1);
	store_mkdir(s, *t, &st_dom0, "/n/3");
}

static int step_write(struct store *s, struct txn *t)
{
	return store_write(s, NULL, &st_dom0, "/q/r/s/t", "value", 5);
}

static int step_perms(struct store *s, struct txn *t)
{
	static const struct perm_entry p[3] = {
	    {7, PERM_NONE}, {5, PERM_READ}, {0, PERM_BOTH}};

	return store_set_perms(s, NULL, &st_dom0, "/other/x", p, 3);
}

static int step_rm(struct store *s, struct txn *t)
{
	return store_rm(s, NULL, &st_dom0, "/local/domain/5");
}

static int step_commit(struct store *s, struct txn *t)
{
	return store_txn_end(s, t, true);
}

static int step_forget(struct store *s, struct txn *t)
{
	return store_forget_domain(s, 5);
}

static void test_alloc_failures(void)
{
	static const struct fault_case cases[] = {
	    {"write", setup_base, step_write},
	    {"set_perms", setup_base, step_perms},
	    {"rm", setup_base, step_rm},
	    {"commit", setup_txn, step_commit},
	    {"forget", setup_base, step_forget},
	};

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const struct fault_case *fc = &cases[k];
		bool is_done = false;

		for (long n = 0; !is_done && n < 1000; n++) {
			struct recs *r = calloc(1, sizeof(*r));
			struct store *s = store_new(), *before, *replica;
			struct txn *t;
			long live;
			int err;

			fc->setup(s, &t);
			before = copy_of(s);
			replica = copy_of(s);
			store_set_record_cb(s, rec_cb, r);
			live = xalloc_live();
			xalloc_fail_after(n);
			err = fc->step(s, t);
			is_done = xalloc_fail_after(-1) <= n;
			if (err == -ENOMEM) {
				if (!store_equal(s, before))
					printf("  %s: fault %ld changed it\n",
					       fc->what, n);
				CHECK(store_equal(s, before));
				CHECK_EQ_INT(r->n, 0);
				/* The store may keep grown scratch (the
				 * record buffer): leaks are ASan's to find
				 * once it is freed. */
				(void)live;
			} else {
				CHECK_EQ_INT(err, 0);
				CHECK_EQ_INT(r->n, 1);
				/* The record redoes it, under faults too. */
				if (r->n) {
					int e2;

					for (long m = 0;; m++) {
						struct store *cp =
						    copy_of(replica);

						xalloc_fail_after(m);
						e2 = store_replay(cp, r->v[0].p,
						                  r->v[0].len);
						xalloc_fail_after(-1);
						if (e2 == -ENOMEM) {
							CHECK(store_equal(
							    cp, replica));
						} else {
							CHECK_EQ_INT(e2, 0);
							CHECK(
							    store_equal(cp, s));
						}
						STORE_OK(cp);
						store_free(cp);
						if (e2 != -ENOMEM)
							break;
					}
				}
			}
			if (t && err == -ENOMEM && fc->step != step_commit)
				store_txn_end(s, t, false);
			STORE_OK(s);
			recs_clear(r);
			free(r);
			store_free(before);
			store_free(replica);
			store_free(s);
		}
		CHECK(is_done);
	}
}

/* A replayed journal costs what the live store did: nodes whose
 * records carry the same permissions share one copy of them, as nodes
 * that inherited their parent's do, instead of one allocation each
 * (a million of them after a restart). */
static void test_replay_shares_perms(void)
{
	struct store *s = store_new();
	struct recs *r = calloc(1, sizeof(*r));
	long before;

	CHECK_EQ_INT(store_mkdir(s, NULL, &st_dom0, "/d"), 0);
	r->replica = copy_of(s);
	CHECK(r->replica != NULL);
	store_set_record_cb(s, rec_cb, r);
	before = xalloc_live();
	for (int i = 0; i < 200; i++) {
		char path[32];

		snprintf(path, sizeof(path), "/d/n%d", i);
		CHECK_EQ_INT(store_write(s, NULL, &st_dom0, path, "v", 1), 0);
	}
	/* Both stores grew by 200 nodes (and a child array or two); the
	 * live one shares /d's permissions, the replica must too. */
	CHECK_EQ_INT(r->replay_err, 0);
	CHECK(store_equal(s, r->replica));
	CHECK(xalloc_live() - before < 2 * 200 + 40);
	store_free(r->replica);
	store_free(s);
	recs_clear(r);
	free(r);
	CHECK_EQ_INT(xalloc_live(), 0);
}

static void test_dump_load_alloc_failures(void)
{
	struct store *s = store_new(), *c;
	struct st_buf b = {0};
	bool is_done = false;

	setup_base(s, &(struct txn *){NULL});
	for (long n = 0; !is_done; n++) {
		struct st_buf d = {0};
		int err;

		xalloc_fail_after(n);
		err = store_dump(s, st_buf_write, &d);
		is_done = xalloc_fail_after(-1) <= n;
		CHECK(err == 0 || err == -ENOMEM);
		if (!err && !b.p)
			b = d;
		else
			free(d.p);
	}
	CHECK(b.p != NULL);
	is_done = false;
	for (long n = 0; !is_done; n++) {
		long live = xalloc_live();
		int err;

		xalloc_fail_after(n);
		err = store_load(b.p, b.len, &c);
		is_done = xalloc_fail_after(-1) <= n;
		if (err) {
			CHECK_EQ_INT(err, -ENOMEM);
			CHECK_EQ_INT(xalloc_live(), live);
		} else {
			CHECK(store_equal(s, c));
			STORE_OK(c);
			store_free(c);
		}
	}
	free(b.p);
	store_free(s);
}

static const struct check_test tests[] = {
    CHECK_TEST(test_one_record_per_change),
    CHECK_TEST(test_random_history_replay),
    CHECK_TEST(test_corrupt_records),
    CHECK_TEST(test_inconsistent_records),
    CHECK_TEST(test_dump_load),
    CHECK_TEST(test_alloc_failures),
    CHECK_TEST(test_replay_shares_perms),
    CHECK_TEST(test_dump_load_alloc_failures),
};

CHECK_MAIN(tests)
