/* Log lines as JSON: "event key=value" messages become fields, numbers stay numbers. */
#include <setjmp.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(structured_messages_become_fields),
		cmocka_unit_test(other_messages_stay_whole),
		cmocka_unit_test(strings_are_escaped),
		cmocka_unit_test(leading_zeros_and_words_are_strings),
		cmocka_unit_test(output_is_bounded),
	};
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
