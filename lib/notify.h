/*
 * systemd's side channels, spoken directly (no libsystemd): service notifications
 * (READY=1, STOPPING=1, STATUS=...) to $NOTIFY_SOCKET, and sockets passed by socket
 * activation ($LISTEN_FDS, checked against $LISTEN_PID, named by $LISTEN_FDNAMES).
 */
#ifndef WEIR_NOTIFY_H
#define WEIR_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "util.h"

/* Send `state` ("READY=1\nSTATUS=...") if weir runs under systemd; 0 or -errno. */
int notify_send(const char *state) WEIR_WUR;

/* A listening socket systemd passed in. */
struct inherited {
	int fd;
	char name[64]; /* from LISTEN_FDNAMES; "" if none */
	struct sockaddr_storage addr;
	socklen_t len;
	bool used;
};

/*
 * Take the sockets passed by socket activation (none unless LISTEN_PID is this process),
 * mark them close-on-exec and clear the variables so children do not see them.
 */
int notify_inherited(struct inherited **out, size_t *n, struct weir_err *err) WEIR_WUR;

#endif
