/*
 * The inside of a connection, shared by the files that implement it: conn.c (connect,
 * relay, close), conn_poll.c (watching its sockets) and conn_preface.c (what happens before
 * a server is chosen: the PROXY header, the access list and per-source limits, the TLS
 * hello). Nothing else includes this. Per loop.
 */
#ifndef WEIR_CONN_IMPL_H
#define WEIR_CONN_IMPL_H

#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <stdbool.h>
#include <stdint.h>

#include "conn.h"
#include "generation.h"
#include "idle.h"
#include "srclimit.h"
#include "log.h"
#include "pool.h"
#include "proxyproto.h"
#include "relay.h"
#include "sni.h"

#define CONN_MAGIC 0x636f6e6eu
#define CONN_DEAD  0x64656164u /* closed, waiting to be freed (events may still name it) */
/* Servers one client may try before it is closed. */
#define CONN_MAX_ATTEMPTS 8

enum conn_state {
	CONN_HEADER,	 /* reading the client's PROXY header (accept-proxy) */
	CONN_HELLO,	 /* reading the client's TLS hello for its server name (route-sni) */
	CONN_QUEUED,	 /* waiting for a slot (every usable server full, or a backlog full) */
	CONN_CONNECTING, /* a server connect is in flight; the client is only peeked at (left?) */
	CONN_RELAYING,	 /* bytes move both ways until both relays are done */
};

/* Why a connection ended: the first event that decided it (HAProxy's %ts, in words). */
enum conn_end {
	END_CLIENT_CLOSED, /* the client sent EOF first, then both directions finished */
	END_SERVER_CLOSED,
	END_CLIENT_RESET, /* an error on the client socket, passed on as a reset */
	END_SERVER_RESET,
	END_CLIENT_ABORT,   /* the client left while waiting for a slot or a connect */
	END_CONNECT_FAILED, /* every server tried refused or failed */
	END_CONNECT_TIMEOUT,
	END_NO_SERVER,	    /* no server could take the client */
	END_QUEUE_TIMEOUT,  /* every server stayed full for the connect timeout */
	END_IDLE,	    /* no bytes either way for the idle timeout */
	END_LINGER,	    /* half-closed and idle for the linger timeout */
	END_LOCAL_ERROR,    /* weir itself ran out of something (descriptors, ports, memory) */
	END_DRAIN_TIMEOUT,  /* still open when the drain timeout ran out */
	END_SHUTDOWN,	    /* weir was told to stop at once */
	END_DENIED,	    /* refused by the frontend's allow and deny */
	END_LIMITED,	    /* refused by a per-source limit */
	END_BAD_HEADER,	    /* a malformed PROXY header or TLS hello */
	END_HEADER_TIMEOUT, /* no complete PROXY header or TLS hello in time */
	END_COUNT
};
_Static_assert(END_COUNT <= CONN_END_MAX, "worker counts closes in CONN_END_MAX slots");

/*
 * One socket of a connection, watched in its worker's own epoll set (worker.h): not through
 * libev's ev_io, whose 48 bytes a side, and libev's own bookkeeping per descriptor, would
 * more than double what an idle connection costs.
 *
 * The set reports edges (EPOLLET): a socket goes in once, for what it may ever be wanted
 * for, and what it is wanted for from one moment to the next changes no system call. An
 * edge not wanted when it comes is kept in `ready` until the socket is seen drained (a read
 * that says EAGAIN, or returns less than asked with nothing behind: side_drained; a write
 * that takes less than offered). A side that wants what `ready` still says is re-armed
 * (EPOLL_CTL_MOD), which has the kernel report it again if it still holds. A missed
 * clearing costs a system call, never an event.
 */
struct side {
	int fd;
	uint8_t want;	/* EV_READ | EV_WRITE: what the connection wants to hear of now */
	uint8_t polled; /* EV_READ | EV_WRITE in the epoll set for it (0: not in it) */
	uint8_t ready;	/* EV_READ | EV_WRITE | SIDE_ENDED | SIDE_URGENT: edges seen and
			   not known to be spent */
	bool is_unix;	/* AF_UNIX: a read stops before a message that carried descriptors
			   or credentials (they are dropped), with the message behind it */
};

/*
 * In `ready`, when the last edge was reported: the peer's end (or a hang-up) had arrived;
 * urgent data (TCP's, or a unix socket's MSG_OOB) was pending. A read that returns less
 * than asked has then not drained the socket: the end is still to be read, or the read
 * stopped at the urgent mark with bytes behind it; and no new edge will say so.
 */
