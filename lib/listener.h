/* A listening socket and its accept loop. */
#ifndef WEIR_LISTENER_H
#define WEIR_LISTENER_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "util.h"

struct worker;
struct frontend;

struct listener {
	uint32_t magic;
	int fd;
	ev_io io;
	ev_timer backoff; /* accepting paused after a resource error */
	struct worker *w;
	struct frontend *fe;	  /* whose clients arrive here */
	char name[ADDR_TEXT_MAX]; /* the bound address, port 0 resolved */
	bool unlink_path;	  /* a unix socket file we created */
	bool held;		  /* not accepting: the worker is at its connection limit */
	int trouble;		  /* errno of the accept error episode under way (logged once) */
};

/*
 * A nonblocking socket listening on `a` (called `name` in errors), or -errno. A unix socket
 * file left by a process that died is replaced; one a live process listens on is not.
 */
int listener_socket(const struct addr *a, const char *name, struct weir_err *err) WEIR_WUR;

/* Bind and listen on `a`, ready to accept (watcher started). */
int listener_open(struct listener **out, struct worker *w, const struct addr *a,
		  struct frontend *fe, struct weir_err *err) WEIR_WUR;
/* Accept on `fd`, a listening socket passed in by socket activation. */
int listener_adopt(struct listener **out, struct worker *w, int fd, struct frontend *fe,
		   struct weir_err *err) WEIR_WUR;
void listener_close(struct listener *l);

/* Stop (true) or resume (false) accepting, for the connection limit. */
void listener_hold(struct listener *l, bool hold);

#endif
