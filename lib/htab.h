/*
 * A set of pointers found by hash: open addressing with linear probing, sized once for the
 * number of entries it will hold (at most half full), never resized. It serves the lookups
 * that must stay linear in the size of a configuration: servers and names matched across a
 * reload, duplicate names in a file. The caller hashes and compares; the table only probes.
 */
#ifndef WEIR_HTAB_H
#define WEIR_HTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct htab {
	void **slots;
	size_t mask;
};

/* Room for `n` entries. -ENOMEM or 0. */
int htab_init(struct htab *t, size_t n) WEIR_WUR;
void htab_fini(struct htab *t);

/*
 * The slot holding the entry that `eq` says matches `key`, or else the empty slot (*slot ==
 * NULL) where such an entry belongs: store it there to insert.
 */
void **htab_slot(const struct htab *t, uint64_t hash,
		 bool (*eq)(const void *entry, const void *key), const void *key);

/* FNV-1a over `len` bytes, then a 64-bit finaliser (MurmurHash3's) to spread the bits. Stable
 * across processes and machines: the hashing balancers depend on it. */
uint64_t hash_bytes(const void *data, size_t len, uint64_t seed);

static inline uint64_t hash_str(const char *s, uint64_t seed)
{
	size_t n = 0;

	while (s[n])
		n++;
	return hash_bytes(s, n, seed);
}

#endif
