/*
 * apply.c - change sets: the one way the main tree changes, and their
 * records (the encoding of store.h, "Records").
 *
 * A change set is apply_begin, the changes (apply_change), apply_end.
 * A set of one change (a direct operation, a commit of one operation, a
 * record of one change) is applied in place: each mutation is atomic by
 * itself (store.c), and events fire at once.  A larger set is staged on
 * a private reference of the root, its events and owner accounting
 * buffered; apply_end swaps the root in only when every change
 * succeeded, so the whole set is atomic.  Either way the generations are
 * handed out in the same order, which is why replaying a record gives a
 * tree equal to the original, generations included.
 *
 * The record is encoded while the set is applied (each change before its
 * mutation, so that a failure to grow the buffer changes nothing) into
 * a buffer that lives with the store: after the first few sets, no
 * allocation.  Without a record callback nothing is encoded.  Nothing
 * here does I/O.
 */
#include <errno.h>
#include <string.h>

#include "common/xalloc.h"
#include "store/le.h"
#include "store/path.h"
#include "store/store_int.h"

#define REC_VERSION 1u
#define REC_CHANGES 1u
#define REC_HDR     16u
#define CHANGE_HDR  12u
#define PERM_BYTES  4u
#define REC_MIN_CAP 4096u
#define PERMS_MAX   UINT16_MAX

/* ---- encoding ---- */

static int rec_reserve(struct store *s, size_t more)
{
	size_t cap = s->rec_cap ? s->rec_cap : REC_MIN_CAP;
	unsigned char *p;

	if (more <= s->rec_cap - s->rec_len)
		return 0;
	while (cap - s->rec_len < more)
		cap *= 2;
	p = xrealloc(s->rec, cap);
	if (!p)
		return -ENOMEM;
	s->rec = p;
	s->rec_cap = cap;
	return 0;
}

static int rec_encode(struct store *s, const struct change *ch)
{
	unsigned int np = ch->perms ? ch->perms->n : 0;
	size_t path_len = strlen(ch->path);
	size_t vlen = ch->kind == CHANGE_WRITE ? ch->value_len : 0;
	size_t need = CHANGE_HDR + path_len + vlen + PERM_BYTES * np;
	unsigned char *p;
	int err = rec_reserve(s, need);

	if (err)
		return err;
	p = s->rec + s->rec_len;
	p[0] = (unsigned char)ch->kind;
	p[1] = 0;
	put16(p + 2, (uint16_t)np);
	put32(p + 4, (uint32_t)path_len);
	put32(p + 8, (uint32_t)vlen);
	p += CHANGE_HDR;
	memcpy(p, ch->path, path_len);
	p += path_len;
	if (vlen)
		memcpy(p, ch->value, vlen);
	p += vlen;
	for (unsigned int i = 0; i < np; i++, p += PERM_BYTES) {
		put16(p, ch->perms->e[i].domid);
		p[2] = ch->perms->e[i].access;
		p[3] = 0;
	}
	s->rec_len += need;
	return 0;
}

/* ---- the change set ---- */

int apply_begin_slow(struct store *s, struct view *v, unsigned int flags)
{
	v->is_quiet = flags & APPLY_QUIET;
	v->is_commit = flags & APPLY_COMMIT;
	s->is_recording = s->record_cb && !v->is_quiet;
	if (s->is_recording) {
		s->rec_len = 0;
		s->rec_changes = 0;
		if (rec_reserve(s, REC_HDR)) {
			s->is_recording = false;
			return -ENOMEM;
		}
		s->rec[0] = REC_VERSION;
		s->rec[1] = REC_CHANGES;
		put16(s->rec + 2, 0);
		put64(s->rec + 8, s->env.gen);
		s->rec_len = REC_HDR;
	}
	if (flags & APPLY_STAGED) {
		node_ref(s->root);
		s->stage_root = s->root;
		v->rootp = &s->stage_root;
		v->is_replay = true;
		s->replay_error = 0;
		s->nr_acct = 0;
	}
	return 0;
}

static int apply_special(struct store *s, const struct view *v,
                         const struct change *ch)
{
	int i = store_special_index(ch->path);
	struct nperms **slot;

	if (i < 0)
		return -EINVAL;
	slot = v->is_replay ? &s->staged_special[i] : &s->special_perms[i];
	nperms_ref(ch->perms);
	nperms_unref(*slot);
	*slot = ch->perms;
	return 0;
}

