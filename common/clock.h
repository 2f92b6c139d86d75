/*
 * common/clock.h -- the time now, in milliseconds and as capture records
 * write it.
 */
#ifndef SV_CLOCK_H
#define SV_CLOCK_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* The wall clock in milliseconds since the epoch. */
static inline int64_t sv_now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Room for an sv_rfc3339_now timestamp and its NUL. */
#define SV_RFC3339_LEN 32

/* The time now in UTC, RFC 3339 with milliseconds: "2026-11-25T00:05:58.884Z". */
static inline void sv_rfc3339_now(char buf[SV_RFC3339_LEN])
{
	struct timespec t;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &t);
	gmtime_r(&t.tv_sec, &tm);
	size_t n = strftime(buf, SV_RFC3339_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, SV_RFC3339_LEN - n, ".%03ldZ", t.tv_nsec / 1000000);
}

#endif
