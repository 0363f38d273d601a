/*
 * sni_parse on the first bytes a client sent, as they would arrive: once a prefix is
 * decided (BAD, FOUND or NONE), every longer one decides the same, with the same name; a name
 * found is a host name as documented (letters, digits, '-', '_', dots between labels, lower
 * case, at most 253 bytes, no final dot). Then a ClientHello built around a name taken from
 * the input, cut into records where the input says: sni_parse finds exactly the name a
 * reference check accepts, and refuses the others. And sni_match against its definition.
 */
#include <strings.h>

#include "fuzz.h"
#include "sni.h"

static const char *const result_name[] = {"BAD", "MORE", "FOUND", "NONE"};

/* Parse the first `len` bytes of `data`, copied to the end of `area` (`cap` >= len bytes). */
static enum sni_result parse_at_end(char *area, size_t cap, const uint8_t *data, size_t len,
				    char name[SNI_NAME_MAX])
{
	char *buf = area + cap - len;
	const char *why = NULL;
	enum sni_result r;

	if (len)
		memmove(buf, data, len);
	memset(name, 0x5a, SNI_NAME_MAX);
	r = sni_parse(buf, len, name, &why);
	FUZZ_CHECK(r >= SNI_BAD && r <= SNI_NONE, "sni_parse returned %d", (int)r);
	FUZZ_CHECK(r != SNI_BAD || (why && *why), "a refusal without a reason");
	if (r == SNI_FOUND) {
		size_t n = strnlen(name, SNI_NAME_MAX);
		FUZZ_CHECK(n >= 1 && n <= 253, "a name of %zu bytes", n);
		FUZZ_CHECK(strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-_.") == n,
			   "a name with other characters: \"%s\"", name);
		FUZZ_CHECK(name[0] != '.' && name[n - 1] != '.' && !strstr(name, ".."),
			   "a name with an empty label: \"%s\"", name);
	}
	return r;
}

