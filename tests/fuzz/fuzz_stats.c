/*
 * stats_parse_request on the raw bytes a client sent, as they would arrive one at a time:
 * every prefix is parsed, in a buffer that ends where it does (a read past the end is an
 * ASan report), and once a prefix is decided (a non-zero return) every longer prefix must
 * decide the same answer, since the stats server answers the first decision it sees and how
 * the bytes were cut into reads is not the client's choice.
 */
#include "fuzz.h"
#include "stats.h"

/*
 * -DFUZZ_TOLERATE_KNOWN_BUGS (build.sh's default) looks past two bugs in lib/stats.c that
 * this harness found, so that a run can look for others: a request line without a version
 * or '?' is read past `len` (hidden here by a NUL after the buffer), and a NUL byte after
 * the end of the headers turns an answer already decided into 400.
 */
#ifdef FUZZ_TOLERATE_KNOWN_BUGS
FUZZ_KNOWN_BUGS("2 in lib/stats.c (fuzz_stats.c)")
#define PAD 1
#else
#define PAD 0
#endif

static void check_request(const char *buf, size_t len, int r, const struct stats_request *req)
{
	FUZZ_CHECK(r == 0 || r == 1, "stats_parse_request(%zu bytes) returned %d", len, r);
	if (r == 0) {
		FUZZ_CHECK(len < STATS_REQUEST_MAX,
			   "stats_parse_request(%zu bytes) still undecided at the limit", len);
		return;
	}
	switch (req->status) {
	case 200:
		FUZZ_CHECK(req->doc == STATS_DOC_METRICS || req->doc == STATS_DOC_JSON,
			   "a 200 without a document (doc %d)", (int)req->doc);
		FUZZ_CHECK((req->head && len > 4 && !memcmp(buf, "HEAD ", 5)) ||
				   (!req->head && len > 3 && !memcmp(buf, "GET ", 4)),
			   "a 200 for another method (head %d)", (int)req->head);
		break;
	case 400:
	case 404:
	case 405:
	case 431:
		break;
	default:
		FUZZ_CHECK(0, "stats_parse_request(%zu bytes): status %d", len, req->status);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stats_request first = {0}, req;
	size_t decided = 0; /* the shortest prefix that decided; 0: none yet */
	char *area;

	/* The server never offers more than STATS_REQUEST_MAX bytes. */
	if (size > STATS_REQUEST_MAX)
		size = STATS_REQUEST_MAX;
	/*
	 * Every prefix, the whole input last, each copied to the end of `area`: a read past
	 * the prefix is a read past the allocation, which ASan reports.
	 */
	area = malloc(size + PAD ? size + PAD : 1);
	if (!area)
		abort();
	if (PAD)
		area[size] = '\0';
	for (size_t len = 0; len <= size; len++) {
		char *buf = area + size - len;
		int r;

		if (len)
			memcpy(buf, data, len);
		r = stats_parse_request(buf, len, &req);
		check_request(buf, len, r, &req);
		if (!decided && r) {
			decided = len;
			first = req;
		} else if (decided) {
#ifdef FUZZ_TOLERATE_KNOWN_BUGS
			if (r && req.status == 400 && memchr(data + decided, '\0', len - decided))
				continue;
#endif
			FUZZ_CHECK(r && req.status == first.status && req.head == first.head &&
					   req.doc == first.doc,
				   "decided %d (head %d, doc %d) after %zu bytes, but after %zu bytes "
				   "returns %d with status %d (head %d, doc %d)",
				   first.status, (int)first.head, (int)first.doc, decided, len, r,
				   req.status, (int)req.head, (int)req.doc);
		}
	}
	free(area);
	return 0;
}
