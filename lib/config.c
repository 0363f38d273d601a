/*
 * The keys of a configuration, one table for the flags and the file (names, bounds,
 * defaults), and what is done with a key's value: set it, checked, into a section, or write
 * it back as text. Sections are added here, and the run-time changes (add, del, weight)
 * applied to a copy. A configuration is built by one thread and read-only once built.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "acl.h"
#include "config.h"
#include "dns.h"
#include "pool.h"
#include "units.h"

#define G(field) SCOPE_GLOBAL, offsetof(struct weir_config, field)
#define F(field) SCOPE_FRONTEND, offsetof(struct frontend_cfg, field)
#define B(field) SCOPE_BACKEND, offsetof(struct backend_cfg, field)
#define DAY_MS	 (86400000ULL)

/* Bounds are inclusive; the defaults are parsed by the same code as an operator's value. */
const struct config_key config_keys[] = {
	{"listen", NULL, 'l', F(listens), CT_LISTEN, NULL, 0, 0, "ADDR",
	 "accept clients on ADDR (host:port, :port, [v6]:port, unix:/path)", false, NULL, NULL},
	{"server", "backend", 'b', B(servers), CT_SERVER, NULL, 0, 0, "SERVER",
	 "proxy to SERVER: ADDR[,OPTION...] (see SERVER below)", false, NULL, NULL},
	{"backend", "", 0, F(backend), CT_NAME, NULL, 0, 0, "NAME",
	 "the [backend NAME] section that serves this frontend", false, NULL, NULL},
	{"balance", NULL, 'B', B(balance), CT_BALANCE, "roundrobin", 0, 0, "ALGO",
	 "roundrobin, leastconn, random, source or hash", false, NULL, NULL},
	{"connect-timeout", NULL, 0, B(connect_timeout_ms), CT_DURATION, "5s", 1, 3600000, "DUR",
	 "give up connecting to a server after DUR", false, NULL, NULL},
	{"idle-timeout", NULL, 0, F(idle_timeout_ms), CT_DURATION, "5m", 0, 30 * DAY_MS, "DUR",
	 "close connections idle for DUR; 0 never", false, NULL, NULL},
	{"linger-timeout", NULL, 0, F(linger_timeout_ms), CT_DURATION, NULL, 0, 30 * DAY_MS, "DUR",
	 "the same for half-closed connections (default: idle-timeout)", false, NULL, NULL},
	{"drain-timeout", NULL, 0, G(drain_timeout_ms), CT_DURATION, "30s", 0, DAY_MS, "DUR",
	 "on SIGTERM, let connections finish for up to DUR", false, NULL, NULL},
	{"max-connections", NULL, 0, G(max_connections), CT_COUNT, "auto", 1, 10000000, "N",
	 "stop accepting at N open connections", false, NULL, NULL},
	{"workers", NULL, 'w', G(workers), CT_COUNT, "auto", 1, 1024, "N",
	 "event loops, one thread each (auto: the CPUs weir may run on)", true, NULL, NULL},
	{"splice", NULL, 0, G(splice), CT_CHOICE, "auto", 0, 0, "MODE",
	 "move bulk bytes with splice(2): off, auto (once a read fills a buffer) or on", false,
	 "off|auto|on", NULL},
	{"health-check", NULL, 0, B(health_check), CT_HEALTH, "none", 0, 0, "KIND",
	 "none (passive only) or tcp (active checks)", false, NULL, NULL},
	{"health-interval", NULL, 0, B(health_interval_ms), CT_DURATION, "2s", 10, 3600000, "DUR",
	 "time between checks (a DOWN server's rest without checks)", false, NULL, NULL},
	{"health-timeout", NULL, 0, B(health_timeout_ms), CT_DURATION, "1s", 10, 3600000, "DUR",
	 "a check that takes longer fails", false, NULL, NULL},
	{"rise", NULL, 0, B(rise), CT_UINT, "2", 1, 100, "N", "checks passed to mark a server up",
	 false, NULL, NULL},
	{"fall", NULL, 0, B(fall), CT_UINT, "3", 1, 100, "N",
	 "consecutive failures to mark a server down", false, NULL, NULL},
	{"health-send", NULL, 0, B(health_send), CT_STRING, NULL, 0, 0, "STRING",
	 "check: send STRING after connecting (\\r, \\n, \\t, \\\\, \\xHH escapes)", false, NULL,
	 NULL},
	{"health-expect", NULL, 0, B(health_expect), CT_STRING, NULL, 0, 0, "STRING",
	 "check: pass only if the reply contains STRING", false, NULL, NULL},
	{"buffer-size", NULL, 0, G(buffer_size), CT_SIZE, "64k", 1024, 64 << 20, "SIZE",
	 "bytes buffered per direction of a connection", true, NULL, NULL},
	{"rcvbuf", NULL, 0, G(rcvbuf), CT_SIZE, "0", 0, 1 << 30, "SIZE",
	 "SO_RCVBUF of clients' and servers' sockets (0: the kernel tunes it)", true, NULL,
	 config_check_sockbuf},
	{"sndbuf", NULL, 0, G(sndbuf), CT_SIZE, "0", 0, 1 << 30, "SIZE",
	 "SO_SNDBUF of clients' and servers' sockets (0: the kernel tunes it)", true, NULL,
	 config_check_sockbuf},
	{"log-level", NULL, 0, G(log_level), CT_LOGLEVEL, "info", 0, 0, "LEVEL",
	 "error, warning, info or debug", false, NULL, NULL},
	{"log-format", NULL, 0, G(log_format), CT_LOGFORMAT, "text", 0, 0, "FORMAT", "text or json",
	 false, NULL, NULL},
	{"stats", NULL, 0, G(stats), CT_ADDR, NULL, 0, 0, "ADDR",
	 "serve the status page, /metrics and /stats on ADDR (loopback, unix:/path)", true, NULL,
	 NULL},
	{"stats-admin", NULL, 0, G(stats_admin), CT_CHOICE, "off", 0, 0, "on|off",
	 "let the status page's buttons change servers (POST /admin)", true, "off|on", NULL},
	{"resolvers", NULL, 0, G(resolvers), CT_STRING, NULL, 0, 0, "IP[:PORT],...",
	 "name servers for resolve servers (default: the system's)", true, NULL,
	 dns_check_resolvers},
	{"resolve-interval", NULL, 0, G(resolve_interval_ms), CT_DURATION, "5s", 100, 3600000,
	 "DUR", "look up resolve servers again every DUR", false, NULL, NULL},
	{"admin", NULL, 0, G(admin), CT_ADDR, NULL, 0, 0, "ADDR",
	 "take commands (weir ctl) on ADDR: unix:/path (mode 0600) or loopback", true, NULL, NULL},
	{"user", NULL, 0, G(user), CT_STRING, NULL, 0, 0, "USER",
	 "run as USER once listening (and as its group)", true, NULL, NULL},
	{"group", NULL, 0, G(group), CT_STRING, NULL, 0, 0, "GROUP", "run as GROUP once listening",
	 true, NULL, NULL},
	{"pid-file", NULL, 0, G(pid_file), CT_STRING, NULL, 0, 0, "FILE",
	 "write the process id to FILE (removed on exit)", true, NULL, NULL},
	{"event-backend", NULL, 0, G(event_backend), CT_CHOICE, "auto", 0, 0, "NAME",
	 "libev's backend: auto, epoll, poll or select", true, "auto|epoll|poll|select", NULL},
	{"accept-proxy", NULL, 0, F(accept_proxy), CT_CHOICE, "none", 0, 0, "VERSION",
	 "clients send a PROXY header first: none, v1, v2 or any", false, "none|v1|v2|any", NULL},
	{"header-timeout", NULL, 0, F(header_timeout_ms), CT_DURATION, "5s", 1, 3600000, "DUR",
	 "time a client has for its PROXY header or TLS hello", false, NULL, NULL},
	{"allow", NULL, 0, F(allow), CT_LIST, NULL, 0, 0, "CIDR",
	 "accept clients in CIDR (repeatable; any allow refuses the rest)", false, NULL,
	 acl_parse_prefix},
	{"deny", NULL, 0, F(deny), CT_LIST, NULL, 0, 0, "CIDR",
	 "refuse clients in CIDR (repeatable; beats allow for the same prefix)", false, NULL,
	 acl_parse_prefix},
	{"route-sni", NULL, 0, F(route_sni), CT_LIST, NULL, 0, 0, "'PATTERN BACKEND'",
	 "send TLS clients asking for PATTERN (name, *.domain) to BACKEND", false, NULL,
	 config_check_route},
	{"max-connections-per-source", NULL, 0, F(max_conns_per_source), CT_UINT, "0", 0, 10000000,
	 "N", "open connections one client address may have; 0 no limit", false, NULL, NULL},
	{"rate-per-source", NULL, 0, F(rate_per_source), CT_UINT, "0", 0, 10000000, "N",
	 "new connections a second one client address may open; 0 no limit", false, NULL, NULL},
	{"rate", NULL, 0, F(rate), CT_UINT, "0", 0, 10000000, "N",
	 "new connections a second, the rest waiting in the backlog; 0 no limit", false, NULL,
	 NULL},
	{"backlog", NULL, 0, F(backlog), CT_COUNT, "auto", 1, 1 << 20, "N",
	 "listen backlog (auto: the kernel's maximum)", false, NULL, NULL},
	{"keepalive", NULL, 0, F(keepalive), CT_KEEPALIVE, "off", 0, 0, "IDLE[,INTVL,N]",
	 "TCP keepalive on both sockets: off, or idle[,interval,count]", false, NULL, NULL},
	{"defer-accept", NULL, 0, F(defer_accept_ms), CT_DURATION, "0s", 0, 3600000, "DUR",
	 "accept a client once it sends, or after DUR (client-speaks-first protocols)", false, NULL,
	 NULL},
	{"send-proxy", NULL, 0, B(send_proxy), CT_CHOICE, "none", 0, 0, "VERSION",
	 "send servers a PROXY header first: none, v1 or v2", false, "none|v1|v2", NULL},
	{"source", NULL, 0, B(source), CT_STRING, NULL, 0, 0, "IP[:LO-HI]",
	 "connect to servers from IP (and from ports LO-HI in turn)", false, NULL,
	 config_check_source},
	{"retries", NULL, 0, B(retries), CT_UINT, "7", 0, 7, "N",
	 "other servers a client may try after a failed connect", false, NULL, NULL},
	{"queue-timeout", NULL, 0, B(queue_timeout_ms), CT_DURATION, NULL, 1, 3600000, "DUR",
	 "how long a client waits for a full server (default: connect-timeout)", false, NULL, NULL},
	{"slow-start", NULL, 0, B(slow_start_ms), CT_DURATION, "0s", 0, 3600000, "DUR",
	 "a server back UP or set ready takes a growing part of its share over DUR", false, NULL,
	 NULL},
};
const size_t config_n_keys = ARRAY_SIZE(config_keys);
_Static_assert(ARRAY_SIZE(config_keys) <= CONFIG_MAX_KEYS, "too many keys for the seen masks");