#define SIDE_ENDED  0x10
#define SIDE_URGENT 0x20

/* Whether a read that returns less than asked may have left bytes behind, that no new edge
 * will report. */
static inline bool side_stops_short(const struct side *s)
{
	return (s->ready & (SIDE_ENDED | SIDE_URGENT)) || s->is_unix;
}

/* The socket is drained if this read got `n` of `asked`: EAGAIN, or less and nothing behind. */
static inline bool side_drained(const struct side *s, ssize_t n, size_t asked)
{
	return n > 0 ? (size_t)n < asked && !side_stops_short(s)
		     : n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

union peer_addr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

/* What a connection needs only until it relays, freed once it does. */
struct conn_wait {
	struct conn *c;
	ev_timer timer;		  /* header, queue or connect timeout */
	struct idle_entry queued; /* in its pool's queue while CONN_QUEUED */
	uint64_t ticket;	  /* its place among every worker's waiting clients */
	struct server *tried[CONN_MAX_ATTEMPTS];
	struct server *failed; /* whose connect failed last, for the log line (NULL once the
				* client moved to a newer configuration) */
	char *pre; /* bytes read from the client before a server was chosen */
	uint32_t pre_len;
	socklen_t dst_len;
	union peer_addr dst; /* where it connected to, from its PROXY header; family 0: ask */
};

/*
 * A connection: 208 bytes while it relays, however long it idles. What only waiting needs
 * is in `wait`; the relays take its place once connected.
 */
struct conn {
	uint32_t magic;
	uint8_t state;	      /* enum conn_state */
	uint8_t first_eof;    /* END_CLIENT_CLOSED or END_SERVER_CLOSED, once eof_seen */
	uint8_t connect_fail; /* END_CONNECT_FAILED or _TIMEOUT, for the last attempt */
	uint8_t n_tried;
	bool eof_seen; /* one direction finished: first_eof says which */
	uint8_t peer_len;
	uint16_t header_sent; /* PROXY header bytes sent to the server (not the client's) */
	struct worker *w;
	struct frontend *fe;
	struct pool *pool;  /* its backend's: the frontend's, or the one its server name chose */
	struct server *srv; /* holds one of its slots (counted in srv->active) */
	struct source_slot *source; /* its place in the per-source counts, if tracked */
	struct idle_entry activity; /* in its frontend's active list, or lingering once eof_seen */
	struct side client, server;
	double t_start;
	union peer_addr peer; /* the client: from accept, or from its PROXY header */
	union {
		struct conn_wait *wait; /* until CONN_RELAYING */
		struct {
			struct relay up;   /* client -> server */
			struct relay down; /* server -> client */
			float connect_ms;
		};
		struct conn *next_dead; /* closed: in its worker's list of those to free */
	};
};

/* Events taken from a worker's epoll set at a time. */
#define CONN_EVENTS 64

/* What is read of a client before connecting: a PROXY header and its TLS hello. */
#define CONN_PRE_MAX (PROXYPROTO_MAX + SNI_HELLO_MAX)

/* Shortages of weir's own, logged at most once a second however many clients they hit. */
extern struct log_limit conn_shortage_log;

/* conn.c, for conn_preface.c and conn_poll.c. */
void conn_close(struct conn *c, enum conn_end end);
/* Watch `s` for `events` (0: not at all); false if the kernel will not watch it. */
bool conn_side_want(struct conn *c, struct side *s, int events) WEIR_WUR;
void conn_side_stop(struct conn *c, struct side *s);
void conn_connect_next(struct conn *c, bool was_waiting);
/* Its client's (server's) socket reported `revents` (EV_READ | EV_WRITE) it wants. */
void conn_client_ready(struct conn *c, int revents);
void conn_server_ready(struct conn *c, int revents);
/* Start (or restart) the waiting part's timer. */
void conn_start_timer(struct conn *c, uint64_t ms);
/* The activity list `c` is on: active, or lingering once half-closed. */
struct idle_list *conn_activity_list(struct conn *c);

/* conn_queue.c, for conn.c. */
/* Wait for a slot, behind the clients already waiting or (`at_head`) at their head. */
void conn_enqueue(struct conn *c, bool at_head);
/* Out of its line, for good (closed, or relaying). */
void conn_leave_queue(struct conn *c);

/* conn_preface.c, for conn.c. */
/* A new client: read its PROXY header, check it may come in, read its TLS hello, as the
 * frontend says; then connect. `c` may be gone on return. */
void conn_begin(struct conn *c);
/* The client's socket is readable while its first bytes are read ahead. */
void conn_read_preface(struct conn *c);

#endif
