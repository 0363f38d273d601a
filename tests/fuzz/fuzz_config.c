/*
 * The config file loader: the input is the file, read as `weir -c FILE` reads it
 * (config_read: the command line, then config_load). Nothing is resolved. Checked:
 *   - a file config_read refuses is explained as "FILE:..." (exit 78), never as unreadable
 *     or a usage error;
 *   - a file it accepts is complete: what config_check promises holds (every frontend has
 *     listeners and a backend that exists, every backend servers, every value in range);
 *   - every scalar value renders with config_format_value (as weir -t prints it) into text
 *     that config_set takes back as the same value.
 * The file is a memfd, rewritten for each input and opened as /proc/self/fd/N.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "addr.h"
#include "config.h"
#include "fuzz.h"
#include "pool.h"

/* Longest rendering of a value: a line of at most 198 bytes, each byte as "\xHH". */
#define VALUE_MAX 1024

static int file_fd = -1;
static char file_path[64];

static void write_file(const uint8_t *data, size_t size)
{
	if (file_fd < 0) {
		file_fd = memfd_create("weir-fuzz.conf", MFD_CLOEXEC);
		if (file_fd < 0) {
			perror("memfd_create");
			abort();
		}
		snprintf(file_path, sizeof(file_path), "/proc/self/fd/%d", file_fd);
	}
	if (ftruncate(file_fd, 0) < 0) {
		perror("ftruncate");
		abort();
	}
	for (size_t done = 0; done < size;) {
		ssize_t n = pwrite(file_fd, data + done, size - done, (off_t)done);
		if (n <= 0) {
			perror("pwrite");
			abort();
		}
		done += (size_t)n;
	}
}

/* config_format_value, then config_set on a blank section of the same kind: same value. */
static void roundtrip_value(const char *where, const void *section, const struct config_key *k)
{
	union {
		struct weir_config g;
		struct frontend_cfg f;
		struct backend_cfg b;
	} scratch;
	const void *field = (const char *)section + k->offset;
	void *back = (char *)&scratch + k->offset;
	struct weir_err err = {{0}};
	char text[VALUE_MAX];
	int r;

	if ((k->type == CT_STRING || k->type == CT_ADDR) && !*(char *const *)field)
		return; /* not set: weir -t leaves it out */
	memset(&scratch, 0, sizeof(scratch));
	config_format_value(section, k, text, sizeof(text));
	FUZZ_CHECK(strlen(text) + 8 < sizeof(text), "%s %s: rendering cut short", where, k->name);
	r = config_set(&scratch, k, text, &err);
	FUZZ_CHECK(r == 0, "%s %s renders as \"%s\", which config_set refuses: %s", where, k->name,
		   text, err.msg);
	switch (k->type) {
	case CT_DURATION:
	case CT_SIZE:
	case CT_COUNT:
	case CT_UINT:
		FUZZ_CHECK(*(const uint64_t *)field == *(const uint64_t *)back,
			   "%s %s renders as \"%s\", which reads back as another value", where,
			   k->name, text);
		break;
	case CT_BALANCE:
		FUZZ_CHECK(*(const struct lb_ops *const *)field == *(const struct lb_ops **)back,
			   "%s %s renders as \"%s\", another algorithm", where, k->name, text);
		break;
	case CT_HEALTH:
		FUZZ_CHECK(*(const enum health_kind *)field == *(const enum health_kind *)back,
			   "%s %s renders as \"%s\"", where, k->name, text);
		break;
	case CT_LOGLEVEL:
		FUZZ_CHECK(*(const enum wlog_level *)field == *(const enum wlog_level *)back,
			   "%s %s renders as \"%s\"", where, k->name, text);
		break;
	case CT_LOGFORMAT:
		FUZZ_CHECK(*(const enum wlog_format *)field == *(const enum wlog_format *)back,
			   "%s %s renders as \"%s\"", where, k->name, text);
		break;
	case CT_STRING:
	case CT_ADDR:
		FUZZ_CHECK(strcmp(*(char *const *)field, *(char **)back) == 0,
			   "%s %s renders as \"%s\", which reads back as another string", where,
			   k->name, text);
		free(*(char **)back);
		break;
	default:
		break; /* not reached: see scalar() */
	}
}

/* The types whose values roundtrip_value knows how to compare (and free). */
static bool scalar(enum config_type type)
{
	switch (type) {
	case CT_DURATION:
	case CT_SIZE:
	case CT_COUNT:
	case CT_UINT:
	case CT_BALANCE:
	case CT_HEALTH:
	case CT_LOGLEVEL:
	case CT_LOGFORMAT:
	case CT_STRING:
	case CT_ADDR:
		return true;
	default:
		return false; /* repeatable keys, names, and types newer than this harness */
	}
}

