/*
 * io_util.h: helpers for the tests of job, rows, results and opts:
 * a scratch directory and files written into it.
 */
#ifndef MBXFIX_TEST_IO_UTIL_H
#define MBXFIX_TEST_IO_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A new directory under $TMPDIR or /tmp; the path is static storage. */
static inline const char *io_tmpdir(void)
{
	static char dir[256];
	const char *t = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/mbxfix-test-XXXXXX", t ? t : "/tmp");
	if (!mkdtemp(dir))
		abort();
	return dir;
}

/* Write 'len' bytes (strlen when len is (size_t)-1) to DIR/NAME, mode 0600.
 * Returns the path in static storage (valid until the next call). */
static inline const char *io_write(const char *dir, const char *name,
				   const char *data, size_t len)
{
	static char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "wb");
	if (!fp)
		abort();
	if (len == (size_t)-1)
		len = strlen(data);
	if (fwrite(data, 1, len, fp) != len)
		abort();
	fclose(fp);
	chmod(path, 0600);
	return path;
}

/* The whole file DIR/NAME as a malloc()ed string, NULL when missing. */
static inline char *io_read(const char *path)
{
	FILE *fp = fopen(path, "rb");
	char *s;
	long n;

	if (!fp)
		return NULL;
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	s = malloc((size_t)n + 1);
	if (!s || fread(s, 1, (size_t)n, fp) != (size_t)n)
		abort();
	s[n] = '\0';
	fclose(fp);
	return s;
}

/* rm -rf DIR (for the scratch directory only). */
static inline void io_rmrf(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

#endif
