#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "htab.h"
#include "srclimit.h"

/* Slots looked at from an address's hash: its own is always among them. */
#define SOURCE_WINDOW 16

static void refill(struct bucket *b, uint64_t rate, double now)
{
	double cap = (double)rate; /* a second's worth */

	if (b->last == 0) {
		b->tokens = cap;
	} else if (now > b->last) {
		b->tokens += (now - b->last) * (double)rate;
		if (b->tokens > cap)
			b->tokens = cap;
	}
	b->last = now;
}

bool bucket_take(struct bucket *b, uint64_t rate, double now)
{
	if (!rate)
		return true;
	refill(b, rate, now);
	if (b->tokens < 1)
		return false;
	b->tokens -= 1;
	return true;
}

void bucket_put_back(struct bucket *b, uint64_t rate)
{
	if (rate && b->tokens + 1 <= (double)rate)
		b->tokens += 1;
}

double bucket_wait(const struct bucket *b, uint64_t rate, double now)
{
	double tokens = b->tokens;

	if (!rate)
		return 0;
	if (now > b->last)
		tokens += (now - b->last) * (double)rate;
	return tokens >= 1 ? 0 : (1 - tokens) / (double)rate;
}

int source_table_init(struct source_table *t, size_t n)
{
	size_t size = 64;

	while (size < n)
		size *= 2;
	t->slots = calloc(size, sizeof(*t->slots));
	t->mask = size - 1;
	t->untracked = 0;
	return t->slots ? 0 : -ENOMEM;
}

void source_table_fini(struct source_table *t)
{
	free(t->slots);
	t->slots = NULL;
}

/* The address as 16 bytes and a family; false for a client with no address (unix). */
static bool key_of(const struct sockaddr *sa, unsigned char key[16], uint8_t *family)
{
	memset(key, 0, 16);
	if (sa->sa_family == AF_INET) {
		memcpy(key, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		*family = AF_INET;
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		*family = AF_INET6;
		return true;
	}
	return false;
}

/* The slot of `key`, or one to take for it: free, or the stalest with nothing open. */
static struct source_slot *find(struct source_table *t, const unsigned char key[16], uint8_t family)
{
	size_t at = hash_bytes(key, 16, family) & t->mask;
	struct source_slot *free_slot = NULL, *stale = NULL;

	for (size_t i = 0; i < SOURCE_WINDOW; i++) {
		struct source_slot *s = &t->slots[(at + i) & t->mask];
		if (s->family == family && memcmp(s->addr, key, 16) == 0)
			return s;
		if (!s->family && !free_slot)
			free_slot = s;
		else if (s->family && s->conns == 0 && (!stale || s->seen < stale->seen))
			stale = s;
	}
	return free_slot ? free_slot : stale;
}

enum source_verdict source_admit(struct source_table *t, const struct sockaddr *addr,
				 uint64_t max_conns, uint64_t rate, double now,
				 struct source_slot **slot)
{
	unsigned char key[16];
	uint8_t family;
	struct source_slot *s;

	*slot = NULL;
	if (!t->slots || !key_of(addr, key, &family))
		return SOURCE_OK;
	s = find(t, key, family);
	if (!s) {
		t->untracked++;
		return SOURCE_OK;
	}
	if (s->family != family || memcmp(s->addr, key, 16) != 0) {
		memset(s, 0, sizeof(*s)); /* a new address, or one forgotten */
		memcpy(s->addr, key, 16);
		s->family = family;
	}
	s->seen = now;
	if (max_conns && s->conns >= max_conns)
		return SOURCE_TOO_MANY;
	if (!bucket_take(&s->rate, rate, now))
		return SOURCE_TOO_FAST;
	s->conns++;
	*slot = s;
	return SOURCE_OK;
}

void source_release(struct source_slot *slot)
{
	if (slot)
		slot->conns--;
}
