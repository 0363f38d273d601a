/*
 * Server health: the UP/DOWN state of each server and the checks that decide it.
 *
 * With active checks (health-check tcp) every server is checked on its own timer, spread
 * with jitter; checks alone bring a DOWN server back UP (after `rise` passes), and `fall`
 * consecutive failures, of checks or of client connects, take it DOWN. Without active
 * checks, failed client connects take a server DOWN after `fall`; it then gets no clients,
 * and a probe (the same check, which no client waits on) runs every health-interval until
 * one passes and brings it back. A client's successful connect clears the failure count only
 * in that passive mode: with active checks a failing application check is never masked by
 * clients that can still connect.
 *
 * A check connects (and optionally sends a string and waits for an expected reply) within
 * the check timeout. Weir's own shortages (no descriptor, no local port) are not held
 * against a server.
 *
 * Checks run on the control loop, once per server whatever the number of workers; their
 * results reach every worker through the server's state. Workers report their connects
 * (health_connect_failed, health_connected) from their own threads.
 */
#ifndef WEIR_HEALTH_H
#define WEIR_HEALTH_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "pool.h"
#include "util.h"

/* Bytes of a reply searched for the expected string (config.h refuses a longer one). */
#define HEALTH_REPLY_MAX CONFIG_EXPECT_MAX

struct health_check;

struct health {
	struct ev_loop *loop;
	struct pool *pool;
	const struct backend_cfg *cfg;
	struct health_check *checks; /* one per server */
	size_t n;
	uint64_t rng; /* jitter */
	bool active;  /* check every server (health-check tcp), or probe DOWN ones only */
	bool running;
	struct health *next_running; /* the list of started ones */
	void (*capacity)(void *ctx); /* a server came UP: waiting clients may go */
	void *ctx;
};

/* Allocate the checks of `pool` (the part that can fail); nothing runs yet. */
int health_init(struct health *h, struct pool *pool, struct weir_err *err) WEIR_WUR;
/* Start checking (or, passive, probing what is DOWN). Cannot fail. */
void health_start(struct health *h, struct ev_loop *loop, void (*capacity)(void *ctx), void *ctx);
/* Stop every check and free them; a health that was only initialised is freed too. */
void health_stop(struct health *h);

/* Run the probes workers ask for on `loop` (the control loop); undo. */
void health_attach(struct ev_loop *loop);
void health_detach(void);

/* A client's connect to `s` failed (`why`, in words) or succeeded. */
void health_connect_failed(struct pool *pool, struct server *s, const char *why);
void health_connected(struct pool *pool, struct server *s);
/* A server listed again after it was removed takes `fresh`'s health: that of a new one. */
void health_renew(struct server *s, const struct server *fresh);

/* Whether a connect failed for want of something of weir's own (descriptors, local ports,
 * memory): then it says nothing about the server. */
bool health_local_shortage(int error);

#endif
