#include "idle.h"

void idle_list_init(struct idle_list *l)
{
	l->head = l->tail = NULL;
	l->n = 0;
}

void idle_list_push(struct idle_list *l, struct idle_entry *e, double now)
{
	e->last = now;
	e->next = NULL;
	e->prev = l->tail;
	if (l->tail)
		l->tail->next = e;
	else
		l->head = e;
	l->tail = e;
	l->n++;
}

void idle_list_push_front(struct idle_list *l, struct idle_entry *e)
{
	e->prev = NULL;
	e->next = l->head;
	if (l->head)
		l->head->prev = e;
	else
		l->tail = e;
	l->head = e;
	l->n++;
}

void idle_list_insert_after(struct idle_list *l, struct idle_entry *pos, struct idle_entry *e)
{
	double last = e->last;

	if (!pos) {
		idle_list_push_front(l, e);
		return;
	}
	if (pos == l->tail) {
		idle_list_push(l, e, last);
		return;
	}
	e->prev = pos;
	e->next = pos->next;
	pos->next->prev = e;
	pos->next = e;
	l->n++;
}

void idle_list_remove(struct idle_list *l, struct idle_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		l->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		l->tail = e->prev;
	e->prev = e->next = NULL;
	l->n--;
}

void idle_list_touch(struct idle_list *l, struct idle_entry *e, double now)
{
	e->last = now;
	if (l->tail == e)
		return;
	idle_list_remove(l, e);
	idle_list_push(l, e, now);
}
