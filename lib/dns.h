/*
 * Servers from DNS. A server line with `resolve` takes its servers from the A and AAAA
 * records of its name (with the line's port), one with `resolve=srv` from the SRV records
 * of its name (their targets' addresses, with the records' ports); either is looked up
 * again every resolve-interval, with c-ares on the control loop, which never waits for it.
 * An answer that differs from the last rebuilds the running configuration (reload.h), as
 * an admin change does: new servers take clients (once a check passes, where checks are
 * on), removed ones drain, connections in flight are untouched. A failed or empty answer
 * keeps the last good one; it is logged once, and again once answers come back.
 *
 * The answers are kept in a table that the threads building configurations read
 * (dns_addresses, under a lock); a name not in it yet is looked up there and then, waiting
 * (start-up and the reload thread wait; no event loop does).
 */
#ifndef WEIR_DNS_H
#define WEIR_DNS_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "config.h"
#include "util.h"

struct proxy;
struct reloader;

/* The name servers to ask ("IP[:port],..."), or NULL for the system's (resolv.conf). */
int dns_setup(const char *resolvers, struct weir_err *err) WEIR_WUR;
/* "IP[:port],IP[:port]": a resolvers value's syntax. */
int dns_check_resolvers(const char *text, struct weir_err *err) WEIR_WUR;

/* Look up the current configuration's DNS-driven servers every interval (the control loop). */
int dns_start(struct ev_loop *loop, struct proxy *p, struct reloader *r,
	      struct weir_err *err) WEIR_WUR;
void dns_stop(void);
/*
 * A change or reload was applied or refused, and none is being read: the running
 * configuration's resolve-interval counts from now (a reload may have shortened it from an
 * hour to seconds), and the answers no line of it asks for are forgotten, so that a line
 * listed again is looked up afresh.
 */
void dns_follow(void);
/* Forget every answer and the name servers (at exit). */
void dns_cleanup(void);

/*
 * The addresses a `resolve` or `resolve=srv` server line stands for now (malloc'd, *n of
 * them, possibly none: no good answer yet). May wait for DNS: never on an event loop.
 */
int dns_addresses(const struct server_spec *spec, struct addr **out, size_t *n,
		  struct weir_err *err) WEIR_WUR;

#endif
