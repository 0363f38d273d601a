/*
 * Active health checks: every server is checked on its own timer, spread with jitter so
 * servers are never all checked at once. A check connects (and optionally sends a string and
 * waits for an expected reply) within the check timeout; results move the server UP or DOWN
 * through pool_note_*.
 */
#ifndef WEIR_HEALTH_H
#define WEIR_HEALTH_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "pool.h"
#include "util.h"

struct health_check;

struct health {
	struct ev_loop *loop;
	struct pool *pool;
	const struct backend_cfg *cfg;
	struct health_check *checks; /* one per server */
	size_t n;
	uint64_t rng; /* jitter */
};

/* Start checking every server of `pool`, as its backend's health keys say. */
int health_start(struct health *h, struct ev_loop *loop, struct pool *pool,
		 struct weir_err *err) WEIR_WUR;
void health_stop(struct health *h);

#endif