/* The documented grammar: the name it stands for (lower case, final dot dropped), or NULL. */
static bool reference_name(const uint8_t *p, size_t n, char out[SNI_NAME_MAX])
{
	if (n && p[n - 1] == '.')
		n--;
	if (n == 0 || n > 253 || p[0] == '.' || p[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (c == '.' && p[i - 1] == '.')
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
		out[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	out[n] = '\0';
	return true;
}

static void put16(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/*
 * A ClientHello asking for `name` (n bytes, as is), its handshake cut into records of at most
 * `cut` bytes, and parse it: FOUND with the reference's name, or BAD if the reference refuses.
 */
static void hello_roundtrip(const uint8_t *name, size_t n, size_t cut)
{
	uint8_t body[400], wire[6 * sizeof(body)]; /* a record header for each byte, at worst */
	char want[SNI_NAME_MAX], got[SNI_NAME_MAX];
	size_t b = 0, w = 0;
	enum sni_result r;
	bool valid = reference_name(name, n, want);

	/* handshake header, legacy_version, random, session id, ciphers, compression */
	body[b++] = 0x01;
	b += 3; /* length, below */
	body[b++] = 3;
	body[b++] = 3;
	memset(body + b, 0x11, 32);
	b += 32;
	body[b++] = 0;
	put16(body + b, 2);
	body[b + 2] = 0x13;
	body[b + 3] = 0x01;
	b += 4;
	body[b++] = 1;
	body[b++] = 0;
	/* extensions: one before server_name, then server_name with one host_name */
	put16(body + b, 4 + 2 + 4 + 5 + n);
	b += 2;
	put16(body + b, 0x000a); /* supported_groups, empty of groups but well formed */
	put16(body + b + 2, 2);
	put16(body + b + 4, 0);
	b += 6;
	put16(body + b, 0x0000);
	put16(body + b + 2, 5 + n);
	put16(body + b + 4, 3 + n);
	body[b + 6] = 0; /* host_name */
	put16(body + b + 7, n);
	memcpy(body + b + 9, name, n);
	b += 9 + n;
	body[1] = 0;
	put16(body + 2, b - 4);
	for (size_t off = 0; off < b;) {
		size_t take = b - off < cut ? b - off : cut;
		wire[w++] = 0x16;
		wire[w++] = 3;
		wire[w++] = 1;
		put16(wire + w, take);
		w += 2;
		memcpy(wire + w, body + off, take);
		w += take;
		off += take;
	}
	{
		char *area = malloc(w);
		if (!area)
			abort();
		r = parse_at_end(area, w, wire, w, got);
		/* Every shorter prefix is a valid beginning. */
		for (size_t len = 0; len < w; len += 7) {
			char scratch[SNI_NAME_MAX];
			FUZZ_CHECK(parse_at_end(area, w, wire, len, scratch) == SNI_MORE,
				   "%zu bytes of a %zu-byte hello are not a valid beginning", len,
				   w);
		}
		free(area);
	}
	if (valid)
		FUZZ_CHECK(r == SNI_FOUND && strcmp(got, want) == 0,
			   "a hello for \"%s\" (cut every %zu bytes): %s \"%s\"", want, cut,
			   result_name[r + 1], r == SNI_FOUND ? got : "");
	else
		FUZZ_CHECK(r == SNI_BAD, "a hello for a name the grammar refuses (%zu bytes): %s",
			   n, result_name[r + 1]);
}

static void check_match(const char *pattern, const char *name)
{
	bool want;

	if (strncmp(pattern, "*.", 2) == 0) {
		size_t pn = strlen(pattern + 1), nn = strlen(name);
		want = nn > pn && strcasecmp(name + nn - pn, pattern + 1) == 0;
	} else {
		want = strcasecmp(pattern, name) == 0;
	}
	FUZZ_CHECK(!sni_match(pattern, name) == !want, "sni_match(\"%s\", \"%s\") is %d", pattern,
		   name, sni_match(pattern, name));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Prefixes past the limit tell nothing new; all of them up to 1k, then a sample. */
	size_t limit = size < SNI_HELLO_MAX + 1 ? size : SNI_HELLO_MAX + 1;
	char *area = malloc(limit ? limit : 1), first[SNI_NAME_MAX], name[SNI_NAME_MAX];
	enum sni_result decided = SNI_MORE, r;
	size_t at = 0;

	if (!area)
		abort();
	for (size_t len = 0; len <= limit; len += len < 1024 || len + 61 > limit ? 1 : 61) {
		r = parse_at_end(area, limit, data, len, name);
		if (len >= SNI_HELLO_MAX)
			FUZZ_CHECK(r != SNI_MORE, "%zu bytes still undecided", len);
		if (decided == SNI_MORE && r != SNI_MORE) {
			decided = r;
			at = len;
			memcpy(first, name, sizeof(first));
		} else if (decided != SNI_MORE) {
			FUZZ_CHECK(r == decided && (r != SNI_FOUND || strcmp(name, first) == 0),
				   "%s after %zu bytes, %s after %zu", result_name[decided + 1], at,
				   result_name[r + 1], len);
		}
	}
	free(area);

	/* The input as a name: up to its first NUL; the byte after says where to cut. */
	{
		const uint8_t *nul = memchr(data, 0, size);
		size_t n = nul ? (size_t)(nul - data) : size;
		size_t cut = nul && n + 1 < size ? 1 + data[n + 1] % 64 : 512;
		if (n <= 300)
			hello_roundtrip(data, n, cut);
	}

	/* The input as "PATTERN\0NAME". */
	{
		char *s = fuzz_cstr(data, size);
		size_t n = strlen(s);
		char *other = n < size ? fuzz_cstr(data + n + 1, size - n - 1) : fuzz_cstr(data, 0);
		check_match(s, other);
		check_match(other, s);
		check_match(s, s);
		free(other);
		free(s);
	}
	return 0;
}
