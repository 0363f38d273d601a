/*
 * stats_parse_request on the raw bytes a client sent, as they would arrive: each prefix is
 * parsed in a buffer that ends where it does (a read past the end is an ASan report), and
 * once a prefix is decided (a non-zero return) every longer prefix must decide the same
 * answer, since the stats server answers the first decision it sees and how the bytes were
 * cut into reads is not the client's choice. An answer is one the documentation allows: 200
 * for GET or HEAD of /metrics, /stats or /, or for POST /admin with its whole body in, and
 * otherwise 400, 404, 405, 411, 413 or 431 (431 only at STATS_REQUEST_MAX bytes).
 *
 * Which prefixes: each parse reads its whole prefix, so parsing every prefix of 4096 bytes
 * costs some 8 million instrumented byte reads (about 100 inputs a second). Every prefix of up
 * to PREFIX_ALL bytes is parsed; past that, the last three, and those that end a line or in a
 * NUL byte (where a request is decided) and one in 61, as long as the bytes parsed in them
 * stay under PARSE_BUDGET (about a millisecond).
 */
#include "fuzz.h"
#include "stats.h"

#define PREFIX_ALL   256
#define PARSE_BUDGET (128 * 1024)

static bool starts(const char *buf, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && !memcmp(buf, prefix, n);
}

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
		switch (req->doc) {
		case STATS_DOC_METRICS:
		case STATS_DOC_JSON:
		case STATS_DOC_PAGE:
			FUZZ_CHECK((req->head && starts(buf, len, "HEAD ")) ||
					   (!req->head && starts(buf, len, "GET ")),
				   "a 200 for another method (head %d)", (int)req->head);
			break;
		case STATS_DOC_ADMIN:
			FUZZ_CHECK(!req->head && starts(buf, len, "POST /admin"),
				   "a command that is not POST /admin");
			FUZZ_CHECK(req->body > 0 && buf[req->body - 1] == '\n' &&
					   req->body <= len && req->body_len <= len - req->body,
				   "a body at %zu, %zu bytes, of a request of %zu", req->body,
				   req->body_len, len);
			break;
		default:
			FUZZ_CHECK(0, "a 200 without a document (doc %d)", (int)req->doc);
		}
		break;
	case 403:
		FUZZ_CHECK(req->cross_site && starts(buf, len, "POST /admin"),
			   "403 for a request that is not a POST /admin from another site");
		break;
	case 411:
	case 413:
		FUZZ_CHECK(starts(buf, len, "POST /admin"), "%d for a request without a body",
			   req->status);
		break;
	case 431:
		FUZZ_CHECK(len == STATS_REQUEST_MAX, "431 after %zu bytes", len);
		break;
	case 400:
	case 404:
	case 405:
		break;
	default:
		FUZZ_CHECK(0, "stats_parse_request(%zu bytes): status %d", len, req->status);
	}
}

static bool same(const struct stats_request *a, const struct stats_request *b)
{
	return a->status == b->status && a->head == b->head && a->doc == b->doc &&
	       a->cross_site == b->cross_site &&
	       (a->doc != STATS_DOC_ADMIN || (a->body == b->body && a->body_len == b->body_len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stats_request first = {0}, req;
	size_t decided = 0; /* the shortest prefix that decided; 0: none yet */
	size_t spent = 0;   /* bytes parsed in prefixes longer than PREFIX_ALL */
	char *area;

	/* The server never offers more than STATS_REQUEST_MAX bytes. */
	if (size > STATS_REQUEST_MAX)
		size = STATS_REQUEST_MAX;
	/*
	 * Each prefix is copied to the end of `area`: a read past it is a read past the
	 * allocation, which ASan reports.
	 */
	area = malloc(size ? size : 1);
	if (!area)
		abort();
	for (size_t len = 0; len <= size; len++) {
		char *buf = area + size - len;
		bool last = len + 3 > size;
		int r;

		if (len > PREFIX_ALL && !last) {
			if (spent >= PARSE_BUDGET ||
			    (data[len - 1] != '\n' && data[len - 1] != '\0' && len % 61))
				continue;
			spent += len;
		}
		if (len)
			memcpy(buf, data, len);
		r = stats_parse_request(buf, len, &req);
		check_request(buf, len, r, &req);
		if (!decided && r) {
			decided = len;
			first = req;
			continue;
		}
		if (!decided)
			continue;
		FUZZ_CHECK(r && same(&req, &first),
			   "decided %d (head %d, doc %d) after %zu bytes, but after %zu bytes "
			   "returns %d with status %d (head %d, doc %d)",
			   first.status, (int)first.head, (int)first.doc, decided, len, r,
			   req.status, (int)req.head, (int)req.doc);
	}
	free(area);
	return 0;
}
