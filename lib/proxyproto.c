#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "proxyproto.h"

static const unsigned char v2_signature[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
					       0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
static const char v1_prefix[] = "PROXY ";

static enum proxyproto_result bad(const char **why, const char *what)
{
	if (why)
		*why = what;
	return PROXYPROTO_BAD;
}

/* Whether `buf` (len bytes) agrees with the first len bytes of `want`. */
static bool starts_like(const unsigned char *buf, size_t len, const void *want, size_t want_len)
{
	return memcmp(buf, want, len < want_len ? len : want_len) == 0;
}

/* A port: decimal, 0 to 65535, no sign, no leading zero. */
static bool parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;

	if (!*s || (s[0] == '0' && s[1]) || strlen(s) > 5)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	if (v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}

/* "PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n", complete with its CRLF, into info. */
static enum proxyproto_result parse_v1_line(char *line, struct proxyproto_info *info,
					    const char **why)
{
	char *f[7], *p = line;
	int n = 0;
	uint16_t sport, dport;

	/* Fields separated by exactly one space each; a seventh is one too many. */
	while (n < 7) {
		char *sp = strchr(p, ' ');
		f[n++] = p;
		if (!sp)
			break;
		*sp = '\0';
		p = sp + 1;
	}
	if (strcmp(f[0], "PROXY") != 0 || n < 2)
		return bad(why, "not a PROXY line");
	if (strcmp(f[1], "UNKNOWN") == 0)
		return PROXYPROTO_OK; /* whatever follows is ignored */
	if (n != 6)
		return bad(why, "PROXY v1: wrong number of fields");
	if (strcmp(f[1], "TCP4") == 0) {
		struct sockaddr_in *s = (struct sockaddr_in *)&info->src;
		struct sockaddr_in *d = (struct sockaddr_in *)&info->dst;
		if (inet_pton(AF_INET, f[2], &s->sin_addr) != 1 ||
		    inet_pton(AF_INET, f[3], &d->sin_addr) != 1)
			return bad(why, "PROXY v1: bad IPv4 address");
		s->sin_family = d->sin_family = AF_INET;
		info->src_len = info->dst_len = sizeof(struct sockaddr_in);
	} else if (strcmp(f[1], "TCP6") == 0) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&info->src;
		struct sockaddr_in6 *d = (struct sockaddr_in6 *)&info->dst;
		if (inet_pton(AF_INET6, f[2], &s->sin6_addr) != 1 ||
		    inet_pton(AF_INET6, f[3], &d->sin6_addr) != 1)
			return bad(why, "PROXY v1: bad IPv6 address");
		s->sin6_family = d->sin6_family = AF_INET6;
		info->src_len = info->dst_len = sizeof(struct sockaddr_in6);
	} else {
		return bad(why, "PROXY v1: unknown protocol");
	}
	if (!parse_port(f[4], &sport) || !parse_port(f[5], &dport))
		return bad(why, "PROXY v1: bad port");
	if (info->src.ss_family == AF_INET) {
		((struct sockaddr_in *)&info->src)->sin_port = htons(sport);
		((struct sockaddr_in *)&info->dst)->sin_port = htons(dport);
	} else {
		((struct sockaddr_in6 *)&info->src)->sin6_port = htons(sport);
		((struct sockaddr_in6 *)&info->dst)->sin6_port = htons(dport);
	}
	info->has_addr = true;
	return PROXYPROTO_OK;
}

static enum proxyproto_result parse_v1(const unsigned char *buf, size_t len,
				       struct proxyproto_info *info, const char **why)
{
	char line[PROXYPROTO_V1_MAX + 1];
	size_t n;

