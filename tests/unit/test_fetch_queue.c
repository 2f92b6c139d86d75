/*
 * tests/unit/test_fetch_queue.c -- the queue as fetchers open it
 * (sv_archive_fetch_queue): a PostgreSQL server that accepts the connection
 * and then says nothing (a dropped Wi-Fi link, a cut proxy) is told as
 * SV_EUNREACHABLE within a third of queue.leaseSeconds, not after the
 * queue's usual 60 s; other commands keep the usual wait.
 */
#include "helpers.h"

#include "../../common/error.h"
#include "../../crawler/archive.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A loopback listener that accepts (in the kernel's backlog) and never answers; its port in *port. */
static int silent_listener(int *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(fd, 8), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

Test(fetch_queue, silent_database_noticed_within_a_third_of_the_lease, .timeout = 60)
{
	char dir[256], cmd[600], url[128];
	int port, fd = silent_listener(&port);
	sv_archive *a = NULL;
	sv_queue *q = NULL;
	int existed;

	th_tempdir(dir, sizeof(dir));
	cr_assert_eq(sv_archive_init(dir, &existed), 0, "%s", sv_error_last());
	snprintf(cmd, sizeof(cmd), "git config -f '%s/salvage.conf' queue.leaseSeconds 9", dir);
	cr_assert_eq(system(cmd), 0);
	cr_assert_eq(sv_archive_open(&a, dir), 0, "%s", sv_error_last());
	cr_assert_eq(a->lease_seconds, 9);
	snprintf(url, sizeof(url), "postgresql://nobody@127.0.0.1:%d/salvage?sslmode=disable", port);

	int64_t t0 = mono_ms();
	int rc = sv_archive_fetch_queue(a, url, &q);
	int64_t took = mono_ms() - t0;
	cr_assert_eq(rc, SV_EUNREACHABLE, "rc %d: %s", rc, sv_error_last());
	cr_assert_null(q);
	cr_assert(took >= 2500 && took < 6000, "gave up after %lld ms; a third of the 9 s lease is 3 s", (long long)took);

	sv_archive_free(a);
	close(fd);
	th_rmrf(dir);
}
