/*
 * proxyproto_parse on the first bytes a client sent, as they would arrive one at a time:
 * once a prefix is decided (OK or BAD), every longer one decides the same, with the same
 * header; PROXYPROTO_MAX bytes always decide; a header found fits in what was given and
 * names a client of one family; accepting one version finds the same header if it is of
 * that version and none otherwise. Then proxyproto_build: a header built for the client
 * found (or for addresses taken from the input's last 37 bytes) parses back to the same
 * client, in both versions, and every prefix of it is a valid beginning.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "fuzz.h"
#include "proxyproto.h"

static const char *const result_name[] = {"BAD", "MORE", "OK"};

/*
 * Parse the first `len` bytes of `data`, copied to the end of `area` (`cap` bytes, cap >=
 * len), so that a read past them is a read past the allocation, which ASan reports.
 */
static enum proxyproto_result parse_at_end(char *area, size_t cap, const uint8_t *data,
					   size_t len, enum proxyproto_accept accept,
					   struct proxyproto_info *info)
{
	char *buf = area + cap - len;
	const char *why = NULL;
	enum proxyproto_result r;

	if (len)
		memmove(buf, data, len);
	r = proxyproto_parse(buf, len, accept, info, &why);
	FUZZ_CHECK(r == PROXYPROTO_BAD || r == PROXYPROTO_MORE || r == PROXYPROTO_OK,
		   "proxyproto_parse returned %d", (int)r);
	FUZZ_CHECK(r != PROXYPROTO_BAD || (why && *why), "a refusal without a reason");
	return r;
}

static enum proxyproto_result parse_copy(const uint8_t *data, size_t len,
					 enum proxyproto_accept accept,
					 struct proxyproto_info *info)
{
	char *area = malloc(len ? len : 1);
	enum proxyproto_result r;

	if (!area)
		abort();
	r = parse_at_end(area, len, data, len, accept, info);
	free(area);
	return r;
}

static bool same_client(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}

static void check_found(const struct proxyproto_info *info, size_t len,
			enum proxyproto_accept accept)
{
	FUZZ_CHECK(info->version == 1 || info->version == 2, "version %d", info->version);
	FUZZ_CHECK(accept & info->version, "a v%d header when accepting %d", info->version,
		   (int)accept);
	FUZZ_CHECK(info->length >= 1 && info->length <= len, "a header of %zu bytes in %zu",
		   info->length, len);
	FUZZ_CHECK(info->length <= (info->version == 1 ? PROXYPROTO_V1_MAX : PROXYPROTO_V2_MAX),
		   "a v%d header of %zu bytes", info->version, info->length);
	if (!info->has_addr)
		return;
	FUZZ_CHECK(info->src.ss_family == info->dst.ss_family &&
			   ((info->src.ss_family == AF_INET &&
			     info->src_len == sizeof(struct sockaddr_in)) ||
			    (info->src.ss_family == AF_INET6 &&
			     info->src_len == sizeof(struct sockaddr_in6))) &&
			   info->dst_len == info->src_len,
		   "a client of family %d/%d, lengths %u/%u", info->src.ss_family,
		   info->dst.ss_family, (unsigned)info->src_len, (unsigned)info->dst_len);
}

/* Build a header for src -> dst in `version`; it parses back to the same client. */
static void roundtrip(int version, const struct sockaddr_storage *src,
		      const struct sockaddr_storage *dst, socklen_t slen)
{
	unsigned char out[256];
	struct proxyproto_info back;
	char *area;
	size_t n = proxyproto_build(version, (const struct sockaddr *)src, slen,
				    (const struct sockaddr *)dst, slen, out, sizeof(out));
	enum proxyproto_result r;

	FUZZ_CHECK(n > 0, "proxyproto_build(v%d) built nothing", version);
	r = parse_copy(out, n, version == 1 ? PROXYPROTO_V1 : PROXYPROTO_V2, &back);
	FUZZ_CHECK(r == PROXYPROTO_OK && back.length == n && back.version == version &&
			   back.has_addr,
		   "a v%d header built (%zu bytes) parses as %s, %zu bytes", version, n,
		   result_name[r + 1], back.length);
	FUZZ_CHECK(same_client(src, &back.src) && same_client(dst, &back.dst),
		   "a v%d header built parses as another client", version);
	/* Every shorter prefix of it is a valid beginning. */
	area = malloc(n);
	if (!area)
		abort();
	for (size_t len = 0; len < n; len++)
		FUZZ_CHECK(parse_at_end(area, n, out, len, PROXYPROTO_ANY, &back) ==
				   PROXYPROTO_MORE,
			   "%zu bytes of a v%d header built are not a valid beginning", len,
			   version);
	free(area);
}

