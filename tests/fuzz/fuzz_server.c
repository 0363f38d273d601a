/*
 * config_parse_server ("ADDR[,weight=N][,maxconn=N][,backup][,send-proxy=v1|v2|none]
 * [,source=IP[:LO-HI]][,name=NAME][,resolve|,resolve=srv]", options after commas or blanks) and
 * config_parse_listen ("ADDR[,mode=OCTAL][,user=NAME][,group=NAME]") on any string: what
 * they accept obeys their documented bounds, and writing an accepted spec out again (as weir
 * -t does for servers) parses back to the same spec.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "addr.h"
#include "config.h"
#include "fuzz.h"

/* What a resolve=srv name and a name= may hold. */
#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool same_server(const struct server_spec *a, const struct server_spec *b)
{
	return strcmp(a->addr, b->addr) == 0 && a->weight == b->weight &&
	       a->maxconn == b->maxconn && a->backup == b->backup &&
	       a->send_proxy == b->send_proxy && same_str(a->source, b->source) &&
	       same_str(a->name, b->name) && a->resolve == b->resolve;
}

/* `spec` written out, options separated by `sep`. */
static void write_server(char *buf, size_t size, const struct server_spec *spec, char sep)
{
	int n = snprintf(buf, size, "%s%cweight=%u%cmaxconn=%u", spec->addr, sep, spec->weight,
			 sep, spec->maxconn);

	if (spec->backup)
		n += snprintf(buf + n, size - (size_t)n, "%cbackup", sep);
	if (spec->send_proxy != CONFIG_SEND_PROXY_BACKEND)
		n += snprintf(buf + n, size - (size_t)n, "%csend-proxy=%s", sep,
			      spec->send_proxy == 1   ? "v1"
			      : spec->send_proxy == 2 ? "v2"
						      : "none");
	if (spec->source)
		n += snprintf(buf + n, size - (size_t)n, "%csource=%s", sep, spec->source);
	if (spec->name)
		n += snprintf(buf + n, size - (size_t)n, "%cname=%s", sep, spec->name);
	if (spec->resolve != RESOLVE_ONCE)
		n += snprintf(buf + n, size - (size_t)n, "%cresolve%s", sep,
			      spec->resolve == RESOLVE_SRV ? "=srv" : "");
	(void)n;
}

static void server_same(const char *text, const char *again, const struct server_spec *a)
{
	struct weir_err err = {{0}};
	struct server_spec b;
	int r = config_parse_server(again, &b, &err);

	FUZZ_CHECK(r == 0, "server \"%s\" written as \"%s\" does not parse: %s", text, again,
		   err.msg);
	FUZZ_CHECK(same_server(a, &b), "server \"%s\" written as \"%s\" parses differently",
		   text, again);
	config_server_free(&b);
}

