/*
 * Addresses as operators write them: "host:port", ":port" or "*:port" (every address),
 * "[v6]:port", "[fe80::1%eth0]:port" (scope id) and "unix:/path".
 */
#ifndef WEIR_ADDR_H
#define WEIR_ADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "util.h"

/* Longest rendering of an address: "[" v6 "%" scope "]:" port, or "unix:" path. */
#define ADDR_TEXT_MAX 128

enum addr_kind {
	ADDR_INET,
	ADDR_UNIX,
};

/* The parts of an address string, checked for syntax but not resolved. */
struct addr_parts {
	enum addr_kind kind;
	char host[256]; /* empty: every local address (listeners only) */
	uint16_t port;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

struct addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

enum addr_use {
	ADDR_LISTEN,  /* may be a wildcard, port may be 0 (kernel picks) */
	ADDR_CONNECT, /* needs a host and a port */
};

/* Split and check `text`. -EINVAL with a sentence in `err` if it is malformed. */
int addr_split(const char *text, enum addr_use use, struct addr_parts *parts,
	       struct weir_err *err) WEIR_WUR;

/*
 * Resolve `text` into every address it names (a wildcard listener gives 0.0.0.0 and [::]).
 * On success *out is a malloc'd array of *n >= 1 entries. Errors: -EINVAL (syntax),
 * -ENOENT (the name does not exist), -EAGAIN (resolver temporarily failing), -ENOMEM.
 */
int addr_resolve(const char *text, enum addr_use use, struct addr **out, size_t *n,
		 struct weir_err *err) WEIR_WUR;

/* "127.0.0.1:80", "[::1]:80", "[fe80::1%lo]:80", "unix:/run/x.sock". */
void addr_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t size);

/* Whether two socket addresses are the same (family, address, port and scope, or path). */
bool addr_equal(const struct sockaddr *a, socklen_t alen, const struct sockaddr *b, socklen_t blen);

/* Set an IPv4 or IPv6 address's port (host order). */
void addr_set_port(struct addr *a, uint16_t port);

static inline bool addr_is_unix(const struct addr *a)
{
	return a->ss.ss_family == AF_UNIX;
}

#endif