	for (n = 0; n < len && n < PROXYPROTO_V1_MAX; n++) {
		if (buf[n] == '\n')
			break;
		if (buf[n] < 0x20 && buf[n] != '\r')
			return bad(why, "PROXY v1: control byte in the line");
	}
	if (n == len)
		return n < PROXYPROTO_V1_MAX ? PROXYPROTO_MORE
					     : bad(why, "PROXY v1: line too long");
	if (n == PROXYPROTO_V1_MAX || n == 0 || buf[n - 1] != '\r')
		return bad(why, "PROXY v1: line not ended by CRLF within 107 bytes");
	memcpy(line, buf, n - 1);
	line[n - 1] = '\0';
	if (memchr(line, '\r', n - 1))
		return bad(why, "PROXY v1: stray CR");
	info->version = 1;
	info->length = n + 1;
	return parse_v1_line(line, info, why);
}

static enum proxyproto_result parse_v2(const unsigned char *buf, size_t len,
				       struct proxyproto_info *info, const char **why)
{
	size_t body, need;
	unsigned char ver_cmd, fam;

	if (len < 16)
		return PROXYPROTO_MORE;
	ver_cmd = buf[12];
	fam = buf[13];
	body = (size_t)buf[14] << 8 | buf[15];
	if ((ver_cmd >> 4) != 2)
		return bad(why, "PROXY v2: wrong version");
	if ((ver_cmd & 0x0f) > 1)
		return bad(why, "PROXY v2: unknown command");
	need = 16 + body;
	if (need > PROXYPROTO_V2_MAX)
		return bad(why, "PROXY v2: header too long");
	/* The family must leave room for its addresses, whatever the command. */
	switch (fam >> 4) {
	case 0: /* UNSPEC */
		break;
	case 1:
		if (body < 12)
			return bad(why, "PROXY v2: too short for IPv4 addresses");
		break;
	case 2:
		if (body < 36)
			return bad(why, "PROXY v2: too short for IPv6 addresses");
		break;
	case 3:
		if (body < 216)
			return bad(why, "PROXY v2: too short for unix addresses");
		break;
	default:
		return bad(why, "PROXY v2: unknown address family");
	}
	if ((fam & 0x0f) > 2)
		return bad(why, "PROXY v2: unknown transport");
	if (len < need)
		return PROXYPROTO_MORE;
	info->version = 2;
	info->length = need;
	/* LOCAL (a health check of the proxy before us), or not a TCP stream: no client. */
	if ((ver_cmd & 0x0f) == 0 || (fam & 0x0f) != 1)
		return PROXYPROTO_OK;
	if (fam >> 4 == 1) {
		struct sockaddr_in *s = (struct sockaddr_in *)&info->src;
		struct sockaddr_in *d = (struct sockaddr_in *)&info->dst;
		s->sin_family = d->sin_family = AF_INET;
		memcpy(&s->sin_addr, buf + 16, 4);
		memcpy(&d->sin_addr, buf + 20, 4);
		memcpy(&s->sin_port, buf + 24, 2);
		memcpy(&d->sin_port, buf + 26, 2);
		info->src_len = info->dst_len = sizeof(*s);
		info->has_addr = true;
	} else if (fam >> 4 == 2) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&info->src;
		struct sockaddr_in6 *d = (struct sockaddr_in6 *)&info->dst;
		s->sin6_family = d->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, buf + 16, 16);
		memcpy(&d->sin6_addr, buf + 32, 16);
		memcpy(&s->sin6_port, buf + 48, 2);
		memcpy(&d->sin6_port, buf + 50, 2);
		info->src_len = info->dst_len = sizeof(*s);
		info->has_addr = true;
	}
	/* A unix client: no network address to use; TLVs are skipped (their length counted). */
	return PROXYPROTO_OK;
}

enum proxyproto_result proxyproto_parse(const void *data, size_t len, enum proxyproto_accept accept,
					struct proxyproto_info *info, const char **why)
{
	const unsigned char *buf = data;

