/*
 * The server name a TLS client asks for (SNI), read from its ClientHello without
 * terminating TLS: weir peeks at the first bytes a client sends, finds the name, and relays
 * every byte unchanged to the backend the name selects (as sniproxy, HAProxy's
 * req.ssl_sni and nginx's ssl_preread do).
 *
 * The parser is strict and incremental, like the PROXY one: given what has arrived, it says
 * the hello is complete (with or without a name), needs more bytes, or is malformed. A
 * ClientHello may span several TLS records; at most SNI_HELLO_MAX bytes of it are read.
 * Bytes that are not TLS at all, and SSLv2 hellos, carry no name. Pure functions.
 */
#ifndef WEIR_SNI_H
#define WEIR_SNI_H

#include <stddef.h>

#include "util.h"

/* The most of a client's first bytes read for its ClientHello (records included). */
#define SNI_HELLO_MAX 16384
/* The longest host name (RFC 1035), plus its terminator. */
#define SNI_NAME_MAX 256

enum sni_result {
	SNI_BAD = -1,  /* a malformed ClientHello */
	SNI_MORE = 0,  /* a valid beginning: read more */
	SNI_FOUND = 1, /* a complete ClientHello naming a server (lower case, no final dot) */
	SNI_NONE = 2,  /* a complete ClientHello without a name, or not TLS at all */
};

enum sni_result sni_parse(const void *buf, size_t len, char name[SNI_NAME_MAX],
			  const char **why) WEIR_WUR;

/*
 * Whether `name` matches `pattern`: equal (case aside), or, for "*.example.org", any name
 * ending in ".example.org" (one label or more before it).
 */
int sni_match(const char *pattern, const char *name);

#endif
