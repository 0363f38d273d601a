/*
 * addr_split on any string, for listening and for connecting, and addr_resolve followed by
 * addr_format: a resolved address renders as text that resolves back to the same address.
 *
 * Nothing may reach the network or the name service: addr_resolve is called only on what
 * getaddrinfo answers without asking anyone (a unix path, a wildcard, a numeric IPv4 or
 * IPv6 literal, as inet_pton recognises them, with a scope id that is a number or the name
 * of an interface this machine has).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>

#include "addr.h"
#include "fuzz.h"

/* Whether getaddrinfo answers `host` from the string alone (no DNS, no /etc/hosts). */
static bool numeric_host(const char *host)
{
	unsigned char bin[sizeof(struct in6_addr)];
	char v6[sizeof(((struct addr_parts *)0)->host)];
	const char *scope = strchr(host, '%');

	if (!scope)
		return inet_pton(AF_INET, host, bin) == 1 || inet_pton(AF_INET6, host, bin) == 1;
	/* glibc takes "v6%scope" as numeric only if the part before '%' is an IPv6 address;
	 * anything else goes to the name service. */
	snprintf(v6, sizeof(v6), "%.*s", (int)(scope - host), host);
	if (inet_pton(AF_INET6, v6, bin) != 1)
		return false;
	scope++;
	if (*scope && strspn(scope, "0123456789") == strlen(scope))
		return true;
	return if_nametoindex(scope) != 0;
}

static bool safe_to_resolve(const struct addr_parts *p)
{
	return p->kind == ADDR_UNIX || p->host[0] == '\0' || numeric_host(p->host);
}

/* A scope id on an address that is not link-local renders as an interface name that
 * getaddrinfo will not take back ("[::1%1]:80" prints as "[::1%lo]:80"). Not checked. */
static bool scope_name_readable(const struct addr *a)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->ss;

	if (a->ss.ss_family != AF_INET6 || !sin6->sin6_scope_id)
		return true;
	return IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr) ||
	       IN6_IS_ADDR_MC_NODELOCAL(&sin6->sin6_addr) ||
	       IN6_IS_ADDR_MC_LINKLOCAL(&sin6->sin6_addr);
}

static void check_split(const char *text, enum addr_use use, int r, const struct addr_parts *p,
			const struct weir_err *err)
{
	if (r < 0) {
		FUZZ_CHECK(r == -EINVAL, "addr_split(\"%s\") returned %d", text, r);
		FUZZ_CHECK(err->msg[0], "addr_split(\"%s\") failed without a message", text);
		return;
	}
	FUZZ_CHECK(r == 0, "addr_split(\"%s\") returned %d", text, r);
	if (p->kind == ADDR_UNIX) {
		FUZZ_CHECK(p->path[0] && strnlen(p->path, sizeof(p->path)) < sizeof(p->path),
			   "addr_split(\"%s\"): bad unix path", text);
		FUZZ_CHECK(strcmp(p->path, text + 5) == 0, "addr_split(\"%s\"): path \"%s\"", text,
			   p->path);
		return;
	}
	FUZZ_CHECK(p->kind == ADDR_INET, "addr_split(\"%s\"): kind %d", text, (int)p->kind);
	FUZZ_CHECK(strnlen(p->host, sizeof(p->host)) < sizeof(p->host),
		   "addr_split(\"%s\"): host not terminated", text);
	if (use == ADDR_CONNECT)
		FUZZ_CHECK(p->host[0] && p->port, "addr_split(\"%s\", ADDR_CONNECT): host \"%s\" port %u",
			   text, p->host, (unsigned)p->port);
}

/* Resolve `text`; every address it gives renders as text that resolves to itself alone. */
static void roundtrip(const char *text, enum addr_use use)
{
	struct weir_err err = {{0}};
	struct addr *a = NULL;
	size_t n = 0;
	int r = addr_resolve(text, use, &a, &n, &err);

	if (r < 0) {
		/* A numeric literal can still be refused (a bad scope id, say), never for
		 * want of a resolver. */
		FUZZ_CHECK(r == -ENOENT || r == -EINVAL, "addr_resolve(\"%s\") returned %d (%s)",
			   text, r, err.msg);
		FUZZ_CHECK(!a && !n && err.msg[0], "addr_resolve(\"%s\") failed untidily", text);
		return;
	}
	FUZZ_CHECK(a && n >= 1 && n <= 2, "addr_resolve(\"%s\") gave %zu addresses", text, n);
	for (size_t i = 0; i < n; i++) {
		char buf[ADDR_TEXT_MAX], again[ADDR_TEXT_MAX];
		struct addr *b = NULL;
		size_t m = 0;

		FUZZ_CHECK(addr_equal((struct sockaddr *)&a[i].ss, a[i].len,
				      (struct sockaddr *)&a[i].ss, a[i].len),
			   "\"%s\": an address differs from itself", text);
		addr_format((struct sockaddr *)&a[i].ss, a[i].len, buf, sizeof(buf));
		FUZZ_CHECK(strlen(buf) + 1 < sizeof(buf), "\"%s\" renders too long: \"%s\"", text,
			   buf);
		if (!scope_name_readable(&a[i]))
			continue;
		r = addr_resolve(buf, use, &b, &m, &err);
		FUZZ_CHECK(r == 0 && m == 1, "\"%s\" renders as \"%s\", which resolves to %d/%zu (%s)",
			   text, buf, r, m, r < 0 ? err.msg : "");
		FUZZ_CHECK(b[0].len == a[i].len &&
				   addr_equal((struct sockaddr *)&a[i].ss, a[i].len,
					      (struct sockaddr *)&b[0].ss, b[0].len),
			   "\"%s\" renders as \"%s\", which is another address", text, buf);
		addr_format((struct sockaddr *)&b[0].ss, b[0].len, again, sizeof(again));
		FUZZ_CHECK(strcmp(buf, again) == 0, "\"%s\" renders as \"%s\", then as \"%s\"", text,
			   buf, again);
		free(b);
	}
	free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size);
	struct weir_err el = {{0}}, ec = {{0}};
	struct addr_parts pl, pc;
	int rl = addr_split(text, ADDR_LISTEN, &pl, &el);
	int rc = addr_split(text, ADDR_CONNECT, &pc, &ec);

	check_split(text, ADDR_LISTEN, rl, &pl, &el);
	check_split(text, ADDR_CONNECT, rc, &pc, &ec);
	/* What one can connect to, one can listen on, and it splits the same way. */
	if (rc == 0)
		FUZZ_CHECK(rl == 0 && memcmp(&pl, &pc, sizeof(pl)) == 0,
			   "\"%s\" splits for connecting but not the same for listening", text);
	if (rl == 0 && safe_to_resolve(&pl))
		roundtrip(text, ADDR_LISTEN);
	if (rc == 0 && safe_to_resolve(&pc))
		roundtrip(text, ADDR_CONNECT);
	free(text);
	return 0;
}
