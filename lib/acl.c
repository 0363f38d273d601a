#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"

typedef unsigned __int128 u128;

struct acl_range {
	u128 first; /* from this address up to the next range's first */
	bool allow;
};

/* A parsed prefix: its family, first and last address, length and verdict. */
struct rule {
	int family;
	u128 first, last;
	unsigned len;
	bool allow;
};

static u128 from_bytes(const unsigned char *p, size_t n)
{
	u128 v = 0;

	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static int parse(const char *text, struct rule *r, struct weir_err *err)
{
	char host[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(text, '/');
	size_t hlen = slash ? (size_t)(slash - text) : strlen(text);
	unsigned char bytes[16];
	unsigned long len;
	unsigned bits;
	char *end;

	if (hlen >= sizeof(host))
		goto bad;
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, bytes) == 1) {
		r->family = AF_INET;
		bits = 32;
	} else if (inet_pton(AF_INET6, host, bytes) == 1) {
		r->family = AF_INET6;
		bits = 128;
	} else {
		goto bad;
	}
	len = bits;
	if (slash) {
		/* Digits only: strtoul would also take blanks and a sign before them. */
		if (slash[1] < '0' || slash[1] > '9')
			goto bad;
		len = strtoul(slash + 1, &end, 10);
		if (*end || len > bits)
			goto bad;
	}
	r->len = (unsigned)len;
	r->first = from_bytes(bytes, bits / 8);
	{
		/* The host part's bits; a shift by the full 128 bits would be undefined. */
		u128 host_mask = len == bits	     ? 0
				 : bits - len == 128 ? ~(u128)0
						     : ((u128)1 << (bits - len)) - 1;
		if (r->first & host_mask) {
			err_set(err, "'%s' has bits set past its /%lu", text, len);
			return -EINVAL;
		}
		r->last = r->first | host_mask;
	}
	return 0;
bad:
	err_set(err, "'%s' is not an address or a CIDR prefix (like 10.0.0.0/8 or 2001:db8::/32)",
		text);
	return -EINVAL;
}

int acl_parse_prefix(const char *text, struct weir_err *err)
{
	struct rule r;

	return parse(text, &r, err);
}

/* Wider first, then deny before allow: the order the flattening sweep takes them in. */
static int rule_order(const void *a, const void *b)
{
	const struct rule *x = a, *y = b;

	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return (int)x->allow - (int)y->allow;
}

/*
 * Sweep the sorted prefixes of one family into ranges: a prefix opens a range with its
 * verdict and, past its last address, the enclosing prefix (or the default) takes over
 * again. The stack holds the prefixes containing the current address, innermost on top.
 */
struct sweep {
	struct acl_range *ranges;
	size_t n;
	struct rule **stack;
	size_t depth;
	bool default_allow;
};

/* From `at` on, `allow` holds: a new range, unless it changes nothing. */
static void emit(struct sweep *s, u128 at, bool allow)
{
	if (s->n && s->ranges[s->n - 1].first == at)
		s->ranges[s->n - 1].allow = allow;
	else if (!s->n || s->ranges[s->n - 1].allow != allow)
		s->ranges[s->n++] = (struct acl_range){at, allow};
}

/* Close the prefixes that end before `limit`, innermost first. */
static void close_until(struct sweep *s, u128 limit)
{
	while (s->depth && s->stack[s->depth - 1]->last < limit) {
		const struct rule *done = s->stack[--s->depth];
		if (done->last != (u128)-1)
			emit(s, done->last + 1,
			     s->depth ? s->stack[s->depth - 1]->allow : s->default_allow);
	}
}

static int flatten(struct rule *rules, size_t n, bool default_allow, struct acl_range **out,
		   size_t *n_out)
{
	struct sweep s = {.default_allow = default_allow};

	s.stack = calloc(n ? n : 1, sizeof(*s.stack));
	s.ranges = calloc(2 * n + 1, sizeof(*s.ranges));
	if (!s.stack || !s.ranges) {
		free(s.stack);
		free(s.ranges);
		return -ENOMEM;
	}
	qsort(rules, n, sizeof(*rules), rule_order);
	for (size_t i = 0; i < n; i++) {
		struct rule *r = &rules[i];
		if (i && r->first == rules[i - 1].first && r->len == rules[i - 1].len)
			continue; /* the same prefix again: the deny, sorted first, stands */
		close_until(&s, r->first);
		emit(&s, r->first, r->allow);
		s.stack[s.depth++] = r;
	}
	close_until(&s, (u128)-1);
	free(s.stack);
	*out = s.ranges;
	*n_out = s.n;
	return 0;
}

int acl_build(struct acl *acl, char *const *allow, size_t n_allow, char *const *deny, size_t n_deny,
	      struct weir_err *err)
{
	size_t n = n_allow + n_deny, n4 = 0, n6 = 0;
	struct rule *v4 = calloc(n ? n : 1, sizeof(*v4)), *v6 = calloc(n ? n : 1, sizeof(*v6));
	int r = v4 && v6 ? 0 : -ENOMEM;

	memset(acl, 0, sizeof(*acl));
	acl->default_allow = n_allow == 0;
	acl->n_rules = n;
	for (size_t i = 0; i < n && r == 0; i++) {
		struct rule x;
		r = parse(i < n_allow ? allow[i] : deny[i - n_allow], &x, err);
		x.allow = i < n_allow;
		if (r == 0) {
			if (x.family == AF_INET)
				v4[n4++] = x;
			else
				v6[n6++] = x;
		}
	}
	if (r == 0)
		r = flatten(v4, n4, acl->default_allow, &acl->v4, &acl->n_v4);
	if (r == 0)
		r = flatten(v6, n6, acl->default_allow, &acl->v6, &acl->n_v6);
	if (r == -ENOMEM)
		err_set(err, "out of memory");
	free(v4);
	free(v6);
	if (r < 0)
		acl_free(acl);
	return r;
}

void acl_free(struct acl *acl)
{
	free(acl->v4);
	free(acl->v6);
	memset(acl, 0, sizeof(*acl));
}

static bool lookup(const struct acl_range *ranges, size_t n, u128 addr, bool default_allow)
{
	size_t lo = 0, hi = n;

	/* The last range whose first address is <= addr. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ranges[mid].first <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? ranges[lo - 1].allow : default_allow;
}

bool acl_allows(const struct acl *acl, const struct sockaddr *addr)
{
	if (!acl || acl->n_rules == 0)
		return true;
	if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)addr;
		return lookup(acl->v4, acl->n_v4, from_bytes((const void *)&sin->sin_addr, 4),
			      acl->default_allow);
	}
	if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)addr;
		const unsigned char *b = sin6->sin6_addr.s6_addr;
		/* An IPv4 client on a dual-stack socket is judged by its IPv4 address. */
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			return lookup(acl->v4, acl->n_v4, from_bytes(b + 12, 4),
				      acl->default_allow);
		return lookup(acl->v6, acl->n_v6, from_bytes(b, 16), acl->default_allow);
	}
	return true;
}