static void roundtrip_scope(const char *where, const void *section, enum config_scope scope)
{
	for (size_t i = 0; i < config_n_keys; i++) {
		const struct config_key *k = &config_keys[i];
		if (k->scope == scope && scalar(k->type))
			roundtrip_value(where, section, k);
	}
}

/* What config_check promises of a configuration it accepts. */
static void check_accepted(const struct weir_config *cfg)
{
	struct weir_err err;

	FUZZ_CHECK(cfg->file && strcmp(cfg->file, file_path) == 0, "cfg->file is not the file");
	FUZZ_CHECK(cfg->n_frontends >= 1 && cfg->n_backends >= 1, "%zu frontends, %zu backends",
		   cfg->n_frontends, cfg->n_backends);
	FUZZ_CHECK(!cfg->group || cfg->user, "a group without a user");
	roundtrip_scope("[global]", cfg, SCOPE_GLOBAL);
	for (size_t i = 0; i < cfg->n_frontends; i++) {
		const struct frontend_cfg *fe = &cfg->frontends[i];

		FUZZ_CHECK(fe->line >= 1, "[frontend %s] from line %u", fe->name, fe->line);
		FUZZ_CHECK(fe->name[0] && strcspn(fe->name, " \t") == strlen(fe->name),
			   "frontend name \"%s\"", fe->name);
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(cfg->frontends[j].name, fe->name) != 0,
				   "[frontend %s] twice", fe->name);
		FUZZ_CHECK(fe->n_listens >= 1, "[frontend %s] has no listener", fe->name);
		for (size_t j = 0; j < fe->n_listens; j++) {
			struct listen_spec spec;
			FUZZ_CHECK(config_parse_listen(fe->listens[j], &spec, &err) == 0,
				   "[frontend %s] listen \"%s\": %s", fe->name, fe->listens[j],
				   err.msg);
			config_listen_free(&spec);
		}
		FUZZ_CHECK(fe->backend && fe->backend_index < cfg->n_backends &&
				   strcmp(cfg->backends[fe->backend_index].name, fe->backend) == 0,
			   "[frontend %s] is linked to the wrong backend", fe->name);
		FUZZ_CHECK(fe->linger_timeout_ms != CONFIG_UNSET, "[frontend %s]: linger unset",
			   fe->name);
		roundtrip_scope("[frontend]", fe, SCOPE_FRONTEND);
	}
	for (size_t i = 0; i < cfg->n_backends; i++) {
		const struct backend_cfg *be = &cfg->backends[i];

		FUZZ_CHECK(be->line >= 1, "[backend %s] from line %u", be->name, be->line);
		FUZZ_CHECK(be->name[0] && strcspn(be->name, " \t") == strlen(be->name),
			   "backend name \"%s\"", be->name);
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(cfg->backends[j].name, be->name) != 0,
				   "[backend %s] twice", be->name);
		FUZZ_CHECK(be->n_servers >= 1 && be->balance, "[backend %s] has no server",
			   be->name);
		for (size_t j = 0; j < be->n_servers; j++) {
			struct addr_parts parts;
			FUZZ_CHECK(addr_split(be->servers[j].addr, ADDR_CONNECT, &parts, &err) == 0,
				   "[backend %s] server \"%s\": %s", be->name, be->servers[j].addr,
				   err.msg);
			FUZZ_CHECK(be->servers[j].weight <= 256 && be->servers[j].maxconn <= 1000000,
				   "[backend %s] server \"%s\" weight %u maxconn %u", be->name,
				   be->servers[j].addr, be->servers[j].weight, be->servers[j].maxconn);
		}
		FUZZ_CHECK(!be->health_expect || strlen(be->health_expect) <= CONFIG_EXPECT_MAX,
			   "[backend %s] health-expect too long", be->name);
		roundtrip_scope("[backend]", be, SCOPE_BACKEND);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char arg0[] = "weir", arg1[] = "-c";
	char *argv[] = {arg0, arg1, NULL, NULL};
	struct weir_err err = {{0}};
	struct weir_config cfg;
	enum config_action action;
	enum config_status st;
	size_t plen;

	write_file(data, size);
	argv[2] = file_path;
	plen = strlen(file_path);
	st = config_read(&cfg, 3, argv, &action, &err);
	FUZZ_CHECK(action == CONFIG_RUN, "action %d", (int)action);
	switch (st) {
	case CONFIG_OK:
		check_accepted(&cfg);
		break;
	case CONFIG_INVALID:
		FUZZ_CHECK(strncmp(err.msg, file_path, plen) == 0 && err.msg[plen] == ':',
			   "an error that does not say where: \"%s\"", err.msg);
		break;
	default:
		FUZZ_CHECK(0, "config_read returned %d: %s", (int)st, err.msg);
	}
	config_free(&cfg);
	return 0;
}
