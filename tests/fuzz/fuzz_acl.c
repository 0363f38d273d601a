/*
 * Access lists against a reference written from acl.h. The input is lines: "+PREFIX" an
 * allow rule, "-PREFIX" a deny rule, "?ADDR" an address to judge; other lines are ignored.
 * acl_parse_prefix must agree with the documented grammar (an IPv4 or IPv6 address, then
 * optionally "/" and a decimal length no longer than the address, no host bits set). An acl
 * built from the valid rules must judge every address as the reference does (the most
 * specific prefix containing it decides, deny wins a tie, without a prefix the default is
 * allow unless there is any allow rule; an IPv4-mapped IPv6 address is judged as IPv4): the
 * addresses of "?" lines, and the edges of every rule (its first and last address, and the
 * ones just outside).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>

#include "acl.h"
#include "fuzz.h"

/* Rules and addresses at most, per input. */
#define MAX_ITEMS 64

typedef unsigned __int128 u128;

struct rule {
	bool v6, allow;
	unsigned len;
	u128 first, last;
};

static u128 from_bytes(const unsigned char *p, size_t n)
{
	u128 v = 0;

	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* The documented grammar, strictly: true and `r` filled if `text` is a valid prefix. */
static bool reference_prefix(const char *text, struct rule *r)
{
	char host[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(text, '/');
	size_t hlen = slash ? (size_t)(slash - text) : strlen(text), bits;
	unsigned char bytes[16];
	u128 mask;

	if (hlen >= sizeof(host))
		return false;
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, bytes) == 1)
		r->v6 = false;
	else if (inet_pton(AF_INET6, host, bytes) == 1)
		r->v6 = true;
	else
		return false;
	bits = r->v6 ? 128 : 32;
	r->len = (unsigned)bits;
	if (slash) {
		const char *d = slash + 1;
		size_t v = 0;
		if (!*d || strspn(d, "0123456789") != strlen(d))
			return false;
		for (; *d; d++)
			if ((v = v * 10 + (size_t)(*d - '0')) > bits)
				return false;
		r->len = (unsigned)v;
	}
	r->first = from_bytes(bytes, bits / 8);
	mask = r->len == bits ? 0 : bits - r->len == 128 ? ~(u128)0 : ((u128)1 << (bits - r->len)) - 1;
	if (r->first & mask)
		return false;
	r->last = r->first | mask;
	return true;
}

static bool reference_allows(const struct rule *rules, size_t n, bool default_allow, bool v6,
			     u128 addr)
{
	int best = -1;
	bool allow = default_allow;

	for (size_t i = 0; i < n; i++) {
		const struct rule *r = &rules[i];
		if (r->v6 != v6 || addr < r->first || addr > r->last)
			continue;
		if ((int)r->len > best) {
			best = (int)r->len;
			allow = r->allow;
		} else if ((int)r->len == best && !r->allow) {
			allow = false;
		}
	}
	return allow;
}

static void judge(const struct acl *acl, const struct rule *rules, size_t n, bool default_allow,
		  bool v6, u128 addr)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
	bool want = reference_allows(rules, n, default_allow, v6, addr);
	char text[INET6_ADDRSTRLEN];

	if (v6) {
		for (int i = 15; i >= 0; i--, addr >>= 8)
			sin6.sin6_addr.s6_addr[i] = (uint8_t)addr;
		/* An IPv4-mapped address is judged as the IPv4 address it maps. */
		if (IN6_IS_ADDR_V4MAPPED(&sin6.sin6_addr))
			want = reference_allows(rules, n, default_allow, false,
						from_bytes(sin6.sin6_addr.s6_addr + 12, 4));
		inet_ntop(AF_INET6, &sin6.sin6_addr, text, sizeof(text));
		FUZZ_CHECK(acl_allows(acl, (struct sockaddr *)&sin6) == want, "%s: expected %s",
			   text, want ? "allow" : "deny");
		return;
	}
	sin.sin_addr.s_addr = htonl((uint32_t)addr);
	inet_ntop(AF_INET, &sin.sin_addr, text, sizeof(text));
	FUZZ_CHECK(acl_allows(acl, (struct sockaddr *)&sin) == want, "%s: expected %s", text,
		   want ? "allow" : "deny");
	/* The same client on a dual-stack socket. */
	memcpy(sin6.sin6_addr.s6_addr + 10, "\xff\xff", 2);
	memcpy(sin6.sin6_addr.s6_addr + 12, &sin.sin_addr, 4);
	FUZZ_CHECK(acl_allows(acl, (struct sockaddr *)&sin6) == want, "::ffff:%s: expected %s",
		   text, want ? "allow" : "deny");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size), *line, *save = NULL;
	char *allow[MAX_ITEMS], *deny[MAX_ITEMS];
	struct rule rules[MAX_ITEMS], probes[MAX_ITEMS];
	size_t n_allow = 0, n_deny = 0, n_rules = 0, n_probes = 0;
	struct weir_err err = {{0}};
	struct acl acl;
	int r;

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct rule x = {0};
		bool valid;

		if (line[0] == '?' && n_probes < MAX_ITEMS) {
			/* An address to judge: any address, whatever bits past a length. */
			char *slash = strchr(line + 1, '/');
			if (slash)
				*slash = '\0';
			if (reference_prefix(line + 1, &x))
				probes[n_probes++] = x;
			continue;
		}
		if ((line[0] != '+' && line[0] != '-') || n_rules == MAX_ITEMS)
			continue;
		valid = reference_prefix(line + 1, &x);
		err.msg[0] = '\0';
		r = acl_parse_prefix(line + 1, &err);
		FUZZ_CHECK((r == 0) == valid, "acl_parse_prefix(\"%s\") returned %d (%s)", line + 1,
			   r, err.msg);
		FUZZ_CHECK(r == 0 || (r == -EINVAL && err.msg[0]), "acl_parse_prefix(\"%s\"): %d",
			   line + 1, r);
		if (r < 0)
			continue;
		x.allow = line[0] == '+';
		rules[n_rules++] = x;
		if (x.allow)
			allow[n_allow++] = line + 1;
		else
			deny[n_deny++] = line + 1;
	}

	r = acl_build(&acl, allow, n_allow, deny, n_deny, &err);
	FUZZ_CHECK(r == 0, "acl_build of %zu valid rules: %d (%s)", n_rules, r, err.msg);
	FUZZ_CHECK(acl.n_rules == n_rules, "n_rules %zu, expected %zu", acl.n_rules, n_rules);
	for (size_t i = 0; i < n_probes; i++)
		judge(&acl, rules, n_rules, n_allow == 0, probes[i].v6, probes[i].first);
	for (size_t i = 0; i < n_rules; i++) {
		const struct rule *x = &rules[i];
		u128 top = x->v6 ? ~(u128)0 : 0xffffffffu;

		judge(&acl, rules, n_rules, n_allow == 0, x->v6, x->first);
		judge(&acl, rules, n_rules, n_allow == 0, x->v6, x->last);
		if (x->first > 0)
			judge(&acl, rules, n_rules, n_allow == 0, x->v6, x->first - 1);
		if (x->last < top)
			judge(&acl, rules, n_rules, n_allow == 0, x->v6, x->last + 1);
	}
	/* A unix client (no address) always may connect. */
	{
		struct sockaddr unix_client = {.sa_family = AF_UNIX};
		FUZZ_CHECK(acl_allows(&acl, &unix_client), "a unix client denied");
	}
	acl_free(&acl);
	free(text);
	return 0;
}
