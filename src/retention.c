#include "compat.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "retention.h"

#include "banned.h"

bool retention_is_run_id(const char *s)
{
	/* YYYYMMDDTHHMMSSZ-... */
	for (int i = 0; i < 16; i++) {
		char c = s[i];

		if (i == 8 ? c != 'T' : i == 15 ? c != 'Z' : c < '0' || c > '9')
			return false;
	}
	if (s[16] != '-' || !s[17])
		return false;
	return strspn(s + 16, "-_0123456789abcdefghijklmnopqrstuvwxyz"
			      "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == strlen(s + 16);
}

/* Newest first: start time, then the longer name (a "-2" suffix), then
 * the name. */
static int newest_first(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	int c = strncmp(y, x, 16);
	size_t lx = strlen(x), ly = strlen(y);

	if (c)
		return c;
	if (lx != ly)
		return lx < ly ? 1 : -1;
	return strcmp(y, x);
}

/* The run folders the pointers of 'jobdir' name ("latest*" links). */
static void pointed(const char *jobdir, char ***out, size_t *n)
{
	struct buf p = BUF_INIT(SIZE_MAX / 2);
	struct dirent *d;
	DIR *dir = opendir(jobdir);

	*out = NULL;
	*n = 0;
	if (!dir)
		return;
	// cppcheck-suppress readdirCalled
	while ((d = readdir(dir))) {
		char target[256];
		const char *base;
		ssize_t len;

		if (strncmp(d->d_name, "latest", 6))
			continue;
		buf_reset(&p);
		buf_addf(&p, "%s/%s", jobdir, d->d_name);
		len = readlink(p.ptr, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		/* "RUN-ID" (relative) or ".../RUN-ID" */
		base = strrchr(target, '/');
		base = base ? base + 1 : target;
		*out = xrealloc(*out, (*n + 1) * sizeof(**out));
		(*out)[(*n)++] = xstrdup(base);
	}
	closedir(dir);
	buf_release(&p);
}

/* rm -r 'path' without following symbolic links; -1 with errno set. */
static int rm_tree(const char *path, int depth)
{
	struct buf p = BUF_INIT(SIZE_MAX / 2);
	struct dirent *d;
	struct stat st;
	DIR *dir;
	int rc = 0;

	if (lstat(path, &st) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(path);
	if (depth > 16) {
		errno = ELOOP;
		return -1;
	}
	dir = opendir(path);
	if (!dir)
		return -1;
	// cppcheck-suppress readdirCalled
	while (rc == 0 && (d = readdir(dir))) {
		if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
			continue;
		buf_reset(&p);
		buf_addf(&p, "%s/%s", path, d->d_name);
		rc = rm_tree(p.ptr, depth + 1);
	}
	closedir(dir);
	buf_release(&p);
	return rc < 0 ? -1 : rmdir(path);
}

int retention_prune(const char *jobdir, int keep, retention_fn fn, void *ctx,
		    size_t *removed, struct err *e)
{
	struct buf p = BUF_INIT(SIZE_MAX / 2);
	char **runs = NULL, **keep_ids;
	size_t n = 0, cap = 0, gone = 0, nkeep;
	struct dirent *d;
	DIR *dir;

	if (removed)
		*removed = 0;
	if (keep <= 0)
		return 0;
	dir = opendir(jobdir);
	if (!dir)
		return err_set_errno(e, ERR_IO, "cannot read '%s'", jobdir);
	// cppcheck-suppress readdirCalled
	while ((d = readdir(dir))) {
		struct stat st;

		if (!retention_is_run_id(d->d_name))
			continue;
		buf_reset(&p);
		buf_addf(&p, "%s/%s", jobdir, d->d_name);
		if (lstat(p.ptr, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 32;
			runs = xrealloc(runs, cap * sizeof(*runs));
		}
		runs[n++] = xstrdup(d->d_name);
	}
	closedir(dir);
	pointed(jobdir, &keep_ids, &nkeep);
	qsort(runs, n, sizeof(*runs), newest_first);
	for (size_t i = (size_t)keep; i < n; i++) {
		bool held = false;

		for (size_t k = 0; k < nkeep && !held; k++)
			held = !strcmp(runs[i], keep_ids[k]);
		if (held)
			continue;
		buf_reset(&p);
		buf_addf(&p, "%s/%s", jobdir, runs[i]);
		if (rm_tree(p.ptr, 0) < 0) {
			if (fn)
				fn(ctx, runs[i], strerror(errno));
			continue;
		}
		gone++;
		if (fn)
			fn(ctx, runs[i], NULL);
	}
	for (size_t i = 0; i < n; i++)
		free(runs[i]);
	for (size_t k = 0; k < nkeep; k++)
		free(keep_ids[k]);
	free(runs);
	free(keep_ids);
	buf_release(&p);
	if (removed)
		*removed = gone;
	return 0;
}
