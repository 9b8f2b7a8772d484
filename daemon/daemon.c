/*
 * daemon.c - the life cycle of one daemon instance: configuration
 * defaults, creating and freeing the store, the watch index and the
 * loop.  Sockets and signals belong to main.c and sock.c.
 */
#include <errno.h>
#include <malloc.h>
#include <string.h>

#include "common/log.h"
#include "daemon/conn.h"
#include "daemon/daemon.h"
#include "daemon/dispatch.h"
#include "daemon/domain.h"
#include "daemon/events.h"
#include "daemon/loop.h"
#include "daemon/persist.h"
#include "daemon/update.h"
#include "store/store.h"
#include "store/watch.h"

void daemon_config_defaults(struct daemon_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->log_level = LOG_INFO;
	quota_defaults(&cfg->quota);
	quota_soft_defaults(&cfg->quota_soft);
	/* Xen 4.17 drops watch events still undelivered after 20 s. */
	cfg->watch_event_timeout_ms = 20000;
	/* Above this much queued output a connection's requests wait. */
	cfg->conn_out_max = 256 * 1024;
	cfg->conn_events_max = 4096;
	/* 4096 events of up to 4 KiB is 16 MiB per connection; without a
	 * total, 20 dom0 clients that never read took 289 MB. */
	cfg->events_total_max = 32u << 20;
	cfg->priv_watches_max = 65536;
	cfg->priv_txns_max = 1024;
	/* A guest may change 200 nodes a second, 1000 in a burst: far above
	 * what a toolstack or PV driver does, far below a flood. */
	cfg->write_rate = 200;
	cfg->write_burst = 1000;
	/* A few request round trips on a unix socket: enough to keep a
	 * client's back-to-back requests from paying a wakeup each, short
	 * enough that an idle daemon stops polling within a millisecond. */
	cfg->poll_us = 50;
	cfg->is_persistent = true;
}

int daemon_init(struct daemon *d, const struct daemon_config *cfg)
{
	int err;

	memset(d, 0, sizeof(*d));
	d->cfg = *cfg;
	d->sock_fd = -1;
	d->sock_ro_fd = -1;
	d->next_conn_id = 1;
	/* The layers above conn.c and domain.c, reached by pointer so
	 * that neither includes dispatch.h (see the module graph). */
	d->conn_handlers = &dispatch_conn_handlers;
	d->fire_special = events_fire_special;
	siphash_key_random(&d->event_key);
	d->store = store_new();
	d->watches = watch_index_new();
	d->loop = loop_new();
	if (!d->store || !d->watches || !d->loop) {
		daemon_fini(d);
		return -ENOMEM;
	}
	loop_set_poll(d->loop, cfg->poll_us);
	loop_set_poll_hook(d->loop, conn_poll_hot, d);
	events_init(d);
	err = domain_table_init(d);
	if (err) {
		daemon_fini(d);
		return err;
	}
	return 0;
}

/*
 * Give the allocator's free pages back after the store shrank a lot (a
 * subtree of a million nodes removed, a big domain released): glibc
 * returns only the top of the heap by itself, so without this the
 * daemon keeps its peak size for good.  malloc_trim costs milliseconds
 * on a big heap, hence only after a drop of a quarter and 4 MiB.
 */
#define TRIM_MIN_BYTES ((uint64_t)4 << 20)

static void trim_memory(struct daemon *d)
{
	uint64_t now = store_node_bytes(d->store);

	if (now >= d->store_high) {
		d->store_high = now;
		return;
	}
	if (d->store_high - now < TRIM_MIN_BYTES || now > d->store_high / 4 * 3)
		return;
	malloc_trim(0);
	d->store_high = now;
	d->mem_trims++;
}

void daemon_end_turn(struct daemon *d)
{
	/* The journal first: nothing below may let a reply to a change
	 * leave, or a guest's request space go back, before the change is
	 * recorded. */
	persist_end_turn(d);
	conn_commit_all(d);
	conn_flush_all(d);
	conn_reap(d);
	trim_memory(d);
	/* Last: a live update hands over a turn that is complete. */
	update_end_turn(d);
}

void daemon_fini(struct daemon *d)
{
	/* What is recorded stays as it is: the release of every domain
	 * below is this process ending, not theirs. */
	persist_stop(d);
	update_fini(d);
	/* Domains first: their connections are detached and killed. */
	if (d->domains)
		domain_table_fini(d);
	while (d->conns)
		conn_free(d->conns);
	watch_index_free(d->watches);
	d->watches = NULL;
	store_free(d->store);
	d->store = NULL;
	if (d->loop)
		loop_free(d->loop);
	d->loop = NULL;
}
