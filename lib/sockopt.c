#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "sockopt.h"

void sockopt_tcp(int fd, const struct config_keepalive *ka, bool fresh)
{
	int one = 1, off = 0, idle = (int)(ka->idle_ms / 1000);
	int intvl = (int)(ka->interval_ms / 1000), count = (int)ka->count;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (!fresh && (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
		       (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)))
		return; /* a unix socket (a new one is known to be TCP by its caller) */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (!ka->idle_ms) {
		if (!fresh)
			(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &off, sizeof(off));
		return;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count));
}

void sockopt_defer_accept(int fd, uint64_t ms)
{
	int secs = (int)((ms + 999) / 1000);

	(void)setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof(secs));
}

int sockopt_bind_source(int fd, const struct addr *from, uint16_t port)
{
	struct addr a = *from;
	int one = 1;

	if (port) {
		addr_set_port(&a, port);
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	} else {
		(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	}
	return bind(fd, (const struct sockaddr *)&a.ss, a.len) < 0 ? -errno : 0;
}
