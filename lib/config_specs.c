/*
 * The values of listen and server keys: an address followed by options, checked for
 * syntax here (names are resolved later, with the rest of a configuration, off the loop).
 *
 *   listen: ADDR[,mode=OCTAL][,user=NAME][,group=NAME]      (options for unix: only)
 *           ADDR[,shared]                                   (TCP only)
 *   server: ADDR[,weight=N][,maxconn=N][,backup][,send-proxy=v1|v2][,source=IP[:LO-HI]]
 *           [,name=NAME][,resolve|,resolve=srv]
 *           (the config file may separate the options with blanks instead of commas)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "config.h"
#include "units.h"

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

	if (len == 6 && strncmp(opt, "shared", 6) == 0) {
		if (spec->shared) {
			err_set(err, "'%s': option 'shared' given twice", text);
			return -EINVAL;
		}
		spec->shared = true;
		return 0;
	}
	if (!eq || !vlen) {
		err_set(err, "'%s': '%.*s' is not an option (shared, mode=, user= or group=)",
			text, (int)len, opt);
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
		err_set(err, "'%s': unknown option '%.*s' (expected shared, mode=, user= or group=)",
			text, (int)nlen, opt);
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
	if (r == 0 && spec->shared && parts.kind == ADDR_UNIX) {
		err_set(err, "'%s': shared applies to TCP addresses only", text);
		r = -EINVAL;
	}
	if (r < 0)
		config_listen_free(spec);
	return r;
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
	if (len > 11 && strncmp(opt, "send-proxy=", 11) == 0) {
		if (*seen & 8)
			goto duplicate;
		*seen |= 8;
		if (len == 13 &&
		    (strncmp(opt + 11, "v1", 2) == 0 || strncmp(opt + 11, "v2", 2) == 0))
			spec->send_proxy = (unsigned)(opt[12] - '0');
		else if (len == 15 && strncmp(opt + 11, "none", 4) == 0)
			spec->send_proxy = 0;
		else {
			err_set(err, "server '%s': send-proxy must be v1, v2 or none", text);
			return -EINVAL;
		}
		return 0;
	}
	if (len > 5 && strncmp(opt, "name=", 5) == 0) {
		if (*seen & 32)
			goto duplicate;
		*seen |= 32;
		if (len - 5 >= SERVER_NAME_MAX || strspn(opt + 5, "abcdefghijklmnopqrstuvwxyz"
								  "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
								  "0123456789._:-") < len - 5) {
			err_set(err,
				"server '%s': a name is 1 to %d letters, digits, '.', '_', ':' "
				"or '-'",
				text, SERVER_NAME_MAX - 1);
			return -EINVAL;
		}
		spec->name = strndup(opt + 5, len - 5);
		if (!spec->name) {
			err_set(err, "out of memory");
			return -ENOMEM;
		}
		return 0;
	}
	if ((len == 7 && strncmp(opt, "resolve", 7) == 0) ||
	    (len == 11 && strncmp(opt, "resolve=srv", 11) == 0)) {
		if (*seen & 64)
			goto duplicate;
		*seen |= 64;
		spec->resolve = len == 7 ? RESOLVE_A : RESOLVE_SRV;
		return 0;
	}
	if (len > 7 && strncmp(opt, "source=", 7) == 0) {
		char ip[SOURCE_TEXT_MAX];
		if (*seen & 16)
			goto duplicate;
		*seen |= 16;
		if (len - 7 < sizeof(ip)) {
			memcpy(ip, opt + 7, len - 7);
			ip[len - 7] = '\0';
		}
		if (len - 7 >= sizeof(ip) || config_check_source(ip, err) < 0) {
			err_set(err,
				"server '%s': source must be IP or IP:LO-HI (an IPv4 or IPv6 "
				"address, [IP]:LO-HI for IPv6; ports 1-65535, LO no more than HI)",
				text);
			return -EINVAL;
		}
		spec->source = strdup(ip);
		if (!spec->source) {
			err_set(err, "out of memory");
			return -ENOMEM;
		}
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
	err_set(err,
		"server '%s': unknown option '%.*s' (expected weight=N, maxconn=N, backup, "
		"send-proxy=v1|v2, source=IP[:LO-HI], name=NAME, resolve or resolve=srv)",
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
	spec->send_proxy = CONFIG_SEND_PROXY_BACKEND;
	spec->addr = strndup(text, alen);
	if (!spec->addr) {
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	for (p = text + alen, r = 0; r == 0 && *p;) {
		size_t len;
		p += strspn(p, seps);
		len = strcspn(p, seps);
		if (len)
			r = server_option(text, p, len, spec, &seen, err);
		p += len;
	}
	/* An SRV name has no port: the records give them. */
	if (r == 0 && spec->resolve == RESOLVE_SRV) {
		if (!spec->addr[0] || strchr(spec->addr, ':') || strchr(spec->addr, '/') ||
		    strspn(spec->addr, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				       "0123456789._-") != strlen(spec->addr)) {
			err_set(err,
				"server '%s': resolve=srv takes a name without a port "
				"(_service._tcp.example.com)",
				text);
			r = -EINVAL;
		}
	} else if (r == 0) {
		r = addr_split(spec->addr, ADDR_CONNECT, &parts, err);
	}
	if (r == 0 && spec->resolve == RESOLVE_A) {
		unsigned char b[16];
		if (parts.kind != ADDR_INET || inet_pton(AF_INET, parts.host, b) == 1 ||
		    inet_pton(AF_INET6, parts.host, b) == 1 || strchr(parts.host, '%')) {
			err_set(err, "server '%s': resolve needs a host name, not an address",
				text);
			r = -EINVAL;
		}
	}
	if (r < 0)
		config_server_free(spec);
	return r;
}

