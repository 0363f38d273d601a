/* The command line: flags validated as they come, -l and -b as one implicit frontend. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

/* The frontend and backend that -l and -b fill. */
static void *implicit_section(struct weir_config *cfg, enum config_scope scope)
{
	struct frontend_cfg *fe;

	if (scope == SCOPE_FRONTEND) {
		for (size_t i = 0; i < cfg->n_frontends; i++)
			if (cfg->frontends[i].line == 0)
				return &cfg->frontends[i];
		fe = config_add_frontend(cfg, "default", 0);
		if (fe && !(fe->backend = strdup("default")))
			return NULL;
		return fe;
	}
	for (size_t i = 0; i < cfg->n_backends; i++)
		if (cfg->backends[i].line == 0)
			return &cfg->backends[i];
	return config_add_backend(cfg, "default", 0);
}

/* Check a frontend or backend flag's value now, so a typo is a usage error. */
static int validate_flag(const struct config_key *key, const char *value, struct weir_err *err)
{
	struct weir_config scratch = {0};
	void *section = &scratch;
	int r;

	if (key->scope == SCOPE_FRONTEND)
		section = config_add_frontend(&scratch, "x", 0);
	else if (key->scope == SCOPE_BACKEND)
		section = config_add_backend(&scratch, "x", 0);
	r = section ? config_set(section, key, value, err) : -ENOMEM;
	config_free(&scratch); /* one path out: what a string value allocated goes too */
	return r;
}

static int record_override(struct weir_config *cfg, const struct config_key *key, const char *value,
			   struct weir_err *err)
{
	struct config_override *grown;
	int r = validate_flag(key, value, err);

	if (r < 0)
		return r;
	grown = grow_array(cfg->overrides, cfg->n_overrides, sizeof(*grown));
	if (!grown) {
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	grown[cfg->n_overrides++] = (struct config_override){key, value};
	cfg->overrides = grown;
	return 0;
}

/* getopt_long values for options that are actions rather than keys. */
enum {
	OPT_KEY_BASE = 256,
};

int config_parse_args(struct weir_config *cfg, int argc, char **argv, enum config_action *action,
		      struct weir_err *err)
{
	struct option longopts[CONFIG_MAX_KEYS + 5];
	char shortopts[3 * CONFIG_MAX_KEYS + 8] = ":htVc:";
	size_t ns = strlen(shortopts), nl = 0;
	int c, r = 0;

	*action = CONFIG_RUN;
	for (size_t i = 0; i < config_n_keys; i++) {
		const struct config_key *k = &config_keys[i];
		if (!config_flag(k))
			continue;
		longopts[nl++] = (struct option){config_flag(k), required_argument, NULL,
						 OPT_KEY_BASE + (int)i};
		if (k->short_name) {
			shortopts[ns++] = k->short_name;
			shortopts[ns++] = ':';
		}
	}
	shortopts[ns] = '\0';
	longopts[nl++] = (struct option){"config", required_argument, NULL, 'c'};
	longopts[nl++] = (struct option){"help", no_argument, NULL, 'h'};
	longopts[nl++] = (struct option){"version", no_argument, NULL, 'V'};
	longopts[nl++] = (struct option){"check-config", no_argument, NULL, 't'};
	longopts[nl] = (struct option){NULL, 0, NULL, 0};

	opterr = 0;
	optind = 0; /* 0, not 1: also resets GNU getopt's state between calls */
	while (r == 0 && (c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		const struct config_key *key = NULL;

		switch (c) {
		case 'h':
			*action = CONFIG_HELP;
			return 0;
		case 'V':
			*action = CONFIG_VERSION;
			return 0;
		case 't':
			*action = CONFIG_CHECK;
			continue;
		case 'c':
			cfg->file = optarg;
			continue;
		case ':':
			err_set(err, "option '%s' needs a value", argv[optind - 1]);
			return -EINVAL;
		case '?':
			if (optopt)
				err_set(err, "unknown option '-%c'", optopt);
			else
				err_set(err, "unknown option '%s'", argv[optind - 1]);
			return -EINVAL;
		default:
			break;
		}
		if (c >= OPT_KEY_BASE) {
			key = &config_keys[c - OPT_KEY_BASE];
		} else {
			for (size_t i = 0; i < config_n_keys && !key; i++)
				if (config_keys[i].short_name == c)
					key = &config_keys[i];
		}
		if (key->type == CT_LISTEN || key->type == CT_SERVER) {
			void *section = implicit_section(cfg, key->scope);
			r = section ? config_set(section, key, optarg, err) : -ENOMEM;
		} else {
			r = record_override(cfg, key, optarg, err);
		}
	}
	if (r < 0)
		return -EINVAL;
	if (optind < argc) {
		err_set(err, "unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	if (!cfg->file && cfg->n_frontends == 0 && access(WEIR_CONFIG_FILE, F_OK) == 0)
		cfg->file = WEIR_CONFIG_FILE; /* neither -l nor -c: the installed file, if any */
	if (cfg->file)
		return 0; /* config_load finishes */
	if (config_apply_overrides(cfg, err) < 0 || config_check(cfg, err) < 0)
		return -EINVAL;
	return 0;
}

enum config_status config_read(struct weir_config *cfg, int argc, char **argv,
			       enum config_action *action, struct weir_err *err)
{
	int r;

	*action = CONFIG_RUN;
	if (config_init(cfg) < 0) {
		err_set(err, "out of memory");
		return CONFIG_NOMEM;
	}
	if (config_parse_args(cfg, argc, argv, action, err) < 0)
		return CONFIG_USAGE;
	if (*action == CONFIG_HELP || *action == CONFIG_VERSION || !cfg->file)
		return CONFIG_OK;
	r = config_load(cfg, err);
	return r == 0 ? CONFIG_OK : r == -EINVAL ? CONFIG_INVALID : CONFIG_UNREADABLE;
}

enum config_status config_reread(struct weir_config *cfg, int argc, char **argv, const char *text,
				 size_t text_len, const struct config_op *ops, size_t n_ops,
				 struct weir_err *err)
{
	enum config_action action;
	int r;

	if (config_init(cfg) < 0) {
		err_set(err, "out of memory");
		return CONFIG_NOMEM;
	}
	if (config_parse_args(cfg, argc, argv, &action, err) < 0)
		return CONFIG_USAGE;
	if (cfg->file && (r = config_load_from(cfg, text ? text : "", text_len, err)) < 0)
		return r == -EINVAL ? CONFIG_INVALID : CONFIG_UNREADABLE;
	for (size_t i = 0; i < n_ops; i++)
		if ((r = config_apply_op(cfg, &ops[i], err)) < 0)
			return r == -ENOMEM ? CONFIG_NOMEM : CONFIG_INVALID;
	return CONFIG_OK;
}