	memset(info, 0, sizeof(*info));
	if (len == 0)
		return PROXYPROTO_MORE;
	if ((accept & PROXYPROTO_V2) && starts_like(buf, len, v2_signature, sizeof(v2_signature)))
		return len < sizeof(v2_signature) ? PROXYPROTO_MORE : parse_v2(buf, len, info, why);
	if ((accept & PROXYPROTO_V1) && starts_like(buf, len, v1_prefix, sizeof(v1_prefix) - 1))
		return len < sizeof(v1_prefix) - 1 ? PROXYPROTO_MORE
						   : parse_v1(buf, len, info, why);
	return bad(why, accept == PROXYPROTO_V1	  ? "no PROXY v1 header"
			: accept == PROXYPROTO_V2 ? "no PROXY v2 header"
						  : "no PROXY header");
}

static bool tcp_pair(const struct sockaddr *a, socklen_t alen, const struct sockaddr *b,
		     socklen_t blen)
{
	return a && b && a->sa_family == b->sa_family &&
	       ((a->sa_family == AF_INET && alen >= sizeof(struct sockaddr_in) &&
		 blen >= sizeof(struct sockaddr_in)) ||
		(a->sa_family == AF_INET6 && alen >= sizeof(struct sockaddr_in6) &&
		 blen >= sizeof(struct sockaddr_in6)));
}

size_t proxyproto_build(int version, const struct sockaddr *src, socklen_t src_len,
			const struct sockaddr *dst, socklen_t dst_len, void *out, size_t cap)
{
	unsigned char *p = out;
	bool addr = tcp_pair(src, src_len, dst, dst_len);
	int n;

	if (version == 1) {
		char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
		if (!addr)
			n = snprintf(out, cap, "PROXY UNKNOWN\r\n");
		else if (src->sa_family == AF_INET)
			n = snprintf(
				out, cap, "PROXY TCP4 %s %s %u %u\r\n",
				inet_ntop(AF_INET, &((const struct sockaddr_in *)src)->sin_addr, s,
					  sizeof(s)),
				inet_ntop(AF_INET, &((const struct sockaddr_in *)dst)->sin_addr, d,
					  sizeof(d)),
				ntohs(((const struct sockaddr_in *)src)->sin_port),
				ntohs(((const struct sockaddr_in *)dst)->sin_port));
		else
			n = snprintf(
				out, cap, "PROXY TCP6 %s %s %u %u\r\n",
				inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)src)->sin6_addr,
					  s, sizeof(s)),
				inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)dst)->sin6_addr,
					  d, sizeof(d)),
				ntohs(((const struct sockaddr_in6 *)src)->sin6_port),
				ntohs(((const struct sockaddr_in6 *)dst)->sin6_port));
		return n > 0 && (size_t)n < cap ? (size_t)n : 0;
	}
	if (cap < 16 + 36)
		return 0;
	memcpy(p, v2_signature, sizeof(v2_signature));
	if (!addr) {
		p[12] = 0x20; /* v2, LOCAL */
		p[13] = 0x00; /* UNSPEC */
		p[14] = p[15] = 0;
		return 16;
	}
	p[12] = 0x21; /* v2, PROXY */
	if (src->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)src, *d = (const void *)dst;
		p[13] = 0x11; /* INET, STREAM */
		p[14] = 0;
		p[15] = 12;
		memcpy(p + 16, &s->sin_addr, 4);
		memcpy(p + 20, &d->sin_addr, 4);
		memcpy(p + 24, &s->sin_port, 2);
		memcpy(p + 26, &d->sin_port, 2);
		return 28;
	}
	{
		const struct sockaddr_in6 *s = (const void *)src, *d = (const void *)dst;
		p[13] = 0x21; /* INET6, STREAM */
		p[14] = 0;
		p[15] = 36;
		memcpy(p + 16, &s->sin6_addr, 16);
		memcpy(p + 32, &d->sin6_addr, 16);
		memcpy(p + 48, &s->sin6_port, 2);
		memcpy(p + 50, &d->sin6_port, 2);
		return 52;
	}
}
