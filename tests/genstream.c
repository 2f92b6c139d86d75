/*
 * tests/genstream.c -- writes a deterministic stream of N bytes to stdout:
 * CSV-like lines from a fixed PRNG, so tests can pipe gigabytes through
 * salvage without storing the input. Usage: genstream BYTES [SEED]
 * (BYTES may end in K, M or G, powers of 1024).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t state;

static uint64_t next(void)
{
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return state;
}

int main(int argc, char **argv)
{
	static const char *const words[] = {"county", "water", "permit", "survey", "river", "budget",
					    "school", "census", "station", "report", "grant", "air"};
	static char buf[1 << 16];
	char *end;
	unsigned long long n;

	if (argc < 2 || argc > 3) {
		fputs("usage: genstream BYTES [SEED]\n", stderr);
		return 2;
	}
	n = strtoull(argv[1], &end, 10);
	if (*end == 'K')
		n <<= 10;
	else if (*end == 'M')
		n <<= 20;
	else if (*end == 'G')
		n <<= 30;
	state = argc == 3 ? strtoull(argv[2], NULL, 10) * 2654435761u + 1 : 88172645463325252ull;
	while (n > 0) {
		size_t len = 0;
		while (len < sizeof(buf) - 128) {
			uint64_t r = next();
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%llu,%s,%s,%u.%02u\n",
						(unsigned long long)(r >> 40), words[r % 12], words[(r >> 8) % 12],
						(unsigned)((r >> 16) % 100000), (unsigned)((r >> 36) % 100));
		}
		size_t want = n < len ? (size_t)n : len;
		for (size_t off = 0; off < want;) {
			ssize_t w = write(STDOUT_FILENO, buf + off, want - off);
			if (w <= 0)
				return 1;
			off += (size_t)w;
		}
		n -= want;
	}
	return 0;
}
