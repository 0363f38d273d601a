#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "sni.h"

#define TLS_HANDSHAKE	    0x16
#define TLS_CLIENT_HELLO    0x01
#define TLS_EXT_SERVER_NAME 0x0000
#define TLS_RECORD_MAX	    (16384 + 2048) /* a TLSPlaintext never carries more */

static enum sni_result bad(const char **why, const char *what)
{
	if (why)
		*why = what;
	return SNI_BAD;
}

static unsigned get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/* A host name: labels of letters, digits, '-' and '_' between dots; copied in lower case. */
static enum sni_result take_name(const unsigned char *p, size_t n, char name[SNI_NAME_MAX],
				 const char **why)
{
	if (n && p[n - 1] == '.')
		n--; /* a fully qualified name's final dot */
	if (n == 0 || n > 253)
		return bad(why, "TLS: bad server name length");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '_' ||
			  (c == '.' && i > 0 && p[i - 1] != '.');
		if (!ok)
			return bad(why, "TLS: bad character in the server name");
		name[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	if (p[0] == '.' || p[n - 1] == '.') /* "a.." is "a." with an empty last label */
		return bad(why, "TLS: empty label in the server name");
	name[n] = '\0';
	return SNI_FOUND;
}

/* The server_name extension (RFC 6066 section 3): a list holding one host_name. */
static enum sni_result server_name_ext(const unsigned char *p, size_t n, char name[SNI_NAME_MAX],
				       const char **why)
{
	size_t list, off = 2;

	if (n < 2 || (list = get16(p)) != n - 2)
		return bad(why, "TLS: bad server_name list length");
	while (off < n) {
		unsigned type;
		size_t len;
		if (n - off < 3)
			return bad(why, "TLS: truncated server_name entry");
		type = p[off];
		len = get16(p + off + 1);
		if (len > n - off - 3)
			return bad(why, "TLS: server_name entry overruns the list");
		if (type == 0)
			return take_name(p + off + 3, len, name, why);
		off += 3 + len;
	}
	return SNI_NONE;
}

/* A whole ClientHello body (after its 4-byte handshake header). */
static enum sni_result client_hello(const unsigned char *p, size_t n, char name[SNI_NAME_MAX],
				    const char **why)
{
	size_t off = 2 + 32, len, ext_end;
	enum sni_result found = SNI_NONE;
	bool seen = false;

	if (n < off + 1 || p[0] != 3)
		return bad(why, "TLS: truncated or unknown ClientHello");
	len = p[off]; /* session id */
	if (len > 32 || n - off - 1 < len + 2)
		return bad(why, "TLS: bad session id");
	off += 1 + len;
	len = get16(p + off); /* cipher suites */
	if (len < 2 || len % 2 || n - off - 2 < len + 1)
		return bad(why, "TLS: bad cipher suites");
	off += 2 + len;
	len = p[off]; /* compression methods */
	if (len < 1 || n - off - 1 < len)
		return bad(why, "TLS: bad compression methods");
	off += 1 + len;
	if (off == n)
		return SNI_NONE; /* no extensions at all */
	if (n - off < 2 || get16(p + off) != n - off - 2)
		return bad(why, "TLS: bad extensions length");
	ext_end = n;
	off += 2;
	while (off < ext_end) {
		unsigned type;
		if (ext_end - off < 4)
			return bad(why, "TLS: truncated extension");
		type = get16(p + off);
		len = get16(p + off + 2);
		if (len > ext_end - off - 4)
			return bad(why, "TLS: extension overruns the hello");
		if (type == TLS_EXT_SERVER_NAME) {
			if (seen)
				return bad(why, "TLS: server_name given twice");
			seen = true;
			found = server_name_ext(p + off + 4, len, name, why);
			if (found == SNI_BAD)
				return SNI_BAD;
		}
		off += 4 + len;
	}
	return found;
}

enum sni_result sni_parse(const void *data, size_t len, char name[SNI_NAME_MAX], const char **why)
{
	const unsigned char *buf = data;
	unsigned char hs[SNI_HELLO_MAX];
	size_t pos = 0, have = 0;

	if (len == 0)
		return SNI_MORE;
	if (buf[0] != TLS_HANDSHAKE)
		return SNI_NONE; /* not TLS (or SSLv2, which has no server name) */
	if (len > SNI_HELLO_MAX)
		len = SNI_HELLO_MAX;
	/* Gather the handshake bytes of as many records as have arrived. */
	while (len - pos >= 5) {
		size_t rlen = get16(buf + pos + 3), take;
		if (buf[pos] != TLS_HANDSHAKE)
			return bad(why, "TLS: a record that is not a handshake inside the hello");
		if (buf[pos + 1] != 3 || buf[pos + 2] > 4)
			return bad(why, "TLS: unknown record version");
		if (rlen == 0 || rlen > TLS_RECORD_MAX)
			return bad(why, "TLS: bad record length");
		take = len - pos - 5 < rlen ? len - pos - 5 : rlen;
		if (take > sizeof(hs) - have)
			return bad(why, "TLS: ClientHello too long");
		memcpy(hs + have, buf + pos + 5, take);
		have += take;
		pos += 5 + take;
		if (have >= 4) {
			size_t mlen = (size_t)hs[1] << 16 | (size_t)hs[2] << 8 | hs[3];
			if (hs[0] != TLS_CLIENT_HELLO)
				return bad(why, "TLS: the first handshake is not a ClientHello");
			if (mlen > sizeof(hs) - 4)
				return bad(why, "TLS: ClientHello too long");
			if (have >= 4 + mlen)
				return client_hello(hs + 4, mlen, name, why);
		}
		if (take < rlen)
			break; /* the rest of this record has not arrived */
	}
	if (len == SNI_HELLO_MAX)
		return bad(why, "TLS: ClientHello too long");
	return SNI_MORE;
}

int sni_match(const char *pattern, const char *name)
{
	size_t pn, nn;

	if (strncmp(pattern, "*.", 2) != 0)
		return strcasecmp(pattern, name) == 0;
	pn = strlen(pattern + 1); /* ".example.org" */
	nn = strlen(name);
	return nn > pn && strcasecmp(name + nn - pn, pattern + 1) == 0;
}
