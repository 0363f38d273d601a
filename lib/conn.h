/*
 * One proxied connection: a client, the server chosen for it, and a relay each way. Per
 * loop: a connection belongs to the worker that accepted it.
 */
#ifndef WEIR_CONN_H
#define WEIR_CONN_H

#include <stdbool.h>
#include <sys/socket.h>

struct worker;
struct frontend;
struct conn;

/*
 * Take over the accepted client `fd` and start connecting it to a server. On any failure the
 * client is closed and the reason logged; the caller has nothing to clean up.
 */
void conn_accept(struct worker *w, struct frontend *fe, int fd, const struct sockaddr *peer,
		 socklen_t len);

/* Ways a connection can end, counted by the worker; their names, or NULL past the last. */
#define CONN_END_MAX 24
const char *conn_end_name(unsigned end);

/*
 * Cut a connection at once as weir stops: at the drain deadline (`drain_deadline`) or on a
 * second SIGTERM. Both peers see a reset: the stream did not end, weir ended it.
 */
void conn_cut(struct conn *c, bool drain_deadline);
/* The server it goes to (NULL while it has none). */
struct server;
struct server *conn_server(const struct conn *c);
/* The frontend it came to (of the configuration it is counted in). */
struct frontend *conn_frontend(const struct conn *c);
/* One line about it for `show conns`, without a newline: frontend, client, server, state,
 * age, bytes each way. */
void conn_describe(const struct conn *c, char *buf, size_t len);

/* Close a connection whose idle (or, half-closed, linger) timeout has passed; a reset too. */
void conn_expire(struct conn *c);
/* A waiting client's turn: try to connect it now (it may be put back if it cannot). */
void conn_dequeue(struct conn *c);
/*
 * A waiting client moves to a newer configuration as the worker switches to it: to `fe`, its
 * frontend there, and `to`, the pool of its backend there (which shares its counts), in its
 * place by arrival. The servers a reload, a change or DNS added may then serve it, and those
 * they removed no longer do.
 */
struct frontend;
struct pool;
void conn_move_waiting(struct conn *c, struct frontend *fe, struct pool *to);

/*
 * The worker's epoll set of connection sockets is ready: handle what happened (at most
 * CONN_EVENTS events), then free the connections that closed meanwhile.
 */
void conn_poll(struct worker *w);
/* Free connections closed since (from outside a batch of events: before the loop sleeps). */
void conn_bury(struct worker *w);

/* The connection an entry of the worker's activity lists, or of its queue, belongs to. */
struct idle_entry;
struct conn *conn_of_entry(struct idle_entry *e);
struct conn *conn_of_queue_entry(struct idle_entry *e);

#endif
