#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "units.h"

static int split_port(const char *text, const char *port, enum addr_use use,
		      struct addr_parts *parts, struct weir_err *err)
{
	uint64_t v;

	if (*port == '\0') {
		err_set(err, "address '%s' has no port", text);
		return -EINVAL;
	}
	if (units_parse_uint(port, &v) < 0 || v > 65535 || (v == 0 && use == ADDR_CONNECT)) {
		err_set(err, "address '%s' has a bad port '%s' (expected %s-65535)", text, port,
			use == ADDR_CONNECT ? "1" : "0");
		return -EINVAL;
	}
	parts->port = (uint16_t)v;
	return 0;
}

int addr_split(const char *text, enum addr_use use, struct addr_parts *parts, struct weir_err *err)
{
	const char *colon, *host = text;
	size_t hostlen;

	memset(parts, 0, sizeof(*parts));
	if (strncmp(text, "unix:", 5) == 0) {
		const char *path = text + 5;
		if (*path == '\0') {
			err_set(err, "address '%s' has an empty socket path", text);
			return -EINVAL;
		}
		if (strlen(path) >= sizeof(parts->path)) {
			err_set(err, "socket path in '%s' is longer than %zu bytes", text,
				sizeof(parts->path) - 1);
			return -EINVAL;
		}
		parts->kind = ADDR_UNIX;
		strcpy(parts->path, path);
		return 0;
	}

	parts->kind = ADDR_INET;
	if (*text == '[') {
		const char *close = strchr(text, ']');
		if (!close || close == text + 1) {
			err_set(err, "address '%s' has an unterminated or empty '[...]'", text);
			return -EINVAL;
		}
		if (close[1] != ':') {
			err_set(err, "address '%s' needs ':port' after ']'", text);
			return -EINVAL;
		}
		host = text + 1;
		hostlen = (size_t)(close - host);
		colon = close + 1;
	} else {
		colon = strrchr(text, ':');
		if (!colon) {
			err_set(err, "address '%s' needs a port (host:port, :port or unix:/path)",
				text);
			return -EINVAL;
		}
		hostlen = (size_t)(colon - text);
		if (memchr(text, ':', hostlen)) {
			err_set(err, "IPv6 address in '%s' needs brackets: [addr]:port", text);
			return -EINVAL;
		}
		if (hostlen == 1 && *text == '*')
			hostlen = 0;
	}
	if (hostlen >= sizeof(parts->host)) {
		err_set(err, "host name in '%s' is too long", text);
		return -EINVAL;
	}
	memcpy(parts->host, host, hostlen);
	parts->host[hostlen] = '\0';
	if (hostlen == 0 && use == ADDR_CONNECT) {
		err_set(err, "address '%s' needs a host to connect to", text);
		return -EINVAL;
	}
	return split_port(text, colon + 1, use, parts, err);
}

static int add_unique(struct addr **arr, size_t *n, const struct sockaddr *sa, socklen_t len)
{
	struct addr *grown;

	for (size_t i = 0; i < *n; i++)
		if ((*arr)[i].len == len && memcmp(&(*arr)[i].ss, sa, len) == 0)
			return 0;
	grown = realloc(*arr, (*n + 1) * sizeof(**arr));
	if (!grown)
		return -ENOMEM;
	*arr = grown;
	memset(&grown[*n], 0, sizeof(grown[*n]));
	memcpy(&grown[*n].ss, sa, len);
	grown[*n].len = len;
	(*n)++;
	return 0;
}

static int resolve_unix(const struct addr_parts *p, struct addr **out, size_t *n)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};

	strcpy(sun.sun_path, p->path);
	return add_unique(
		out, n, (struct sockaddr *)&sun,
		(socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(p->path) + 1));
}

static int resolve_wildcard(const struct addr_parts *p, struct addr **out, size_t *n)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(p->port)};
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(p->port)};
	int r;

	sin.sin_addr.s_addr = htonl(INADDR_ANY);
	sin6.sin6_addr = in6addr_any;
	r = add_unique(out, n, (struct sockaddr *)&sin, sizeof(sin));
	if (r == 0)
		r = add_unique(out, n, (struct sockaddr *)&sin6, sizeof(sin6));
	return r;
}