void config_server_free(struct server_spec *spec)
{
	free(spec->addr);
	free(spec->source);
	free(spec->name);
	spec->addr = spec->source = spec->name = NULL;
}

/* A port, 1-65535, with nothing after it but `end`. */
static bool parse_port(const char *p, char end, uint16_t *port, const char **rest)
{
	unsigned v = 0;
	const char *q = p;

	while (*q >= '0' && *q <= '9' && q - p < 5)
		v = v * 10 + (unsigned)(*q++ - '0');
	if (q == p || v == 0 || v > 65535 || (*q != end && *q != '\0'))
		return false;
	*port = (uint16_t)v;
	*rest = q;
	return true;
}

int config_parse_source(const char *text, char *ip, uint16_t *lo, uint16_t *hi,
			struct weir_err *err)
{
	unsigned char buf[16];
	const char *colon = NULL, *p;
	size_t len;

	*lo = *hi = 0;
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (close && close[1] == ':')
			colon = close + 1;
		len = close ? (size_t)(close - text - 1) : 0;
		if (!close || (close[1] && !colon) || len >= INET6_ADDRSTRLEN)
			goto bad;
		memcpy(ip, text + 1, len);
		ip[len] = '\0';
		if (inet_pton(AF_INET6, ip, buf) != 1)
			goto bad;
	} else if (inet_pton(AF_INET6, text, buf) == 1) {
		/* IPv6 has colons of its own: a range after it needs brackets. */
		len = strlen(text);
		if (len >= INET6_ADDRSTRLEN)
			goto bad;
		memcpy(ip, text, len + 1);
	} else {
		colon = strchr(text, ':');
		len = colon ? (size_t)(colon - text) : strlen(text);
		if (len >= INET6_ADDRSTRLEN)
			goto bad;
		memcpy(ip, text, len);
		ip[len] = '\0';
		if (inet_pton(AF_INET, ip, buf) != 1)
			goto bad;
	}
	if (!colon)
		return 0;
	if (!parse_port(colon + 1, '-', lo, &p))
		goto bad;
	if (*p == '\0')
		*hi = *lo;
	else if (!parse_port(p + 1, '\0', hi, &p) || *hi < *lo)
		goto bad;
	return 0;
bad:
	*lo = *hi = 0;
	err_set(err,
		"'%s' is not a source: IP, or IP:LO-HI for a range of ports to connect from "
		"([IP]:LO-HI for IPv6; ports 1-65535, LO no more than HI)",
		text);
	return -EINVAL;
}

int config_check_sockbuf(const char *value, struct weir_err *err)
{
	uint64_t v;

	if (units_parse_size(value, &v) < 0 || v == 0 || v >= 1024)
		return 0; /* a size's own check says what is wrong with it */
	err_set(err, "'%s' is too small: 0 (the kernel sizes it) or at least 1k", value);
	return -EINVAL;
}

int config_check_source(const char *text, struct weir_err *err)
{
	char ip[INET6_ADDRSTRLEN];
	uint16_t lo, hi;

	return config_parse_source(text, ip, &lo, &hi, err);
}
