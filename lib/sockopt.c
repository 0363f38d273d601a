#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/socket.h>

#include "log.h"
#include "sockopt.h"
#include "units.h"

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

void sockopt_buffers(int fd, uint64_t rcv, uint64_t snd)
{
	int r = (int)rcv, s = (int)snd; /* at most 1g (config.c) */

	if (r)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &r, sizeof(r));
	if (s)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &s, sizeof(s));
}

static void check_buffer(const char *key, uint64_t asked, const char *sysctl)
{
	char path[64], a[32], m[32];
	unsigned long long max;
	FILE *f;

	if (!asked)
		return;
	snprintf(path, sizeof(path), "/proc/sys/net/core/%s", sysctl);
	f = fopen(path, "re");
	if (!f)
		return;
	if (fscanf(f, "%llu", &max) == 1 && asked > max) {
		units_format_size(asked, a, sizeof(a));
		units_format_size(max, m, sizeof(m));
		log_msg(WLOG_WARN, "%s %s is above net.core.%s (%s): each socket gets at most that",
			key, a, sysctl, m);
	}
	fclose(f);
}

void sockopt_check_buffers(uint64_t rcv, uint64_t snd)
{
	check_buffer("rcvbuf", rcv, "rmem_max");
	check_buffer("sndbuf", snd, "wmem_max");
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
