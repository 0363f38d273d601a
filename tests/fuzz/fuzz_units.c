/*
 * units_parse_duration, units_parse_size and units_parse_uint against a reference written
 * from their documentation (same verdict: value, -EINVAL or -ERANGE), and the formatters
 * against the parsers: whatever units_format_* renders parses back to the same value.
 */
#include <errno.h>
#include <inttypes.h>

#include "fuzz.h"
#include "units.h"

/* Leading decimal digits into *v; -ERANGE past UINT64_MAX, -EINVAL without a digit. */
static int ref_digits(const char *s, uint64_t *v, const char **end)
{
	uint64_t x = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++)
		if (__builtin_mul_overflow(x, 10, &x) || __builtin_add_overflow(x, *p - '0', &x))
			return -ERANGE;
	*v = x;
	*end = p;
	return 0;
}

static int ref_scale(uint64_t v, uint64_t mult, uint64_t *out)
{
	return __builtin_mul_overflow(v, mult, out) ? -ERANGE : 0;
}

static int ref_uint(const char *s, uint64_t *out)
{
	const char *end;
	int r = ref_digits(s, out, &end);

	return r < 0 ? r : *end ? -EINVAL : 0;
}

static int ref_duration(const char *s, uint64_t *out)
{
	uint64_t v, mult;
	const char *end;
	int r = ref_digits(s, &v, &end);

	if (r < 0)
		return r;
	if (!strcmp(end, ""))
		mult = 1000;
	else if (!strcmp(end, "ms"))
		mult = 1;
	else if (!strcmp(end, "s"))
		mult = 1000;
	else if (!strcmp(end, "m"))
		mult = 60 * 1000;
	else if (!strcmp(end, "h"))
		mult = 3600 * 1000;
	else if (!strcmp(end, "d"))
		mult = 86400 * 1000;
	else
		return -EINVAL;
	return ref_scale(v, mult, out);
}

static int ref_size(const char *s, uint64_t *out)
{
	uint64_t v, mult;
	const char *end;
	int r = ref_digits(s, &v, &end);

	if (r < 0)
		return r;
	if (!strcmp(end, ""))
		mult = 1;
	else if (!strcmp(end, "k") || !strcmp(end, "K"))
		mult = 1ULL << 10;
	else if (!strcmp(end, "m") || !strcmp(end, "M"))
		mult = 1ULL << 20;
	else if (!strcmp(end, "g") || !strcmp(end, "G"))
		mult = 1ULL << 30;
	else
		return -EINVAL;
	return ref_scale(v, mult, out);
}

typedef int (*parse_fn)(const char *, uint64_t *);

/* The parser and the reference agree on `s`; returns the verdict. */
static int agree(const char *what, parse_fn parse, parse_fn ref, const char *s, uint64_t *v)
{
	uint64_t got = 0xdeadbeef, want = 0xdeadbeef;
	int r = parse(s, &got), rr = ref(s, &want);

	FUZZ_CHECK(r == rr, "%s(\"%s\") returned %d, expected %d", what, s, r, rr);
	if (r == 0)
		FUZZ_CHECK(got == want, "%s(\"%s\") gave %" PRIu64 ", expected %" PRIu64, what, s,
			   got, want);
	*v = got;
	return r;
}

static void roundtrip_duration(uint64_t ms)
{
	char buf[32];
	uint64_t back = 0;
	int r;

	units_format_duration(ms, buf, sizeof(buf));
	r = units_parse_duration(buf, &back);
	FUZZ_CHECK(r == 0 && back == ms, "duration %" PRIu64 " rendered as \"%s\" parses as %d/%" PRIu64,
		   ms, buf, r, back);
}

static void roundtrip_size(uint64_t bytes)
{
	char buf[32];
	uint64_t back = 0;
	int r;

	units_format_size(bytes, buf, sizeof(buf));
	r = units_parse_size(buf, &back);
	FUZZ_CHECK(r == 0 && back == bytes, "size %" PRIu64 " rendered as \"%s\" parses as %d/%" PRIu64,
		   bytes, buf, r, back);
}

static void roundtrip_uint(uint64_t value)
{
	char buf[32];
	uint64_t back = 0;
	int r;

	snprintf(buf, sizeof(buf), "%" PRIu64, value);
	r = units_parse_uint(buf, &back);
	FUZZ_CHECK(r == 0 && back == value, "count %" PRIu64 " as \"%s\" parses as %d/%" PRIu64,
		   value, buf, r, back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	uint64_t v;

	if (agree("units_parse_duration", units_parse_duration, ref_duration, s, &v) == 0)
		roundtrip_duration(v);
	if (agree("units_parse_size", units_parse_size, ref_size, s, &v) == 0)
		roundtrip_size(v);
	if (agree("units_parse_uint", units_parse_uint, ref_uint, s, &v) == 0)
		roundtrip_uint(v);
	free(s);

	/* Any value at all renders as something that reads back: the input's first 8 bytes. */
	if (size >= sizeof(v)) {
		memcpy(&v, data, sizeof(v));
		roundtrip_duration(v);
		roundtrip_size(v);
		roundtrip_uint(v);
	}
	return 0;
}
