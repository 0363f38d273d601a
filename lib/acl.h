/*
 * Access lists: `allow` and `deny` CIDR prefixes (IPv4 and IPv6, any number) decide whether
 * a client may connect. The most specific prefix that contains the address decides; `deny`
 * wins over `allow` for the same prefix; with any `allow` at all, an address no prefix
 * contains is denied, otherwise it is allowed.
 *
 * Prefixes are either nested or disjoint, so the list is flattened once, when it is built,
 * into sorted ranges of addresses that share a verdict: a lookup is one binary search, its
 * cost logarithmic in the number of prefixes. Built off the loop with the configuration;
 * read-only afterwards.
 */
#ifndef WEIR_ACL_H
#define WEIR_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "util.h"

struct acl_range;

struct acl {
	struct acl_range *v4, *v6; /* sorted by their first address */
	size_t n_v4, n_v6;
	bool default_allow; /* for addresses no prefix contains */
	size_t n_rules;
};

/* "10.0.0.0/8", "2001:db8::/32", or a single address. -EINVAL with a sentence in `err`. */
int acl_parse_prefix(const char *text, struct weir_err *err) WEIR_WUR;

/* Build from the allow and deny prefixes (checked with acl_parse_prefix). -ENOMEM or 0. */
int acl_build(struct acl *acl, char *const *allow, size_t n_allow, char *const *deny, size_t n_deny,
	      struct weir_err *err) WEIR_WUR;
void acl_free(struct acl *acl);

/* Whether `addr` may connect; a unix client (no address) always may. */
bool acl_allows(const struct acl *acl, const struct sockaddr *addr);

#endif
