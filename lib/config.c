#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "config.h"
#include "htab.h"
#include "pool.h"
#include "units.h"

#define G(field) SCOPE_GLOBAL, offsetof(struct weir_config, field)
#define F(field) SCOPE_FRONTEND, offsetof(struct frontend_cfg, field)
#define B(field) SCOPE_BACKEND, offsetof(struct backend_cfg, field)
#define DAY_MS	 (86400000ULL)

/* Bounds are inclusive; the defaults are parsed by the same code as an operator's value. */
const struct config_key config_keys[] = {
	{"listen", NULL, 'l', F(listens), CT_LISTEN, NULL, 0, 0, "ADDR",
	 "accept clients on ADDR (host:port, :port, [v6]:port, unix:/path)", false},
	{"server", "backend", 'b', B(servers), CT_SERVER, NULL, 0, 0, "SERVER",
	 "proxy to SERVER: ADDR[,weight=N][,maxconn=N][,backup]", false},
	{"backend", "", 0, F(backend), CT_NAME, NULL, 0, 0, "NAME",
	 "the [backend NAME] section that serves this frontend", false},
	{"balance", NULL, 'B', B(balance), CT_BALANCE, "roundrobin", 0, 0, "ALGO",
	 "roundrobin, leastconn, random, source or hash", false},
	{"connect-timeout", NULL, 0, B(connect_timeout_ms), CT_DURATION, "5s", 1, 3600000, "DUR",
	 "give up connecting to a server after DUR", false},
	{"idle-timeout", NULL, 0, F(idle_timeout_ms), CT_DURATION, "5m", 0, 30 * DAY_MS, "DUR",
	 "close connections idle for DUR; 0 never", false},
	{"linger-timeout", NULL, 0, F(linger_timeout_ms), CT_DURATION, NULL, 0, 30 * DAY_MS, "DUR",
	 "the same for half-closed connections (default: idle-timeout)", false},
	{"drain-timeout", NULL, 0, G(drain_timeout_ms), CT_DURATION, "30s", 0, DAY_MS, "DUR",
	 "on SIGTERM, let connections finish for up to DUR", false},
	{"max-connections", NULL, 0, G(max_connections), CT_COUNT, "auto", 1, 10000000, "N",
	 "stop accepting at N open connections", false},
	{"health-check", NULL, 0, B(health_check), CT_HEALTH, "none", 0, 0, "KIND",
	 "none (passive only) or tcp (active checks)", false},
	{"health-interval", NULL, 0, B(health_interval_ms), CT_DURATION, "2s", 10, 3600000, "DUR",
	 "time between checks (a DOWN server's rest without checks)", false},
	{"health-timeout", NULL, 0, B(health_timeout_ms), CT_DURATION, "1s", 10, 3600000, "DUR",
	 "a check that takes longer fails", false},
	{"rise", NULL, 0, B(rise), CT_UINT, "2", 1, 100, "N", "checks passed to mark a server up",
	 false},
	{"fall", NULL, 0, B(fall), CT_UINT, "3", 1, 100, "N",
	 "consecutive failures to mark a server down", false},
	{"health-send", NULL, 0, B(health_send), CT_STRING, NULL, 0, 0, "STRING",
	 "check: send STRING after connecting (\\r, \\n, \\xHH escapes)", false},
	{"health-expect", NULL, 0, B(health_expect), CT_STRING, NULL, 0, 0, "STRING",
	 "check: pass only if the reply contains STRING", false},
	{"buffer-size", NULL, 0, G(buffer_size), CT_SIZE, "64k", 1024, 64 << 20, "SIZE",
	 "bytes buffered per direction of a connection", true},
	{"log-level", NULL, 0, G(log_level), CT_LOGLEVEL, "info", 0, 0, "LEVEL",
	 "error, warning, info or debug", false},
	{"log-format", NULL, 0, G(log_format), CT_LOGFORMAT, "text", 0, 0, "FORMAT", "text or json",
	 false},
	{"stats", NULL, 0, G(stats), CT_ADDR, NULL, 0, 0, "ADDR",
	 "serve GET /metrics and /stats on ADDR (loopback, unix:/path)", true},
	{"user", NULL, 0, G(user), CT_STRING, NULL, 0, 0, "USER",
	 "run as USER once listening (and as its group)", true},
	{"group", NULL, 0, G(group), CT_STRING, NULL, 0, 0, "GROUP", "run as GROUP once listening",
	 true},
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

void config_listen_free(struct listen_spec *spec)
{
	free(spec->addr);
	free(spec->user);
	free(spec->group);
	memset(spec, 0, sizeof(*spec));
}

/* One "name=value" option of a listen key. */
static int listen_option(const char *text, const char *opt, size_t len, struct listen_spec *spec,
			 struct weir_err *err)
{
	const char *eq = memchr(opt, '=', len);
	size_t nlen = eq ? (size_t)(eq - opt) : len, vlen = eq ? len - nlen - 1 : 0;
	char **name = NULL;

	if (!eq || !vlen) {
		err_set(err, "'%s': '%.*s' is not an option (mode=, user= or group=)", text,
			(int)len, opt);
		return -EINVAL;
	}
	if (nlen == 4 && strncmp(opt, "mode", 4) == 0) {
		char digits[8], *end;
		unsigned long mode;
		if (spec->mode || vlen >= sizeof(digits))
			goto bad_mode;
		memcpy(digits, eq + 1, vlen);
		digits[vlen] = '\0';
		mode = strtoul(digits, &end, 8);
		if (*end || digits[0] < '0' || digits[0] > '7' || mode == 0 || mode > 07777)
			goto bad_mode;
		spec->mode = (unsigned)mode;
		return 0;
	}
	if (nlen == 4 && strncmp(opt, "user", 4) == 0)
		name = &spec->user;
	else if (nlen == 5 && strncmp(opt, "group", 5) == 0)
		name = &spec->group;
	if (!name) {
		err_set(err, "'%s': unknown option '%.*s' (expected mode=, user= or group=)", text,
			(int)nlen, opt);
		return -EINVAL;
	}
	if (*name) {
		err_set(err, "'%s': option '%.*s' given twice", text, (int)nlen, opt);
		return -EINVAL;
	}
	*name = strndup(eq + 1, vlen);
	if (!*name) {
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	return 0;
bad_mode:
	err_set(err, "'%s': mode must be given once, in octal, from 1 to 7777", text);
	return -EINVAL;
}

int config_parse_listen(const char *text, struct listen_spec *spec, struct weir_err *err)
{
	size_t alen = strcspn(text, ",");
	struct addr_parts parts;
	const char *p;
	int r;

	memset(spec, 0, sizeof(*spec));
	spec->addr = strndup(text, alen);
	if (!spec->addr) {
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	r = addr_split(spec->addr, ADDR_LISTEN, &parts, err);
	for (p = text + alen; r == 0 && *p;) {
		size_t len = strcspn(++p, ",");
		r = listen_option(text, p, len, spec, err);
		p += len;
	}
	if (r == 0 && (spec->mode || spec->user || spec->group) && parts.kind != ADDR_UNIX) {
		err_set(err, "'%s': mode, user and group apply to unix: sockets only", text);
		r = -EINVAL;
	}
	if (r < 0)
		config_listen_free(spec);
	return r;
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
	grown = copy ? realloc(fe->listens, (fe->n_listens + 1) * sizeof(*grown)) : NULL;
	if (!grown) {
		free(copy);
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	grown[fe->n_listens++] = copy;
	fe->listens = grown;
	return 0;
}

static int server_option(const char *text, const char *opt, size_t len, struct server_spec *spec,
			 unsigned *seen, struct weir_err *err)
{
	static const struct {
		const char *name;
		uint64_t max;
	} numeric[] = {{"weight", 256}, {"maxconn", 1000000}};
	char value[32];
	size_t vlen;
	uint64_t v;

	if (len == 6 && strncmp(opt, "backup", 6) == 0) {
		if (*seen & 4)
			goto duplicate;
		*seen |= 4;
		spec->backup = true;
		return 0;
	}
	for (unsigned i = 0; i < ARRAY_SIZE(numeric); i++) {
		size_t nlen = strlen(numeric[i].name);
		if (len <= nlen || strncmp(opt, numeric[i].name, nlen) != 0 || opt[nlen] != '=')
			continue;
		if (*seen & (1u << i))
			goto duplicate;
		*seen |= 1u << i;
		vlen = len - nlen - 1;
		if (vlen >= sizeof(value))
			vlen = 0; /* far too long to be in range: the empty value fails below */
		memcpy(value, opt + nlen + 1, vlen);
		value[vlen] = '\0';
		if (units_parse_uint(value, &v) < 0 || v > numeric[i].max) {
			err_set(err, "server '%s': %s must be a number from 0 to %llu", text,
				numeric[i].name, (unsigned long long)numeric[i].max);
			return -EINVAL;
		}
		if (i == 0)
			spec->weight = (unsigned)v;
		else
			spec->maxconn = (unsigned)v;
		return 0;
	}
	err_set(err, "server '%s': unknown option '%.*s' (expected weight=N, maxconn=N or backup)",
		text, (int)len, opt);
	return -EINVAL;
duplicate:
	err_set(err, "server '%s': option '%.*s' given twice", text, (int)len, opt);
	return -EINVAL;
}

int config_parse_server(const char *text, struct server_spec *spec, struct weir_err *err)
{
	/* Options follow the address after commas (command line) or blanks (config file). */
	static const char seps[] = ", \t";
	size_t alen = strcspn(text, seps);
	struct addr_parts parts;
	unsigned seen = 0;
	const char *p;
	int r;

	memset(spec, 0, sizeof(*spec));
	spec->weight = 1;
	spec->addr = strndup(text, alen);
	if (!spec->addr) {
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	r = addr_split(spec->addr, ADDR_CONNECT, &parts, err);
	for (p = text + alen; r == 0 && *p;) {
		size_t len;
		p += strspn(p, seps);
		len = strcspn(p, seps);
		if (len)
			r = server_option(text, p, len, spec, &seen, err);
		p += len;
	}
	if (r < 0) {
		free(spec->addr);
		spec->addr = NULL;
	}
	return r;
}

static int push_server(struct backend_cfg *be, const char *value, struct weir_err *err)
{
	struct server_spec spec, *grown;
	int r = config_parse_server(value, &spec, err);

	if (r < 0)
		return r;
	grown = realloc(be->servers, (be->n_servers + 1) * sizeof(*grown));
	if (!grown) {
		free(spec.addr);
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

int config_set(void *section, const struct config_key *key, const char *value, struct weir_err *err)
{
	void *field = (char *)section + key->offset;
	struct weir_err inner;
	int r;

	switch (key->type) {
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
		/* Printable as is; the rest as the escapes it was written with. */
		for (; *str && n + 5 < len; str++) {
			unsigned char ch = (unsigned char)*str;
			if (ch == '\r' || ch == '\n' || ch == '\t' || ch == '\\')
				n += (size_t)snprintf(buf + n, len - n, "\\%c",
						      ch == '\r'   ? 'r'
						      : ch == '\n' ? 'n'
						      : ch == '\t' ? 't'
								   : '\\');
			else if (ch < 0x20 || ch >= 0x7f)
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

static void frontend_free(struct frontend_cfg *fe)
{
	for (size_t i = 0; i < fe->n_listens; i++)
		free(fe->listens[i]);
	free(fe->listens);
	free(fe->backend);
	free(fe->name);
}

static void backend_free(struct backend_cfg *be)
{
	for (size_t i = 0; i < be->n_servers; i++)
		free(be->servers[i].addr);
	free(be->servers);
	free(be->health_send);
	free(be->health_expect);
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
	memset(cfg, 0, sizeof(*cfg));
}

struct frontend_cfg *config_add_frontend(struct weir_config *cfg, const char *name, unsigned line)
{
	struct frontend_cfg *grown =
		realloc(cfg->frontends, (cfg->n_frontends + 1) * sizeof(*grown));
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
	struct backend_cfg *grown = realloc(cfg->backends, (cfg->n_backends + 1) * sizeof(*grown));
	struct backend_cfg *be;

	if (!grown)
		return NULL;
	cfg->backends = grown;
	be = &grown[cfg->n_backends];
	memset(be, 0, sizeof(*be));
	be->line = line;
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

void config_where(const struct weir_config *cfg, unsigned line, char *buf, size_t len)
{
	if (cfg->file && line)
		snprintf(buf, len, "%s:%u: ", cfg->file, line);
	else if (cfg->file)
		snprintf(buf, len, "%s: ", cfg->file);
	else
		buf[0] = '\0';
}

static bool backend_named(const void *entry, const void *key)
{
	return strcmp(((const struct backend_cfg *)entry)->name, key) == 0;
}

/* Each frontend's backend, found by name through a hash table (linear in the file). */
static int link_backends(struct weir_config *cfg, struct weir_err *err)
{
	struct htab t;
	char at[512];
	int r = 0;

	if (htab_init(&t, cfg->n_backends) < 0) {
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	for (size_t b = 0; b < cfg->n_backends; b++) {
		void **slot = htab_slot(&t, hash_str(cfg->backends[b].name, 0), backend_named,
					cfg->backends[b].name);
		if (!*slot)
			*slot = &cfg->backends[b];
	}
	for (size_t i = 0; i < cfg->n_frontends && r == 0; i++) {
		struct frontend_cfg *fe = &cfg->frontends[i];
		const struct backend_cfg *be =
			*htab_slot(&t, hash_str(fe->backend, 0), backend_named, fe->backend);
		if (be) {
			fe->backend_index = (size_t)(be - cfg->backends);
			continue;
		}
		config_where(cfg, fe->line, at, sizeof(at));
		if (fe->line)
			err_set(err, "%sfrontend '%s' names backend '%s', which is not defined", at,
				fe->name, fe->backend);
		else
			err_set(err, "nowhere to proxy to: give at least one -b SERVER");
		r = -EINVAL;
	}
	htab_fini(&t);
	return r;
}

int config_check(struct weir_config *cfg, struct weir_err *err)
{
	char at[512];

	if (cfg->group && !cfg->user) {
		config_where(cfg, 0, at, sizeof(at));
		err_set(err, "%sgroup '%s' needs a user as well (weir would stay root)", at,
			cfg->group);
		return -EINVAL;
	}
	if (cfg->n_frontends == 0) {
		config_where(cfg, 0, at, sizeof(at));
		err_set(err, "%snothing to listen on: %s", at,
			cfg->file ? "define a [frontend NAME] with a listen key"
				  : "give at least one -l ADDR");
		return -EINVAL;
	}
	for (size_t i = 0; i < cfg->n_frontends; i++) {
		struct frontend_cfg *fe = &cfg->frontends[i];

		config_where(cfg, fe->line, at, sizeof(at));
		if (fe->n_listens == 0) {
			err_set(err, "%sfrontend '%s' has no listen key", at, fe->name);
			return -EINVAL;
		}
		if (!fe->backend) {
			err_set(err, "%sfrontend '%s' names no backend", at, fe->name);
			return -EINVAL;
		}
		if (fe->linger_timeout_ms == CONFIG_UNSET)
			fe->linger_timeout_ms = fe->idle_timeout_ms;
	}
	if (link_backends(cfg, err) < 0)
		return -EINVAL;
	for (size_t i = 0; i < cfg->n_backends; i++) {
		const struct backend_cfg *be = &cfg->backends[i];
		config_where(cfg, be->line, at, sizeof(at));
		if (be->n_servers == 0) {
			err_set(err, "%sbackend '%s' has no server", at, be->name);
			return -EINVAL;
		}
		if (be->health_expect && strlen(be->health_expect) > CONFIG_EXPECT_MAX) {
			err_set(err,
				"%sbackend '%s': health-expect is longer than %d bytes, more than "
				"a "
				"check reads of a reply",
				at, be->name, CONFIG_EXPECT_MAX);
			return -EINVAL;
		}
	}
	return 0;
}
