#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "reserve.h"

void reserve_init(struct reserve *r)
{
	r->fd = -1;
}

int reserve_acquire(struct reserve *r)
{
	if (r->fd >= 0)
		return 0;
	r->fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return r->fd >= 0 ? 0 : -errno;
}

void reserve_release(struct reserve *r)
{
	if (r->fd < 0)
		return;
	close(r->fd);
	r->fd = -1;
}
