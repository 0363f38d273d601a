#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"
#include "units.h"

/* The first descriptor systemd passes. */
#define LISTEN_FDS_START 3

int notify_send(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	socklen_t len;
	int fd, r = 0;

	if (!path || !*path)
		return 0;
	if ((path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sun.sun_path))
		return -EINVAL;
	memcpy(sun.sun_path, path, strlen(path));
	if (path[0] == '@')
		sun.sun_path[0] = '\0'; /* abstract namespace */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun, len) < 0)
		r = -errno;
	close(fd);
	return r;
}

int notify_inherited(struct inherited **out, size_t *n, struct weir_err *err)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	const char *names = getenv("LISTEN_FDNAMES");
	uint64_t want_pid, count;
	struct inherited *arr;

	*out = NULL;
	*n = 0;
	if (!pid || !fds || units_parse_uint(pid, &want_pid) < 0 || want_pid != (uint64_t)getpid())
		return 0;
	if (units_parse_uint(fds, &count) < 0 || count > 1024) {
		err_set(err, "LISTEN_FDS='%s' is not a descriptor count", fds);
		return -EINVAL;
	}
	arr = calloc(count ? count : 1, sizeof(*arr));
	if (!arr) {
		err_set(err, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < count; i++) {
		struct inherited *in = &arr[i];
		int flags;

		in->fd = LISTEN_FDS_START + (int)i;
		flags = fcntl(in->fd, F_GETFD);
		if (flags < 0 || fcntl(in->fd, F_SETFD, flags | FD_CLOEXEC) < 0) {
			err_set(err, "socket activation: descriptor %d is not open", in->fd);
			free(arr);
			return -EBADF;
		}
		in->len = sizeof(in->addr);
		if (getsockname(in->fd, (struct sockaddr *)&in->addr, &in->len) < 0)
			in->len = 0;
		if (names) {
			size_t w = strcspn(names, ":");
			snprintf(in->name, sizeof(in->name), "%.*s", (int)w, names);
			names += w + (names[w] == ':');
		}
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	*out = arr;
	*n = count;
	return 0;
}
