#include <errno.h>
#include <stdlib.h>

#include "htab.h"

int htab_init(struct htab *t, size_t n)
{
	size_t size = 8;

	while (size < 2 * n + 1)
		size *= 2;
	t->slots = calloc(size, sizeof(*t->slots));
	t->mask = size - 1;
	return t->slots ? 0 : -ENOMEM;
}

void htab_fini(struct htab *t)
{
	free(t->slots);
	t->slots = NULL;
}

void **htab_slot(const struct htab *t, uint64_t hash,
		 bool (*eq)(const void *entry, const void *key), const void *key)
{
	/* At most half full, so an empty slot always ends the probe. */
	for (size_t i = hash & t->mask;; i = (i + 1) & t->mask)
		if (!t->slots[i] || eq(t->slots[i], key))
			return &t->slots[i];
}

uint64_t hash_bytes(const void *data, size_t len, uint64_t seed)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}
