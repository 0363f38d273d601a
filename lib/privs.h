/*
 * Running as --user and --group: looked up before anything is bound (so -t can check them),
 * taken on for good once every listener is open.
 */
#ifndef WEIR_PRIVS_H
#define WEIR_PRIVS_H

#include <stdbool.h>
#include <sys/types.h>

#include "config.h"
#include "util.h"

struct identity {
	bool change; /* user (and maybe group) set */
	uid_t uid;
	gid_t gid;
	char user[64];
};

/* -ENOENT: no such user or group (the sentence in `err`). */
int privs_lookup(const struct weir_config *cfg, struct identity *id, struct weir_err *err) WEIR_WUR;
/* Become `id`, with no way back to root. */
int privs_drop(const struct identity *id, struct weir_err *err) WEIR_WUR;

#endif
