/* sdnotify: sd_notify(3) without libsystemd (see NOTES §4). */
#include "sdnotify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int
sdnotify(const char *state)
{
	const char *e = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t salen;
	size_t n;
	ssize_t w;
	int fd, r = 1;

	if (!e || !*e)
		return 0;
	if (!state)
		return -EINVAL;
	/* systemd also knows vsock addresses; a Pi daemon never gets one. */
	if (e[0] != '/' && e[0] != '@')
		return -EAFNOSUPPORT;
	n = strlen(e);
	if (n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, e, n);
	if (e[0] == '@') {
		/* Abstract namespace: leading NUL, length without a terminator. */
		sa.sun_path[0] = '\0';
		salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	}
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	w = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
	if (w < 0)
		r = -errno;
	close(fd);
	return r;
}

static int
parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

uint64_t
sdnotify_watchdog_usec(void)
{
	const char *pid_s = getenv("WATCHDOG_PID");
	uint64_t usec, pid;

	if (parse_u64(getenv("WATCHDOG_USEC"), &usec) < 0)
		return 0;
	/* The variables are inherited by children; only the named one pings. */
	if (pid_s && *pid_s && (parse_u64(pid_s, &pid) < 0 || pid != (uint64_t)getpid()))
		return 0;
	return usec;
}
