/*
 * A listening socket and its accept loop. Per loop.
 *
 * A listener is opened (bound, listening) before it accepts anything, so a reload can open
 * every new listener first and undo them all if one fails; listener_start makes it accept.
 * TCP listeners set SO_REUSEPORT: a reload can bind an address that overlaps one the
 * running configuration still holds (127.0.0.1:80 to 0.0.0.0:80 and back), and the old
 * socket is closed only once the new one listens, after accepting what waits in its queue.
 */
#ifndef WEIR_LISTENER_H
#define WEIR_LISTENER_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"
#include "util.h"

struct worker;
struct frontend;

/* Where to listen, resolved, with what applies to a unix socket file. */
struct listen_addr {
	struct addr a;
	unsigned mode; /* permission bits for the socket file; 0: as the umask leaves them */
	uid_t uid;     /* owner; (uid_t)-1: unchanged */
	gid_t gid;
	int backlog; /* listen(2)'s; the kernel caps it at net.core.somaxconn */
};

struct listener {
	uint32_t magic;
	int fd;
	ev_io io;
	ev_timer backoff; /* accepting paused after a resource error */
	struct worker *w;
	struct frontend *fe;	  /* whose clients arrive here; NULL until started */
	char name[ADDR_TEXT_MAX]; /* the bound address, port 0 resolved */
	bool unlink_path;	  /* a unix socket file we created */
	bool passed;		  /* passed in by socket activation: the descriptor is systemd's */
	char passed_name[64];	  /* the frontend it was passed for (FileDescriptorName=) */
	bool held;		  /* not accepting: the worker is at its connection limit */
	int trouble;		  /* errno of the accept error episode under way (logged once) */
};

/*
 * A nonblocking socket listening on `a` (called `name` in errors), or -errno. A unix socket
 * file left by a process that died is replaced; one a live process listens on is not (the
 * probe never blocks: a full backlog counts as alive).
 */
int listener_socket(const struct addr *a, const char *name, int backlog,
		    struct weir_err *err) WEIR_WUR;

/* Bind and listen on `la`, with its file mode and owner for a unix socket; not accepting. */
int listener_open(struct listener **out, struct worker *w, const struct listen_addr *la,
		  struct weir_err *err) WEIR_WUR;
/* Take `fd`, a listening socket passed in by socket activation under `name` (or ""); not
 * accepting yet. */
int listener_adopt(struct listener **out, struct worker *w, int fd, const char *name,
		   struct weir_err *err) WEIR_WUR;
/* Set a kept listener's backlog, and a unix socket file's mode and owner, as `la` asks (a
 * reload may change them). */
int listener_set_access(const struct listener *l, const struct listen_addr *la,
			struct weir_err *err) WEIR_WUR;
/* Accept clients for `fe` from now on (unless `held`); may be called again to hand over. */
void listener_start(struct listener *l, struct frontend *fe, bool held);
/* Accept what waits in the queue (for its frontend), then close: no client is reset. */
void listener_close_gently(struct listener *l);
void listener_close(struct listener *l);
/* Forget a passed socket without closing it (a failed start gives it back). */
void listener_disown(struct listener *l);

/* Stop (true) or resume (false) accepting, for the connection limit. */
void listener_hold(struct listener *l, bool hold);

/* The address the socket is bound to, for matching; false if it cannot be read. */
bool listener_bound_at(const struct listener *l, const struct addr *a);

#endif
