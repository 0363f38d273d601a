/* One proxied connection: a client, the server chosen for it, and a relay each way. */
#ifndef WEIR_CONN_H
#define WEIR_CONN_H

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
#define CONN_END_MAX 16
const char *conn_end_name(unsigned end);

/* Close a connection at once, as weir stops. */
void conn_shutdown(struct conn *c);
/* Close a connection whose idle (or, half-closed, linger) timeout has passed. */
void conn_expire(struct conn *c);
/* A server slot freed up: a client waiting in the worker's queue tries again. */
void conn_dequeue(struct conn *c);

/* The connection an entry of the worker's activity lists, or of its queue, belongs to. */
struct idle_entry;
struct conn *conn_of_entry(struct idle_entry *e);
struct conn *conn_of_queue_entry(struct idle_entry *e);

#endif
