/*
 * The admin commands, one line each, from the admin socket (weir ctl) or the status page's
 * buttons:
 *
 *   show servers                          every server: state, health, weight, counts
 *   show conns                            every connection of every worker
 *   set server BACKEND/SERVER state ready|drain|maint
 *   set server BACKEND/SERVER weight N
 *   add server BACKEND ADDR[,options]     as -b takes it
 *   del server BACKEND/SERVER             once drained (drain or maint, no connection left)
 *   shutdown sessions server BACKEND/SERVER
 *   help
 *
 * An answer is lines of text and then a last line "ok" or "error: why". A state is set on
 * the server at once, for every worker; weights and servers change the configuration, which
 * is rebuilt off the loop and applied to every worker as one step (as a reload is), and the
 * answer comes once it is. Runs on the control thread.
 */
#ifndef WEIR_CTL_H
#define WEIR_CTL_H

#include <stdbool.h>
#include <stddef.h>

#include "proxy.h"
#include "reload.h"
#include "util.h"

/* The longest command line taken. */
#define CTL_LINE_MAX 4096

/* A growing answer; `failed`: out of memory, the answer is cut short. */
struct ctl_out {
	char *buf;
	size_t len, cap;
	bool failed;
};

void ctl_printf(struct ctl_out *out, const char *fmt, ...) WEIR_PRINTF(2, 3);
/* The last line: "ok", or "error: why". */
void ctl_finish(struct ctl_out *out, bool ok, const char *why);
void ctl_out_free(struct ctl_out *out);

enum ctl_result {
	CTL_DONE,  /* the answer is complete in `out` */
	CTL_LATER, /* a change is on its way: done(ctx, ok, why) tells how it went */
};

enum ctl_result ctl_run(struct proxy *p, struct reloader *r, const char *line, struct ctl_out *out,
			reload_done_fn *done, void *ctx);

#endif