/* A client and the address it reached, from 37 bytes of the input. */
static void roundtrip_bytes(const uint8_t *p)
{
	struct sockaddr_storage src = {0}, dst = {0};
	socklen_t len;

	if (p[0] & 1) {
		struct sockaddr_in6 *s = (void *)&src, *d = (void *)&dst;
		s->sin6_family = d->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, p + 1, 16);
		memcpy(&d->sin6_addr, p + 17, 16);
		memcpy(&s->sin6_port, p + 33, 2);
		memcpy(&d->sin6_port, p + 35, 2);
		len = sizeof(*s);
	} else {
		struct sockaddr_in *s = (void *)&src, *d = (void *)&dst;
		s->sin_family = d->sin_family = AF_INET;
		memcpy(&s->sin_addr, p + 1, 4);
		memcpy(&d->sin_addr, p + 5, 4);
		memcpy(&s->sin_port, p + 9, 2);
		memcpy(&d->sin_port, p + 11, 2);
		len = sizeof(*s);
	}
	roundtrip(1, &src, &dst, len);
	roundtrip(2, &src, &dst, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Past PROXYPROTO_MAX + 1 bytes, prefixes tell nothing new. */
	size_t limit = size < PROXYPROTO_MAX + 1 ? size : PROXYPROTO_MAX + 1;
	char *area = malloc(limit ? limit : 1);
	struct proxyproto_info first, info;
	enum proxyproto_result decided = PROXYPROTO_MORE, r;
	size_t at = 0;

	if (!area)
		abort();
	/* Accepting either version, a byte at a time. */
	for (size_t len = 0; len <= limit; len++) {
		r = parse_at_end(area, limit, data, len, PROXYPROTO_ANY, &info);
		if (r == PROXYPROTO_OK)
			check_found(&info, len, PROXYPROTO_ANY);
		if (len >= PROXYPROTO_MAX)
			FUZZ_CHECK(r != PROXYPROTO_MORE, "%zu bytes still undecided", len);
		if (decided == PROXYPROTO_MORE && r != PROXYPROTO_MORE) {
			decided = r;
			first = info;
			at = len;
		} else if (decided != PROXYPROTO_MORE) {
			FUZZ_CHECK(r == decided &&
					   (r == PROXYPROTO_BAD || !memcmp(&info, &first, sizeof(info))),
				   "%s after %zu bytes, %s after %zu", result_name[decided + 1], at,
				   result_name[r + 1], len);
		}
	}
	/* Accepting one version: the same header if it is of that version, else no header. */
	for (int version = 1; version <= 2; version++) {
		r = parse_at_end(area, limit, data, limit, (enum proxyproto_accept)version, &info);
		if (r == PROXYPROTO_OK)
			check_found(&info, limit, (enum proxyproto_accept)version);
		if (decided == PROXYPROTO_OK && first.version == version)
			FUZZ_CHECK(r == PROXYPROTO_OK && !memcmp(&info, &first, sizeof(info)),
				   "a v%d header found accepting any, %s accepting v%d", version,
				   result_name[r + 1], version);
		else
			FUZZ_CHECK(r == PROXYPROTO_BAD || (r == PROXYPROTO_MORE && decided == r),
				   "%s accepting v%d, %s accepting any", result_name[r + 1],
				   version, result_name[decided + 1]);
	}
	free(area);
	if (decided == PROXYPROTO_OK && first.has_addr) {
		roundtrip(1, &first.src, &first.dst, first.src_len);
		roundtrip(2, &first.src, &first.dst, first.src_len);
	}
	if (size >= 37)
		roundtrip_bytes(data + size - 37);
	return 0;
}
