/* The activity list behind idle expiry, and the connection budget from a descriptor limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "idle.h"
#include "proxy.h"

static void assert_order(const struct idle_list *l, struct idle_entry *const *want, size_t n)
{
	const struct idle_entry *e = idle_list_oldest(l), *prev = NULL;

	assert_int_equal(l->n, n);
	for (size_t i = 0; i < n; i++) {
		assert_ptr_equal(e, want[i]);
		assert_ptr_equal(e->prev, prev);
		prev = e;
		e = e->next;
	}
	assert_null(e);
	assert_ptr_equal(l->tail, n ? want[n - 1] : NULL);
}

static void push_keeps_arrival_order(void **state)
{
	struct idle_list l;
	struct idle_entry a, b, c;

	idle_list_init(&l);
	assert_null(idle_list_oldest(&l));
	idle_list_push(&l, &a, 1);
	idle_list_push(&l, &b, 2);
	idle_list_push(&l, &c, 3);
	assert_order(&l, (struct idle_entry *[]){&a, &b, &c}, 3);
}

static void touch_moves_to_the_tail(void **state)
{
	struct idle_list l;
	struct idle_entry a, b, c;

	idle_list_init(&l);
	idle_list_push(&l, &a, 1);
	idle_list_push(&l, &b, 2);
	idle_list_push(&l, &c, 3);
	idle_list_touch(&l, &a, 4); /* the head becomes the newest */
	assert_order(&l, (struct idle_entry *[]){&b, &c, &a}, 3);
	assert_true(a.last == 4);
	idle_list_touch(&l, &c, 5); /* the middle */
	assert_order(&l, (struct idle_entry *[]){&b, &a, &c}, 3);
	idle_list_touch(&l, &c, 6); /* already the tail: only the time changes */
	assert_order(&l, (struct idle_entry *[]){&b, &a, &c}, 3);
	assert_true(c.last == 6);
	/* Oldest first stays true: expiring from the head finds the least recently active. */
	assert_true(idle_list_oldest(&l)->last <= l.tail->last);
}

static void remove_anywhere(void **state)
{
	struct idle_list l;
	struct idle_entry a, b, c, d;

	idle_list_init(&l);
	idle_list_push(&l, &a, 1);
	idle_list_push(&l, &b, 2);
	idle_list_push(&l, &c, 3);
	idle_list_push(&l, &d, 4);
	idle_list_remove(&l, &b);
	assert_order(&l, (struct idle_entry *[]){&a, &c, &d}, 3);
	idle_list_remove(&l, &a);
	assert_order(&l, (struct idle_entry *[]){&c, &d}, 2);
	idle_list_remove(&l, &d);
	assert_order(&l, (struct idle_entry *[]){&c}, 1);
	idle_list_remove(&l, &c);
	assert_order(&l, NULL, 0);
	assert_null(idle_list_oldest(&l));
}

static void connection_budget_leaves_room(void **state)
{
	/* Two descriptors a connection, after what weir holds otherwise. */
	assert_int_equal(proxy_connection_budget(1024, 30), (1024 - 30) / 2);
	assert_int_equal(proxy_connection_budget(20000, 13), (20000 - 13) / 2);
	assert_int_equal(proxy_connection_budget(64, 40), (64 - 40) / 2);
	assert_int_equal(proxy_connection_budget(10, 14), 1); /* never zero */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(push_keeps_arrival_order),
		cmocka_unit_test(touch_moves_to_the_tail),
		cmocka_unit_test(remove_anywhere),
		cmocka_unit_test(connection_budget_leaves_room),
	};
	return cmocka_run_group_tests_name("idle", tests, NULL, NULL);
}
