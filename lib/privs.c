#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "privs.h"

int privs_lookup(const struct weir_config *cfg, struct identity *id, struct weir_err *err)
{
	struct passwd *pw;

	memset(id, 0, sizeof(*id));
	if (!cfg->user)
		return 0; /* config_check refuses a group without a user */
	pw = getpwnam(cfg->user);
	if (!pw || strlen(cfg->user) >= sizeof(id->user)) {
		err_set(err, "user: no user called '%s'", cfg->user);
		return -ENOENT;
	}
	id->change = true;
	id->uid = pw->pw_uid;
	id->gid = pw->pw_gid;
	snprintf(id->user, sizeof(id->user), "%s", cfg->user);
	if (cfg->group) {
		struct group *gr = getgrnam(cfg->group);
		if (!gr) {
			err_set(err, "group: no group called '%s'", cfg->group);
			return -ENOENT;
		}
		id->gid = gr->gr_gid;
	}
	return 0;
}

int privs_drop(const struct identity *id, struct weir_err *err)
{
	if (!id->change)
		return 0;
	if (initgroups(id->user, id->gid) < 0 || setgid(id->gid) < 0 || setuid(id->uid) < 0) {
		err_set(err, "cannot change to uid %u gid %u: %s", (unsigned)id->uid,
			(unsigned)id->gid, strerror(errno));
		return -errno;
	}
	if (id->uid != 0 && setuid(0) == 0) {
		err_set(err, "dropped privileges could be regained; refusing to run");
		return -EPERM;
	}
	return 0;
}
