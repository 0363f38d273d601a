/* The options weir sets on its sockets: no Nagle delay, and keepalive and buffer sizes as
 * configured. */
#ifndef WEIR_SOCKOPT_H
#define WEIR_SOCKOPT_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "config.h"

/*
 * TCP_NODELAY, and keepalive as `ka` says, on the TCP socket `fd` (nothing for others). A
 * listening socket passes both on to every socket it accepts, so clients cost no system
 * call for them. `fresh`: a new socket, whose keepalive is off already.
 */
void sockopt_tcp(int fd, const struct config_keepalive *ka, bool fresh);

/*
 * SO_RCVBUF `rcv` and SO_SNDBUF `snd` on `fd`, each only if not 0 (the kernel then keeps
 * sizing it itself). A listening socket passes them on to every socket it accepts.
 */
void sockopt_buffers(int fd, uint64_t rcv, uint64_t snd);

/* Warn when a size asked for is above what the kernel gives a socket (net.core.rmem_max,
 * wmem_max): it would quietly cap it. */
void sockopt_check_buffers(uint64_t rcv, uint64_t snd);

/*
 * On a TCP listening socket: hand over a client only once it has sent something, or after
 * `ms` (TCP_DEFER_ACCEPT, whole seconds); 0 turns it off. A unix socket refuses it.
 */
void sockopt_defer_accept(int fd, uint64_t ms);

/*
 * Bind the socket `fd` to connect from `from` (an address, port 0). `port` 0: the kernel
 * picks one at connect (IP_BIND_ADDRESS_NO_PORT), so that ports are not used up by binds
 * that would each need one of their own. Otherwise that port, which may be bound again while
 * in TIME_WAIT or used to reach other servers (SO_REUSEADDR): connect() refuses a way to a
 * server that is taken. 0 or -errno.
 */
int sockopt_bind_source(int fd, const struct addr *from, uint16_t port);

#endif