static void check_server(const char *text)
{
	struct weir_err err = {{0}};
	struct addr_parts parts;
	struct server_spec spec;
	size_t size = strlen(text) + 128; /* the address and options: little more than `text` */
	char *again;
	int r = config_parse_server(text, &spec, &err);

	if (r < 0) {
		FUZZ_CHECK(r == -EINVAL, "config_parse_server(\"%s\") returned %d", text, r);
		FUZZ_CHECK(!spec.addr && !spec.source && !spec.name && err.msg[0],
			   "config_parse_server(\"%s\") failed untidily", text);
		return;
	}
	FUZZ_CHECK(r == 0 && spec.addr, "config_parse_server(\"%s\") returned %d", text, r);
	if (spec.resolve == RESOLVE_SRV) {
		/* A name without a port: the SRV records give addresses and ports. */
		FUZZ_CHECK(spec.addr[0] && strspn(spec.addr, NAME_CHARS) == strlen(spec.addr),
			   "server \"%s\": resolve=srv with \"%s\"", text, spec.addr);
	} else {
		FUZZ_CHECK(addr_split(spec.addr, ADDR_CONNECT, &parts, &err) == 0,
			   "server \"%s\": address \"%s\" does not split: %s", text, spec.addr,
			   err.msg);
		FUZZ_CHECK(spec.resolve == RESOLVE_ONCE || parts.kind == ADDR_INET,
			   "server \"%s\": resolve with an address that is not host:port", text);
	}
	FUZZ_CHECK(strncmp(spec.addr, text, strlen(spec.addr)) == 0 &&
			   strcspn(spec.addr, ", \t") == strlen(spec.addr),
		   "server \"%s\": address \"%s\" is not its first word", text, spec.addr);
	FUZZ_CHECK(spec.weight <= 256 && spec.maxconn <= 1000000,
		   "server \"%s\": weight %u, maxconn %u", text, spec.weight, spec.maxconn);
	FUZZ_CHECK(spec.send_proxy <= 2 || spec.send_proxy == CONFIG_SEND_PROXY_BACKEND,
		   "server \"%s\": send_proxy %u", text, spec.send_proxy);
	if (spec.source) {
		char ip[INET6_ADDRSTRLEN];
		uint16_t lo, hi;
		FUZZ_CHECK(config_parse_source(spec.source, ip, &lo, &hi, &err) == 0 && lo <= hi &&
				   (lo || !hi) && strstr(spec.source, ip),
			   "server \"%s\": source \"%s\" (%s, %u-%u)", text, spec.source, ip, lo,
			   hi);
	}
	FUZZ_CHECK(!spec.name || (spec.name[0] && strlen(spec.name) < SERVER_NAME_MAX &&
				  strspn(spec.name, NAME_CHARS ":") == strlen(spec.name)),
		   "server \"%s\": name \"%s\"", text, spec.name);
	/* As weir -t prints it, and as a command line gives it. */
	if (!(again = malloc(size)))
		abort();
	write_server(again, size, &spec, ' ');
	server_same(text, again, &spec);
	write_server(again, size, &spec, ',');
	server_same(text, again, &spec);
	free(again);
	config_server_free(&spec);
}

static void check_listen(const char *text)
{
	struct weir_err err = {{0}};
	struct listen_spec spec, back;
	struct addr_parts parts;
	size_t size = strlen(text) + 64; /* the address and options, never longer than `text` */
	char *again;
	int n, r = config_parse_listen(text, &spec, &err);

	if (r < 0) {
		FUZZ_CHECK(r == -EINVAL, "config_parse_listen(\"%s\") returned %d", text, r);
		FUZZ_CHECK(!spec.addr && !spec.user && !spec.group && !spec.mode && err.msg[0],
			   "config_parse_listen(\"%s\") failed untidily", text);
		return;
	}
	FUZZ_CHECK(r == 0 && spec.addr, "config_parse_listen(\"%s\") returned %d", text, r);
	FUZZ_CHECK(addr_split(spec.addr, ADDR_LISTEN, &parts, &err) == 0,
		   "listen \"%s\": address \"%s\" does not split: %s", text, spec.addr, err.msg);
	FUZZ_CHECK(spec.mode <= 07777, "listen \"%s\": mode %o", text, spec.mode);
	FUZZ_CHECK(parts.kind == ADDR_UNIX || (!spec.mode && !spec.user && !spec.group),
		   "listen \"%s\": options on an address that is not unix:", text);
	FUZZ_CHECK((!spec.user || spec.user[0]) && (!spec.group || spec.group[0]),
		   "listen \"%s\": an empty user or group", text);

	/* Written out again, options in another order. */
	if (!(again = malloc(size)))
		abort();
	n = snprintf(again, size, "%s", spec.addr);
	if (spec.mode)
		n += snprintf(again + n, size - (size_t)n, ",mode=%o", spec.mode);
	if (spec.group)
		n += snprintf(again + n, size - (size_t)n, ",group=%s", spec.group);
	if (spec.user)
		snprintf(again + n, size - (size_t)n, ",user=%s", spec.user);
	r = config_parse_listen(again, &back, &err);
	FUZZ_CHECK(r == 0, "listen \"%s\" written as \"%s\" does not parse: %s", text, again,
		   err.msg);
	FUZZ_CHECK(strcmp(spec.addr, back.addr) == 0 && spec.mode == back.mode &&
			   same_str(spec.user, back.user) && same_str(spec.group, back.group),
		   "listen \"%s\" written as \"%s\" parses differently", text, again);
	free(again);
	config_listen_free(&back);
	config_listen_free(&spec);
	FUZZ_CHECK(!spec.addr && !spec.user && !spec.group, "config_listen_free left pointers");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size);

	check_server(text);
	check_listen(text);
	free(text);
	return 0;
}