const struct config_key *config_find(const char *name)
{
	for (size_t i = 0; i < config_n_keys; i++)
		if (strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	return NULL;
}

const char *config_flag(const struct config_key *key)
{
	if (!key->flag)
		return key->name;
	return key->flag[0] ? key->flag : NULL;
}

static int push_listen(struct frontend_cfg *fe, const char *value, struct weir_err *err)
{
	struct listen_spec spec;
	char **grown, *copy;
	int r = config_parse_listen(value, &spec, err);

	if (r < 0)
		return r;
	config_listen_free(&spec);
	copy = strdup(value);
	grown = copy ? grow_array(fe->listens, fe->n_listens, sizeof(*grown)) : NULL;
	if (!grown) {
		free(copy);
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	grown[fe->n_listens++] = copy;
	fe->listens = grown;
	return 0;
}

static int push_server(struct backend_cfg *be, const char *value, struct weir_err *err)
{
	struct server_spec spec, *grown;
	int r = config_parse_server(value, &spec, err);

	if (r < 0)
		return r;
	grown = grow_array(be->servers, be->n_servers, sizeof(*grown));
	if (!grown) {
		config_server_free(&spec);
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	grown[be->n_servers++] = spec;
	be->servers = grown;
	return 0;
}

static int set_name(char **field, const struct config_key *key, const char *value,
		    struct weir_err *err)
{
	char *copy;

	if (!*value || strcspn(value, " \t[]") != strlen(value)) {
		err_set(err, "%s: '%s' is not a section name", key->name, value);
		return -EINVAL;
	}
	copy = strdup(value);
	if (!copy) {
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	free(*field);
	*field = copy;
	return 0;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode \r \n \t \\ \xHH into a new string; NUL bytes are not allowed. */
static int set_string(char **field, const struct config_key *key, const char *value,
		      struct weir_err *err)
{
	char *out = malloc(strlen(value) + 1), *o = out;
	const char *p = value;

	if (!out) {
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	while (*p) {
		int hi, lo;
		if (*p != '\\') {
			*o++ = *p++;
			continue;
		}
		switch (p[1]) {
		case 'r':
			*o++ = '\r';
			p += 2;
			continue;
		case 'n':
			*o++ = '\n';
			p += 2;
			continue;
		case 't':
			*o++ = '\t';
			p += 2;
			continue;
		case '\\':
			*o++ = '\\';
			p += 2;
			continue;
		case 'x':
			hi = hex_digit(p[2]);
			lo = hi < 0 ? -1 : hex_digit(p[3]);
			if (lo >= 0 && (hi || lo)) {
				*o++ = (char)(hi << 4 | lo);
				p += 4;
				continue;
			}
			break;
		default:
			break;
		}
		err_set(err, "%s: bad escape in '%s' (use \\r, \\n, \\t, \\\\ or \\xHH, not \\x00)",
			key->name, value);
		free(out);
		return -EINVAL;
	}
	*o = '\0';
	if (!*out) {
		err_set(err, "%s: empty string", key->name);
		free(out);
		return -EINVAL;
	}
	free(*field);
	*field = out;
	return 0;
}

static int set_number(void *field, const struct config_key *key, const char *value,
		      struct weir_err *err)
{
	char lo[24], hi[24];
	uint64_t v;
	int r;

	if (key->type == CT_COUNT || key->type == CT_UINT) {
		if (key->type == CT_COUNT && strcmp(value, "auto") == 0) {
			*(uint64_t *)field = 0;
			return 0;
		}
		r = units_parse_uint(value, &v);
		snprintf(lo, sizeof(lo), "%llu", (unsigned long long)key->min);
		snprintf(hi, sizeof(hi), "%llu", (unsigned long long)key->max);
	} else if (key->type == CT_DURATION) {
		r = units_parse_duration(value, &v);
		units_format_duration(key->min, lo, sizeof(lo));
		units_format_duration(key->max, hi, sizeof(hi));
	} else {
		r = units_parse_size(value, &v);
		units_format_size(key->min, lo, sizeof(lo));
		units_format_size(key->max, hi, sizeof(hi));
	}
	if (r == -EINVAL) {
		err_set(err, "%s: '%s' is not a %s", key->name, value,
			key->type == CT_DURATION ? "duration (like 250ms, 5s, 2m, 1h)"
			: key->type == CT_SIZE	 ? "size (like 4096, 64k, 1m)"
			: key->type == CT_UINT	 ? "whole number"
						 : "whole number or 'auto'");
		return r;
	}
	if (r < 0 || v < key->min || v > key->max) {
		err_set(err, "%s: '%s' is out of range (%s to %s)", key->name, value, lo, hi);
		return -ERANGE;
	}
	*(uint64_t *)field = v;
	return 0;
}

/* The index of `value` among "a|b|c", or -1. */
static int choice_index(const char *choices, const char *value)
{
	size_t len = strlen(value);
	int i = 0;

	for (const char *p = choices; *p; i++) {
		size_t n = strcspn(p, "|");
		if (n == len && strncmp(p, value, n) == 0)
			return i;
		p += n + (p[n] == '|');
	}
	return -1;
}

static int push_item(struct config_list *list, const char *value, struct weir_err *err)
{
	char *copy = strdup(value);
	char **grown = copy ? grow_array(list->items, list->n, sizeof(*grown)) : NULL;

	if (!grown) {
		free(copy);
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	grown[list->n++] = copy;
	list->items = grown;
	return 0;
}

/* "off", or "IDLE[,INTERVAL[,COUNT]]" (defaults: an interval of IDLE/6, at least 1s, and 6). */
static int set_keepalive(struct config_keepalive *ka, const struct config_key *key,
			 const char *value, struct weir_err *err)
{
	char part[3][24] = {"", "", ""};
	uint64_t v[3] = {0, 0, 6};
	int n = 0;

	if (strcmp(value, "off") == 0) {
		memset(ka, 0, sizeof(*ka));
		return 0;
	}
	for (const char *p = value; n < 3; n++) {
		size_t len = strcspn(p, ",");
		if (len >= sizeof(part[n]))
			goto bad;
		memcpy(part[n], p, len);
		p += len;
		if (!*p++) {
			n++;
			break;
		}
	}
	if (units_parse_duration(part[0], &v[0]) < 0 || v[0] < 1000 || v[0] > DAY_MS ||
	    (n > 1 && (units_parse_duration(part[1], &v[1]) < 0 || v[1] < 1000 || v[1] > DAY_MS)) ||
	    (n > 2 && (units_parse_uint(part[2], &v[2]) < 0 || v[2] < 1 || v[2] > 100)))
		goto bad;
	if (n < 2)
		v[1] = v[0] / 6 < 1000 ? 1000 : v[0] / 6 / 1000 * 1000;
	*ka = (struct config_keepalive){v[0], v[1], v[2]};
	return 0;
bad:
	err_set(err,
		"%s: '%s' is not off or IDLE[,INTERVAL[,COUNT]] (durations of 1s to 1d, a count "
		"of 1 to 100)",
		key->name, value);
	return -EINVAL;
}

int config_set(void *section, const struct config_key *key, const char *value, struct weir_err *err)
{
	void *field = (char *)section + key->offset;
	struct weir_err inner;
	int r;

	if (key->check && (r = key->check(value, &inner)) < 0) {
		err_set(err, "%s: %s", key->name, inner.msg);
		return r;
	}
	switch (key->type) {
	case CT_CHOICE:
		r = choice_index(key->choices, value);
		if (r < 0) {
			char list[64];
			snprintf(list, sizeof(list), "%s", key->choices);
			for (char *p = list; *p; p++)
				if (*p == '|')
					*p = ',';
			err_set(err, "%s: '%s' is not one of %s", key->name, value, list);
			return -EINVAL;
		}
		*(unsigned *)field = (unsigned)r;
		return 0;
	case CT_LIST:
		return push_item(field, value, err);
	case CT_KEEPALIVE:
		return set_keepalive(field, key, value, err);
	case CT_LISTEN:
		r = push_listen(section, value, &inner);
		break;
	case CT_SERVER:
		r = push_server(section, value, &inner);
		break;
	case CT_NAME:
		return set_name(field, key, value, err);
	case CT_ADDR: {
		struct addr_parts parts;
		char *copy;
		r = addr_split(value, ADDR_LISTEN, &parts, &inner);
		if (r < 0)
			break;
		copy = strdup(value);
		if (!copy) {
			err_set(err, "out of memory");
			return -ENOMEM;
		}
		free(*(char **)field);
		*(char **)field = copy;
		return 0;
	}
	case CT_DURATION:
	case CT_SIZE:
	case CT_COUNT:
	case CT_UINT:
		return set_number(field, key, value, err);
	case CT_STRING:
		return set_string(field, key, value, err);
	case CT_BALANCE: {
		const struct lb_ops *lb = lb_find(value);
		if (!lb) {
			err_set(err, "%s: '%s' is not one of %s", key->name, value, lb_names());
			return -EINVAL;
		}
		*(const struct lb_ops **)field = lb;
		return 0;
	}
	case CT_HEALTH:
		if (strcmp(value, "none") == 0)
			*(enum health_kind *)field = HEALTH_NONE;
		else if (strcmp(value, "tcp") == 0)
			*(enum health_kind *)field = HEALTH_TCP;
		else {
			err_set(err, "%s: '%s' is not one of none, tcp", key->name, value);
			return -EINVAL;
		}
		return 0;
	case CT_LOGFORMAT:
		if (strcmp(value, "text") == 0)
			*(enum wlog_format *)field = WLOG_TEXT;
		else if (strcmp(value, "json") == 0)
			*(enum wlog_format *)field = WLOG_JSON;
		else {
			err_set(err, "%s: '%s' is not one of text, json", key->name, value);
			return -EINVAL;
		}
		return 0;
	case CT_LOGLEVEL:
		r = log_level_parse(value, field);
		if (r < 0)
			err_set(err, "%s: '%s' is not one of error, warning, info, debug",
				key->name, value);
		return r;
	default:
		return -EINVAL;
	}
	if (r < 0)
		err_set(err, "%s: %s", key->name, inner.msg);
	return r;
}

void config_format_value(const void *section, const struct config_key *key, char *buf, size_t len)
{
	const void *field = (const char *)section + key->offset;

	switch (key->type) {
	case CT_CHOICE: {
		const char *p = key->choices;
		for (unsigned i = *(const unsigned *)field; i > 0 && *p; i--)
			p += strcspn(p, "|") + 1;
		snprintf(buf, len, "%.*s", (int)strcspn(p, "|"), p);
		break;
	}
	case CT_KEEPALIVE: {
		const struct config_keepalive *ka = field;
		char idle[24], intvl[24];
		if (!ka->idle_ms) {
			snprintf(buf, len, "off");
			break;
		}
		units_format_duration(ka->idle_ms, idle, sizeof(idle));
		units_format_duration(ka->interval_ms, intvl, sizeof(intvl));
		snprintf(buf, len, "%s,%s,%llu", idle, intvl, (unsigned long long)ka->count);
		break;
	}
	case CT_DURATION:
		units_format_duration(*(const uint64_t *)field, buf, len);
		break;
	case CT_SIZE:
		units_format_size(*(const uint64_t *)field, buf, len);
		break;
	case CT_COUNT:
		if (*(const uint64_t *)field == 0)
			snprintf(buf, len, "auto");
		else
			snprintf(buf, len, "%llu", *(const unsigned long long *)field);
		break;
	case CT_LOGLEVEL:
		snprintf(buf, len, "%s", log_level_name(*(const enum wlog_level *)field));
		break;
	case CT_LOGFORMAT:
		snprintf(buf, len, "%s",
			 *(const enum wlog_format *)field == WLOG_JSON ? "json" : "text");
		break;
	case CT_UINT:
		snprintf(buf, len, "%llu", *(const unsigned long long *)field);
		break;
	case CT_BALANCE:
		snprintf(buf, len, "%s", (*(const struct lb_ops *const *)field)->name);
		break;
	case CT_HEALTH:
		snprintf(buf, len, "%s",
			 *(const enum health_kind *)field == HEALTH_TCP ? "tcp" : "none");
		break;
	case CT_ADDR:
		snprintf(buf, len, "%s", *(char *const *)field ? *(char *const *)field : "-");
		break;
	case CT_STRING: {
		const char *str = *(char *const *)field;
		size_t n = 0;
		if (!str) {
			snprintf(buf, len, "-");
			break;
		}
		/* Printable as is (UTF-8 too, so that a line that fit in a file still fits);
		 * the rest as the escapes it was written with, and what a file would not read
		 * back (a ';' starts a comment, blanks at either end are trimmed) as \xHH. */
		for (const char *start = str; *str && n + 5 < len; str++) {
			unsigned char ch = (unsigned char)*str;
			bool edge = ch == ' ' && (str == start || str[strspn(str, " ")] == '\0');
			if (ch == '\r' || ch == '\n' || ch == '\t' || ch == '\\')
				n += (size_t)snprintf(buf + n, len - n, "\\%c",
						      ch == '\r'   ? 'r'
						      : ch == '\n' ? 'n'
						      : ch == '\t' ? 't'
								   : '\\');
			else if (ch < 0x20 || ch == 0x7f || ch == ';' || edge)
				n += (size_t)snprintf(buf + n, len - n, "\\x%02x", ch);
			else
				buf[n++] = (char)ch;
		}
		buf[n] = '\0';
		break;
	}
	default:
		snprintf(buf, len, "-");
	}
}

/* Every key of `scope` with a default gets it; defaults are checked by the unit tests. */
static int set_defaults(void *section, enum config_scope scope)
{
	for (size_t i = 0; i < config_n_keys; i++) {
		const struct config_key *k = &config_keys[i];
		if (k->scope == scope && k->def && config_set(section, k, k->def, NULL) < 0)
			return -EINVAL;
	}
	return 0;
}

int config_init(struct weir_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	return set_defaults(cfg, SCOPE_GLOBAL);
}

static void list_free(struct config_list *list)
{
	for (size_t i = 0; i < list->n; i++)
		free(list->items[i]);
	free(list->items);
	list->items = NULL;
	list->n = 0;
}

static void frontend_free(struct frontend_cfg *fe)
{
	list_free(&fe->allow);
	list_free(&fe->deny);
	list_free(&fe->route_sni);
	free(fe->route_backend);
	for (size_t i = 0; i < fe->n_listens; i++)
		free(fe->listens[i]);
	free(fe->listens);
	free(fe->backend);
	free(fe->name);
}

static void backend_free(struct backend_cfg *be)
{
	for (size_t i = 0; i < be->n_servers; i++)
		config_server_free(&be->servers[i]);
	free(be->servers);
	free(be->health_send);
	free(be->health_expect);
	free(be->source);
	free(be->name);
}

void config_free(struct weir_config *cfg)
{
	for (size_t i = 0; i < cfg->n_frontends; i++)
		frontend_free(&cfg->frontends[i]);
	for (size_t i = 0; i < cfg->n_backends; i++)
		backend_free(&cfg->backends[i]);
	free(cfg->frontends);
	free(cfg->backends);
	free(cfg->overrides);
	free(cfg->user);
	free(cfg->group);
	free(cfg->stats);
	free(cfg->admin);
	free(cfg->resolvers);
	free(cfg->pid_file);
	free(cfg->text);
	for (size_t i = 0; i < cfg->n_ops; i++) {
		free(cfg->ops[i].backend);
		free(cfg->ops[i].server);
	}
	free(cfg->ops);
	memset(cfg, 0, sizeof(*cfg));
}

static struct backend_cfg *backend_called(struct weir_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_backends; i++)
		if (strcmp(cfg->backends[i].name, name) == 0)
			return &cfg->backends[i];
	return NULL;
}

int config_apply_op(struct weir_config *cfg, const struct config_op *op, struct weir_err *err)
{
	struct backend_cfg *be = backend_called(cfg, op->backend);
	struct config_op *ops, *kept;
	int r = 0;

	if (!be) {
		err_set(err, "no backend called '%s'", op->backend);
		return -EINVAL;
	}
	if (op->kind != CONFIG_OP_ADD && op->spec >= be->n_servers) {
		err_set(err, "backend '%s' has no server line %zu", op->backend, op->spec + 1);
		return -EINVAL;
	}
	ops = grow_array(cfg->ops, cfg->n_ops, sizeof(*ops));
	if (!ops) {
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	cfg->ops = ops;
	kept = &ops[cfg->n_ops];
	*kept = *op;
	kept->backend = strdup(op->backend);
	kept->server = op->server ? strdup(op->server) : NULL;
	if (!kept->backend || (op->server && !kept->server)) {
		free(kept->backend);
		free(kept->server);
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	switch (op->kind) {
	case CONFIG_OP_ADD:
		r = push_server(be, op->server, err);
		break;
	case CONFIG_OP_DEL:
		config_server_free(&be->servers[op->spec]);
		memmove(&be->servers[op->spec], &be->servers[op->spec + 1],
			(be->n_servers - op->spec - 1) * sizeof(*be->servers));
		be->n_servers--;
		break;
	case CONFIG_OP_WEIGHT:
		be->servers[op->spec].weight = op->weight;
		break;
	}
	if (r < 0) {
		free(kept->backend);
		free(kept->server);
		return r;
	}
	cfg->n_ops++;
	return 0;
}

struct frontend_cfg *config_add_frontend(struct weir_config *cfg, const char *name, unsigned line)
{
	struct frontend_cfg *grown = grow_array(cfg->frontends, cfg->n_frontends, sizeof(*grown));
	struct frontend_cfg *fe;

	if (!grown)
		return NULL;
	cfg->frontends = grown;
	fe = &grown[cfg->n_frontends];
	memset(fe, 0, sizeof(*fe));
	fe->line = line;
	fe->linger_timeout_ms = CONFIG_UNSET;
	fe->name = strdup(name);
	if (!fe->name || set_defaults(fe, SCOPE_FRONTEND) < 0) {
		frontend_free(fe);
		return NULL;
	}
	cfg->n_frontends++;
	return fe;
}

struct backend_cfg *config_add_backend(struct weir_config *cfg, const char *name, unsigned line)
{
	struct backend_cfg *grown = grow_array(cfg->backends, cfg->n_backends, sizeof(*grown));
	struct backend_cfg *be;

	if (!grown)
		return NULL;
	cfg->backends = grown;
	be = &grown[cfg->n_backends];
	memset(be, 0, sizeof(*be));
	be->line = line;
	be->queue_timeout_ms = CONFIG_UNSET;
	be->name = strdup(name);
	if (!be->name || set_defaults(be, SCOPE_BACKEND) < 0) {
		backend_free(be);
		return NULL;
	}
	cfg->n_backends++;
	return be;
}

int config_apply_overrides(struct weir_config *cfg, struct weir_err *err)
{
	for (size_t i = 0; i < cfg->n_overrides; i++) {
		const struct config_override *o = &cfg->overrides[i];
		int r = 0;

		switch (o->key->scope) {
		case SCOPE_GLOBAL:
			r = config_set(cfg, o->key, o->value, err);
			break;
		case SCOPE_FRONTEND:
			for (size_t f = 0; f < cfg->n_frontends && r == 0; f++)
				r = config_set(&cfg->frontends[f], o->key, o->value, err);
			break;
		case SCOPE_BACKEND:
			for (size_t b = 0; b < cfg->n_backends && r == 0; b++)
				r = config_set(&cfg->backends[b], o->key, o->value, err);
			break;
		}
		if (r < 0)
			return r;
	}
	return 0;
}