int apply_change(struct store *s, struct view *v, const struct change *ch,
                 bool is_walked)
{
	size_t mark = s->rec_len;
	int err = s->is_recording ? rec_encode(s, ch) : 0;

	if (err)
		return err;
	switch (ch->kind) {
	case CHANGE_WRITE:
		err = apply_write(s, v, ch, is_walked);
		break;
	case CHANGE_PERMS:
		err = apply_perms(s, v, ch, is_walked);
		break;
	case CHANGE_DEL:
		err = apply_del(s, v, ch, is_walked);
		break;
	case CHANGE_SPECIAL:
		err = apply_special(s, v, ch);
		break;
	default:
		err = -EINVAL;
	}
	if (err)
		s->rec_len = mark;
	else if (s->is_recording)
		s->rec_changes++;
	return err;
}

static void drop_staged_specials(struct store *s, bool is_keep)
{
	for (int i = 0; i < 2; i++) {
		struct nperms *p = s->staged_special[i];

		if (!p)
			continue;
		s->staged_special[i] = NULL;
		if (is_keep) {
			nperms_unref(s->special_perms[i]);
			s->special_perms[i] = p;
		} else {
			nperms_unref(p);
		}
	}
}

int apply_end_slow(struct store *s, struct view *v, int err)
{
	if (v->is_replay) {
		struct node *before = s->root;

		if (!err)
			err = s->replay_error;
		if (err) {
			node_unref(&s->env, s->stage_root);
			store_flush_events(s, false, NULL);
			drop_staged_specials(s, false);
		} else {
			/* The point of no return: nothing below can fail. */
			s->root = s->stage_root;
			for (unsigned int i = 0; i < s->nr_acct; i++)
				acct_apply(s, s->acct[i].domid,
				           s->acct[i].delta, s->acct[i].bytes);
			drop_staged_specials(s, true);
			store_flush_events(s, true,
			                   v->is_commit ? before : NULL);
			node_unref(&s->env, before);
		}
		s->stage_root = NULL;
		s->nr_acct = 0;
		v->rootp = &s->root;
		v->is_replay = false;
	}
	if (s->is_recording) {
		s->is_recording = false;
		if (!err && s->rec_changes) {
			put32(s->rec + 4, s->rec_changes);
			s->record_cb(s->record_opaque, s->rec, s->rec_len);
		}
	}
	return err;
}

void store_set_record_cb(struct store *s, store_record_cb *cb, void *opaque)
{
	s->record_cb = cb;
	s->record_opaque = opaque;
}

/* ---- replay ---- */

/* One change of a record, its bounds checked; perms still encoded. */
struct raw_change {
	unsigned int kind, nperms;
	const char *path;
	size_t path_len;
	const unsigned char *value;
	size_t value_len;
	const unsigned char *perms;
};

static bool is_kind_valid(unsigned int kind)
{
	return kind >= CHANGE_WRITE && kind <= CHANGE_SPECIAL;
}

/*
 * Decode the change at *off of `len` bytes of `p`, checking everything
 * that does not depend on the store: bounds, kind, counts, the path's
 * syntax, the perms' form.  Advances *off.  0 or -EINVAL.
 */
static int raw_decode(const unsigned char *p, size_t len, size_t *off,
                      struct raw_change *rc, char *path_buf)
{
	size_t at = *off, need;

	if (len - at < CHANGE_HDR)
		return -EINVAL;
	rc->kind = p[at];
	rc->nperms = get16(p + at + 2);
	rc->path_len = get32(p + at + 4);
	rc->value_len = get32(p + at + 8);
	if (!is_kind_valid(rc->kind) || p[at + 1] != 0 ||
	    (rc->kind == CHANGE_DEL) != (rc->nperms == 0) ||
	    (rc->kind != CHANGE_WRITE && rc->value_len) ||
	    rc->value_len > XS_PAYLOAD_MAX || rc->path_len == 0 ||
	    rc->path_len > XS_ABS_PATH_MAX)
		return -EINVAL;
	at += CHANGE_HDR;
	need = rc->path_len + rc->value_len + (size_t)PERM_BYTES * rc->nperms;
	if (len - at < need)
		return -EINVAL;
	memcpy(path_buf, p + at, rc->path_len);
	path_buf[rc->path_len] = '\0';
	rc->path = path_buf;
	if (strlen(path_buf) != rc->path_len ||
	    path_check(path_buf,
	               rc->kind == CHANGE_SPECIAL ? PATH_ALLOW_SPECIAL : 0) ||
	    (rc->kind == CHANGE_SPECIAL) != (path_buf[0] == '@') ||
	    (rc->kind == CHANGE_SPECIAL && store_special_index(path_buf) < 0))
		return -EINVAL;
	at += rc->path_len;
	rc->value = p + at;
	at += rc->value_len;
	rc->perms = p + at;
	for (unsigned int i = 0; i < rc->nperms; i++)
		if (rc->perms[4 * i + 2] > PERM_BOTH ||
		    rc->perms[4 * i + 3] != 0)
			return -EINVAL;
	at += (size_t)PERM_BYTES * rc->nperms;
	*off = at;
	return 0;
}

