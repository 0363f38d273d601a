/*
 * A listening address and its accept loops.
 *
 * A listener is one address, opened by the control thread with one socket per worker: TCP
 * sockets set SO_REUSEPORT, so the kernel spreads new clients over the workers' sockets and
 * no worker is woken for a client another takes. A unix socket, or one passed by socket
 * activation, is a single socket every worker watches (each client wakes the idle workers
 * and one of them gets it: libev cannot register it with EPOLLEXCLUSIVE).
 *
 * A listener is opened (bound, listening) before it accepts anything, so a reload can open
 * every new listener first and undo them all if one fails; each worker then starts its own
 * watch (listener_start) on its own loop. SO_REUSEPORT also lets a reload bind an address
 * that overlaps one the running configuration still holds (127.0.0.1:80 to 0.0.0.0:80 and
 * back); the old sockets close only once the new ones listen, after each worker accepted
 * what waits in its queue.
 *
 * The listener is the control thread's; a watch (listener->watch[id]) is worker id's.
 */
#ifndef WEIR_LISTENER_H
#define WEIR_LISTENER_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"
#include "util.h"

struct proxy;
struct worker;
struct frontend;

/* Where to listen, resolved, with what applies to a unix socket file. */
struct listen_addr {
	struct addr a;
	unsigned mode; /* permission bits for the socket file; 0: as the umask leaves them */
	uid_t uid;     /* owner; (uid_t)-1: unchanged */
	gid_t gid;
	int backlog; /* listen(2)'s; the kernel caps it at net.core.somaxconn */
	bool shared; /* another process may listen there too: no check that none does */
};

struct listener;

/* One worker's accept loop on a listener. */
struct listener_watch {
	struct listener *l;
	struct worker *w;
	int fd; /* the worker's own socket, or the shared one; -1: closed */
	ev_io io;
	ev_timer backoff;    /* accepting paused after a resource error */
	struct frontend *fe; /* whose clients arrive here; NULL until started */
	bool held;	     /* not accepting: the connection limit is reached */
	int trouble;	     /* errno of the accept error episode under way (logged once) */
	double trouble_at;   /* when accept last failed: an episode ends a second after */
} __attribute__((aligned(64)));

struct listener {
	uint32_t magic;
	struct proxy *p;
	char name[ADDR_TEXT_MAX]; /* the bound address, port 0 resolved */
	bool unlink_path;	  /* a unix socket file we created */
	bool passed;		  /* passed in by socket activation: the descriptor is systemd's */
	bool shared;		  /* one socket for every worker (unix, passed) */
	char passed_name[64];	  /* the frontend it was passed for (FileDescriptorName=) */
	char frontend[256];	  /* the frontend it serves, by name (the control thread's) */
	struct listener_watch *watch; /* one per worker */
	unsigned n_watch;
};

/*
 * A nonblocking socket listening on `a` (called `name` in errors), or -errno. A unix socket
 * file left by a process that died is replaced; one a live process listens on is not (the
 * probe never blocks: a full backlog counts as alive). With `reuseport` (a worker's socket
 * of a frontend), others with it may listen on the same TCP address; without it (the stats
 * and admin listeners), a TCP address anything listens on is refused.
 */
int listener_socket(const struct addr *a, const char *name, int backlog, bool reuseport,
		    struct weir_err *err) WEIR_WUR;

/* Bind and listen on `la` (a socket per worker, or one shared), with its file mode and owner
 * for a unix socket; not accepting. */
int listener_open(struct listener **out, struct proxy *p, const struct listen_addr *la,
		  struct weir_err *err) WEIR_WUR;
/* Take `fd`, a listening socket passed in by socket activation under `name` (or ""); not
 * accepting yet. */
int listener_adopt(struct listener **out, struct proxy *p, int fd, const char *name,
		   struct weir_err *err) WEIR_WUR;
/* Set a kept listener's backlog, and a unix socket file's mode and owner, as `la` asks (a
 * reload may change them). */
int listener_set_access(const struct listener *l, const struct listen_addr *la,
			struct weir_err *err) WEIR_WUR;
/* Close every socket (the watches must be stopped) and free. */
void listener_close(struct listener *l);
/* Forget a passed socket without closing it (a failed start gives it back). */
void listener_disown(struct listener *l);

/* The address the socket is bound to, for matching; false if it cannot be read. */
bool listener_bound_at(const struct listener *l, const struct addr *a);
/* For `a` with port 0 (any): whether `l` is bound to its address, on whatever port. */
bool listener_bound_any_port(const struct listener *l, const struct addr *a);

/* On the watch's worker: accept clients for `fe` from now on (unless `held`); may be called
 * again to hand over. */
void listener_start(struct listener_watch *lw, struct frontend *fe, bool held);
/* Stop (true) or resume (false) accepting, for the connection limit. */
void listener_hold(struct listener_watch *lw, bool hold);
/* Accept what waits in the worker's queue (for its frontend), then stop; a worker's own
 * socket is closed, so no client is left in a queue nobody takes. */
void listener_stop_gently(struct listener_watch *lw);
/* Stop accepting and close the worker's own socket (its queue is reset). */
void listener_stop(struct listener_watch *lw);

#endif
