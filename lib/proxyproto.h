/*
 * The PROXY protocol (HAProxy's proxy-protocol.txt), versions 1 (a text line) and 2
 * (binary): a header a proxy sends first on a connection to say who the real client was.
 *
 * The parser is strict and incremental: it is given what has arrived so far and says
 * whether that is a complete header (and how long), a valid beginning of one (read more),
 * or not a header at all; a connection is then closed, never relayed. It reads nothing
 * itself, so a caller can peek at the socket, parse, and take exactly the header's bytes,
 * leaving the client's own bytes in place. Pure functions; no state.
 */
#ifndef WEIR_PROXYPROTO_H
#define WEIR_PROXYPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "util.h"

/* The longest version 1 line, CRLF included. */
#define PROXYPROTO_V1_MAX 107
/* The longest version 2 header accepted (16 bytes, addresses and TLVs); longer is refused. */
#define PROXYPROTO_V2_MAX 1024
/* Enough to peek at for any acceptable header. */
#define PROXYPROTO_MAX PROXYPROTO_V2_MAX

/* Which versions a frontend takes. */
enum proxyproto_accept {
	PROXYPROTO_V1 = 1,
	PROXYPROTO_V2 = 2,
	PROXYPROTO_ANY = 3,
};

enum proxyproto_result {
	PROXYPROTO_BAD = -1,
	PROXYPROTO_MORE = 0, /* a valid beginning: read more */
	PROXYPROTO_OK = 1,
};

struct proxyproto_info {
	int version;
	/*
	 * false: the header names no client (v1 UNKNOWN, v2 LOCAL, or a family that does not
	 * apply): use the connection's own addresses.
	 */
	bool has_addr;
	struct sockaddr_storage src, dst;
	socklen_t src_len, dst_len;
	size_t length; /* bytes the header takes */
};

/*
 * Parse the first `len` bytes a client sent. On PROXYPROTO_BAD, `why` (if given) says what
 * is wrong in a few words.
 */
enum proxyproto_result proxyproto_parse(const void *buf, size_t len, enum proxyproto_accept accept,
					struct proxyproto_info *info, const char **why) WEIR_WUR;

/*
 * The header of `version` (1 or 2) saying the client `src` connected to `dst`, into `out`
 * (at least PROXYPROTO_V1_MAX or 232 bytes); its length. Addresses of another family than
 * TCP over IPv4/IPv6 (a unix client), or a mix of families, give a header with no address
 * (v1 UNKNOWN, v2 LOCAL).
 */
size_t proxyproto_build(int version, const struct sockaddr *src, socklen_t src_len,
			const struct sockaddr *dst, socklen_t dst_len, void *out, size_t cap);

#endif