/* Do the entries of `rc` say the same as `p`? */
static bool raw_same_perms(const struct raw_change *rc, const struct nperms *p)
{
	if (!p || p->n != rc->nperms)
		return false;
	for (unsigned int i = 0; i < rc->nperms; i++)
		if (p->e[i].domid != get16(rc->perms + PERM_BYTES * i) ||
		    p->e[i].access != rc->perms[PERM_BYTES * i + 2])
			return false;
	return true;
}

/* The permissions of `rc`, referenced (the last ones replayed when they
 * are the same); NULL for none, or on ENOMEM. */
static struct nperms *raw_perms(struct store *s, const struct raw_change *rc)
{
	struct perm_entry few[16], *e = few;
	struct nperms *np;

	if (!rc->nperms)
		return NULL;
	if (raw_same_perms(rc, s->replay_perms)) {
		nperms_ref(s->replay_perms);
		return s->replay_perms;
	}
	if (rc->nperms > 16) {
		e = xmalloc(rc->nperms * sizeof(*e));
		if (!e)
			return NULL;
	}
	for (unsigned int i = 0; i < rc->nperms; i++) {
		e[i].domid = get16(rc->perms + PERM_BYTES * i);
		e[i].access = rc->perms[PERM_BYTES * i + 2];
	}
	np = nperms_new(e, rc->nperms);
	if (e != few)
		xfree(e);
	if (np) {
		nperms_unref(s->replay_perms);
		nperms_ref(np);
		s->replay_perms = np;
	}
	return np;
}

int store_replay(struct store *s, const void *rec, size_t len)
{
	const unsigned char *p = rec;
	struct view v = {&s->root, NULL, true, false, false, false};
	struct raw_change rc;
	char path[XS_ABS_PATH_MAX + 1];
	uint64_t gen, saved_gen = s->env.gen;
	uint32_t count;
	size_t off = REC_HDR;
	int err = 0;

	if (len < REC_HDR || p[0] != REC_VERSION || p[1] != REC_CHANGES ||
	    get16(p + 2) != 0)
		return -EINVAL;
	count = get32(p + 4);
	gen = get64(p + 8);
	if (count == 0 || gen < s->env.gen)
		return -EINVAL;
	/* Everything that needs no store first: a malformed record is
	 * refused before anything happens. */
	for (uint32_t i = 0; i < count && !err; i++)
		err = raw_decode(p, len, &off, &rc, path);
	if (!err && off != len)
		err = -EINVAL;
	if (!err)
		err = apply_begin(s, &v,
		                  APPLY_QUIET | (count > 1 ? APPLY_STAGED : 0));
	if (err)
		return err;
	s->env.gen = gen;
	off = REC_HDR;
	for (uint32_t i = 0; i < count && !err; i++) {
		struct change ch = {0};

		raw_decode(p, len, &off, &rc, path);
		ch.kind = (enum change_kind)rc.kind;
		ch.path = rc.path;
		ch.value = rc.value;
		ch.value_len = rc.value_len;
		ch.perms = raw_perms(s, &rc);
		if (rc.nperms && !ch.perms) {
			err = -ENOMEM;
			break;
		}
		err = apply_change(s, &v, &ch, false);
		/* A change that does not fit the tree: not our record. */
		if (err && err != -ENOMEM)
			err = -EINVAL;
		nperms_unref(ch.perms);
	}
	err = apply_end(s, &v, err);
	if (err)
		s->env.gen = saved_gen;
	return err;
}