static int resolve_inet(const char *text, const struct addr_parts *p, struct addr **out, size_t *n,
			struct weir_err *err)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	char port[8];
	int r, gai;

	snprintf(port, sizeof(port), "%u", (unsigned)p->port);
	gai = getaddrinfo(p->host, port, &hints, &res);
	switch (gai) {
	case 0:
		break;
	case EAI_AGAIN:
		err_set(err, "cannot resolve '%s' now: %s", text, gai_strerror(gai));
		return -EAGAIN;
	case EAI_MEMORY:
		return -ENOMEM;
	case EAI_SYSTEM:
		err_set(err, "cannot resolve '%s': %s", text, strerror(errno));
		return -EAGAIN;
	default:
		err_set(err, "cannot resolve '%s': %s", text, gai_strerror(gai));
		return -ENOENT;
	}
	r = 0;
	for (struct addrinfo *ai = res; ai && r == 0; ai = ai->ai_next)
		if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
			r = add_unique(out, n, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(res);
	if (r == 0 && *n == 0) {
		err_set(err, "'%s' has no IPv4 or IPv6 address", text);
		r = -ENOENT;
	}
	return r;
}

int addr_resolve(const char *text, enum addr_use use, struct addr **out, size_t *n,
		 struct weir_err *err)
{
	struct addr_parts p;
	int r;

	*out = NULL;
	*n = 0;
	r = addr_split(text, use, &p, err);
	if (r < 0)
		return r;
	if (p.kind == ADDR_UNIX)
		r = resolve_unix(&p, out, n);
	else if (p.host[0] == '\0')
		r = resolve_wildcard(&p, out, n);
	else
		r = resolve_inet(text, &p, out, n, err);
	if (r == -ENOMEM)
		err_set(err, "out of memory resolving '%s'", text);
	if (r < 0) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return r;
}

void addr_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 1];

	switch (sa->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, size, "%s:%u", host, (unsigned)ntohs(sin->sin_port));
		return;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		char scope[IF_NAMESIZE + 2] = "";
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		if (sin6->sin6_scope_id) {
			char ifname[IF_NAMESIZE];
			if (if_indextoname(sin6->sin6_scope_id, ifname))
				snprintf(scope, sizeof(scope), "%%%s", ifname);
			else
				snprintf(scope, sizeof(scope), "%%%u", sin6->sin6_scope_id);
		}
		snprintf(buf, size, "[%s%s]:%u", host, scope, (unsigned)ntohs(sin6->sin6_port));
		return;
	}
	case AF_UNIX: {
		const struct sockaddr_un *sun = (const struct sockaddr_un *)sa;
		size_t plen = len > offsetof(struct sockaddr_un, sun_path)
				      ? len - offsetof(struct sockaddr_un, sun_path)
				      : 0;
		if (plen == 0 || sun->sun_path[0] == '\0')
			snprintf(buf, size, "unix:");
		else
			snprintf(buf, size, "unix:%.*s", (int)strnlen(sun->sun_path, plen),
				 sun->sun_path);
		return;
	}
	default:
		snprintf(buf, size, "(family %d)", sa->sa_family);
	}
}

void addr_set_port(struct addr *a, uint16_t port)
{
	if (a->ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&a->ss)->sin6_port = htons(port);
	else if (a->ss.ss_family == AF_INET)
		((struct sockaddr_in *)&a->ss)->sin_port = htons(port);
}

bool addr_equal(const struct sockaddr *a, socklen_t alen, const struct sockaddr *b, socklen_t blen)
{
	if (a->sa_family != b->sa_family)
		return false;
	switch (a->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0 &&
		       x->sin6_scope_id == y->sin6_scope_id;
	}
	case AF_UNIX: {
		const struct sockaddr_un *x = (const void *)a, *y = (const void *)b;
		size_t off = offsetof(struct sockaddr_un, sun_path);
		return alen > off && blen > off &&
		       strncmp(x->sun_path, y->sun_path, sizeof(x->sun_path)) == 0;
	}
	default:
		return false;
	}
}
