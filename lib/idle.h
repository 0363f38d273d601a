/*
 * Connections of one loop in order of last activity, oldest first. Touching an entry moves it
 * to the tail in O(1), so the oldest connection is always at the head and one timer per loop
 * can expire idle connections from there, instead of one timer per connection re-armed on
 * every read (libev's manual, "Be smart about timeouts", method 4).
 */
#ifndef WEIR_IDLE_H
#define WEIR_IDLE_H

#include <stddef.h>

struct idle_entry {
	struct idle_entry *prev, *next;
	double last; /* clock_mono() of the last activity */
};

struct idle_list {
	struct idle_entry *head, *tail;
	size_t n;
};

void idle_list_init(struct idle_list *l);
void idle_list_push(struct idle_list *l, struct idle_entry *e, double now);
/* At the head, as if it were the oldest (a waiting client put back in its place). */
void idle_list_push_front(struct idle_list *l, struct idle_entry *e);
/* Right after `pos` (NULL: at the head), `e->last` as it is: for a caller that keeps the
 * order itself (an entry moved from another list). */
void idle_list_insert_after(struct idle_list *l, struct idle_entry *pos, struct idle_entry *e);
void idle_list_remove(struct idle_list *l, struct idle_entry *e);
void idle_list_touch(struct idle_list *l, struct idle_entry *e, double now);

static inline struct idle_entry *idle_list_oldest(const struct idle_list *l)
{
	return l->head;
}

#endif
