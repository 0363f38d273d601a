/* Durations, sizes and counts as operators type them, and the mistakes they make. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "units.h"

static void durations(void **state)
{
	static const struct {
		const char *text;
		uint64_t ms;
	} good[] = {
		{"250ms", 250},	  {"5s", 5000},	 {"10m", 600000}, {"1h", 3600000},
		{"1d", 86400000}, {"30", 30000}, {"0", 0},	  {"0ms", 0},
	};
	uint64_t ms;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(units_parse_duration(good[i].text, &ms), 0);
		assert_int_equal(ms, good[i].ms);
	}
}

static void bad_durations(void **state)
{
	static const char *const bad[] = {"",	  "s",	  "5 s", " 5s", "5s ", "-5s",  "+5s",
					  "5.5s", "5sec", "5S",	 "5ss", "ms",  "0x10", "5m5s"};
	uint64_t ms = 7;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(units_parse_duration(bad[i], &ms), -EINVAL);
	assert_int_equal(ms, 7); /* untouched on failure */
	assert_int_equal(units_parse_duration("99999999999999999999", &ms), -ERANGE);
	assert_int_equal(units_parse_duration("9999999999999999d", &ms), -ERANGE);
}

static void sizes(void **state)
{
	uint64_t b;

	assert_int_equal(units_parse_size("65536", &b), 0);
	assert_int_equal(b, 65536);
	assert_int_equal(units_parse_size("64k", &b), 0);
	assert_int_equal(b, 65536);
	assert_int_equal(units_parse_size("64K", &b), 0);
	assert_int_equal(b, 65536);
	assert_int_equal(units_parse_size("1m", &b), 0);
	assert_int_equal(b, 1 << 20);
	assert_int_equal(units_parse_size("2G", &b), 0);
	assert_int_equal(b, 2ULL << 30);
}

static void bad_sizes(void **state)
{
	static const char *const bad[] = {"", "k", "64kb", "64 k", "-1", "1.5m", "64x", "1e3"};
	uint64_t b;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(units_parse_size(bad[i], &b), -EINVAL);
	assert_int_equal(units_parse_size("17179869184g", &b), -ERANGE);
}

static void counts(void **state)
{
	uint64_t v;

	assert_int_equal(units_parse_uint("42", &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(units_parse_uint("18446744073709551615", &v), 0);
	assert_int_equal(v, UINT64_MAX);
	assert_int_equal(units_parse_uint("18446744073709551616", &v), -ERANGE);
	assert_int_equal(units_parse_uint("4k", &v), -EINVAL);
	assert_int_equal(units_parse_uint("", &v), -EINVAL);
}

static void formatting_round_trips(void **state)
{
	static const uint64_t ms[] = {0, 1, 250, 1000, 1500, 60000, 90000, 3600000, 86400000};
	static const uint64_t bytes[] = {0, 1, 1000, 1024, 65536, 1 << 20, 3ULL << 30, 1536};
	char buf[32];
	uint64_t back;

	for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
		units_format_duration(ms[i], buf, sizeof(buf));
		assert_int_equal(units_parse_duration(buf, &back), 0);
		assert_int_equal(back, ms[i]);
	}
	for (size_t i = 0; i < sizeof(bytes) / sizeof(bytes[0]); i++) {
		units_format_size(bytes[i], buf, sizeof(buf));
		assert_int_equal(units_parse_size(buf, &back), 0);
		assert_int_equal(back, bytes[i]);
	}
	units_format_duration(300000, buf, sizeof(buf));
	assert_string_equal(buf, "5m");
	units_format_size(65536, buf, sizeof(buf));
	assert_string_equal(buf, "64k");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(durations), cmocka_unit_test(bad_durations),
		cmocka_unit_test(sizes),     cmocka_unit_test(bad_sizes),
		cmocka_unit_test(counts),    cmocka_unit_test(formatting_round_trips),
	};
	return cmocka_run_group_tests_name("units", tests, NULL, NULL);
}
