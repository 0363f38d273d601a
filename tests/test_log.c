/*
 * Log lines as JSON: "event key=value" messages become fields, numbers stay numbers. A log
 * reader that stalls never blocks the writer: lines wait in a bounded queue or are dropped
 * and counted, and none is torn.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "log.h"

static void json(const char *msg, const char *want)
{
	char out[1024];
	size_t n = log_json_fields(msg, out, sizeof(out));

	assert_int_equal(n, strlen(out));
	assert_string_equal(out, want);
}

static void structured_messages_become_fields(void **state)
{
	json("closed client=127.0.0.1:5 end=client-closed connect_ms=0.4 to_server=1048576",
	     ",\"event\":\"closed\",\"client\":\"127.0.0.1:5\",\"end\":\"client-closed\","
	     "\"connect_ms\":0.4,\"to_server\":1048576");
	json("closed server=- connect_ms=-1.0 n=0",
	     ",\"event\":\"closed\",\"server\":\"-\",\"connect_ms\":-1.0,\"n\":0");
}

static void other_messages_stay_whole(void **state)
{
	json("listening on 127.0.0.1:80 (frontend web)",
	     ",\"msg\":\"listening on 127.0.0.1:80 (frontend web)\"");
	json("a=b c=d", ",\"msg\":\"a=b c=d\"");
	json("event =bad", ",\"msg\":\"event =bad\"");
}

static void strings_are_escaped(void **state)
{
	json("say \"hi\"\\\n", ",\"msg\":\"say \\\"hi\\\"\\\\\\u000a\"");
	json("ev k=\"q\"", ",\"event\":\"ev\",\"k\":\"\\\"q\\\"\"");
}

static void leading_zeros_and_words_are_strings(void **state)
{
	json("ev a=007 b=1e3 c=1. d=.5 e=12", ",\"event\":\"ev\",\"a\":\"007\",\"b\":\"1e3\","
					      "\"c\":\"1.\",\"d\":\".5\",\"e\":12");
}

static void output_is_bounded(void **state)
{
	char small[32];
	size_t n = log_json_fields("closed client=127.0.0.1:5 end=client-closed", small,
				   sizeof(small));

	assert_true(n < sizeof(small));
}

/* Read what the pipe holds now into `text` (appending); false once nothing came. */
static bool read_some(int fd, char *text, size_t *len, size_t cap)
{
	ssize_t n = read(fd, text + *len, cap - 1 - *len);

	if (n <= 0)
		return false;
	*len += (size_t)n;
	text[*len] = '\0';
	return true;
}

/*
 * 20,000 lines to a pipe nobody reads: logging returns at once every time (alarm fails the
 * test if it ever blocks). When the reader catches up, every line it gets is whole, each
 * line was either delivered or counted as dropped, and one line says how many were.
 */
static void a_stalled_reader_never_blocks(void **state)
{
	enum { LINES = 20000 };
	size_t cap = 8 << 20, len = 0, got = 0;
	char *text = malloc(cap), *p;
	uint64_t dropped_before = log_dropped_total(), dropped;
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	int fds[2];

	assert_non_null(text);
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0); /* blocking, as an inherited stderr is */
	log_init(fds[1], WLOG_INFO, WLOG_TEXT);
	alarm(20);
	for (int i = 0; i < LINES; i++)
		log_msg(WLOG_INFO, "closed client=127.0.0.1:%d end=client-closed padding=%s", i,
			"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	alarm(0);
	dropped = log_dropped_total() - dropped_before;
	assert_true(dropped > 0);

	/* The reader catches up; the loop flushes what was queued. */
	assert_int_equal(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
	log_attach(loop);
	for (int i = 0; i < 2000 && !strstr(text, "log lines dropped"); i++) {
		while (read_some(fds[0], text, &len, cap))
			;
		ev_run(loop, EVRUN_NOWAIT);
		usleep(1000);
	}
	p = strstr(text, "log lines dropped");
	assert_non_null(p);
	assert_true(strstr(text, "warning: ") < p);
	for (char *line = text; *line; line = strchr(line, '\n') + 1) {
		assert_non_null(strchr(line, '\n')); /* whole */
		assert_memory_equal(line, "20", 2);  /* starts with its timestamp */
		got += strstr(line, " closed client=") &&
		       strstr(line, " closed client=") < strchr(line, '\n');
	}
	assert_int_equal(got + dropped, LINES);
	{
		char want[64];
		snprintf(want, sizeof(want), "%llu log lines dropped", (unsigned long long)dropped);
		assert_non_null(strstr(text, want));
	}
	log_detach(0);
	ev_loop_destroy(loop);
	close(fds[0]);
	close(fds[1]);
	free(text);
	log_init(2, WLOG_ERROR, WLOG_TEXT);
}

/* A reader that is gone (EPIPE): lines are dropped and counted, nothing blocks or dies. */
static void a_reader_that_left_costs_nothing(void **state)
{
	uint64_t before = log_dropped_total();
	int fds[2];

	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	close(fds[0]);
	log_init(fds[1], WLOG_INFO, WLOG_TEXT);
	for (int i = 0; i < 100; i++)
		log_msg(WLOG_INFO, "line %d", i);
	assert_int_equal(log_dropped_total() - before, 100);
	log_detach(0);
	close(fds[1]);
	log_init(2, WLOG_ERROR, WLOG_TEXT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(structured_messages_become_fields),
		cmocka_unit_test(other_messages_stay_whole),
		cmocka_unit_test(strings_are_escaped),
		cmocka_unit_test(leading_zeros_and_words_are_strings),
		cmocka_unit_test(output_is_bounded),
		cmocka_unit_test(a_stalled_reader_never_blocks),
		cmocka_unit_test(a_reader_that_left_costs_nothing),
	};
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
