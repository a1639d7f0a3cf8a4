/*
 * The run journal: see journal.h and docs/journal.md.
 */
#define _GNU_SOURCE /* fallocate() */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/falloc.h>
#endif

#include "buf.h"
#include "journal.h"
#include "testhook.h"

#include "banned.h"

/* A group is written out when it grows past this. */
#define GROUP_BYTES (256 * 1024)
/* Space kept reserved past the end of the journal. */
#define RESERVE_BYTES (1024 * 1024)
/* A header line is never longer than this. */
#define HEAD_MAX 512
/* Nor a payload (a results line and a failed line, see results.c). */
#define PAYLOAD_MAX ((size_t)64 * 1024 * 1024)

struct journal {
	int fd;
	char *path;
	off_t written;	/* bytes on disk */
	off_t reserved; /* reserved up to here */
	struct buf grp; /* added, not yet written */
};

static void reserve(struct journal *j)
{
#if defined(__linux__) && defined(FALLOC_FL_KEEP_SIZE)
	off_t end = j->written + (off_t)j->grp.len;

	if (j->reserved - end >= RESERVE_BYTES / 2)
		return;
	/* best effort: a file system without it just gets no reserve */
	if (fallocate(j->fd, FALLOC_FL_KEEP_SIZE, end, RESERVE_BYTES) == 0)
		j->reserved = end + RESERVE_BYTES;
#else
	(void)j;
#endif
}

int journal_open(struct journal **out, const char *path, bool create,
		 off_t keep, struct err *e)
{
	struct journal *j = xcalloc(1, sizeof(*j));
	int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0);

	*out = NULL;
	j->path = xstrdup(path);
	buf_init(&j->grp, PAYLOAD_MAX + GROUP_BYTES);
	j->fd = open(path, flags, 0666);
	if (j->fd < 0) {
		err_set_errno(e, ERR_IO, "cannot open '%s' for writing", path);
		journal_free(j);
		return -1;
	}
	if (!create) {
		if (ftruncate(j->fd, keep) < 0 ||
		    lseek(j->fd, keep, SEEK_SET) < 0) {
			err_set_errno(e, ERR_IO, "cannot truncate '%s'", path);
			journal_free(j);
			return -1;
		}
		j->written = keep;
	} else {
		buf_addstr(&j->grp, JOURNAL_MAGIC "\n");
	}
	j->reserved = j->written;
	reserve(j);
	*out = j;
	return 0;
}

off_t journal_add(struct journal *j, const char *head, const void *payload,
		  size_t len)
{
	off_t at;

	if (buf_addstr(&j->grp, head) < 0 || buf_addch(&j->grp, ' ') < 0 ||
	    buf_addu(&j->grp, len) < 0 || buf_addch(&j->grp, '\n') < 0)
		BUG("journal: record header past its cap");
	at = j->written + (off_t)j->grp.len;
	if (buf_add(&j->grp, payload, len) < 0 || buf_addch(&j->grp, '\n') < 0)
		BUG("journal: record past its cap");
	return at;
}

off_t journal_add2(struct journal *j, const char *head, const char *a,
		   size_t alen, const char *b, size_t blen)
{
	off_t at;

	if (buf_addstr(&j->grp, head) < 0 || buf_addch(&j->grp, ' ') < 0 ||
	    buf_addu(&j->grp, alen + 1 + blen) < 0 ||
	    buf_addch(&j->grp, '\n') < 0)
		BUG("journal: record header past its cap");
	at = j->written + (off_t)j->grp.len;
	if (buf_add(&j->grp, a, alen) < 0 || buf_addch(&j->grp, '\n') < 0 ||
	    buf_add(&j->grp, b, blen) < 0 || buf_addch(&j->grp, '\n') < 0)
		BUG("journal: record past its cap");
	return at;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int journal_flush(struct journal *j, struct err *e)
{
	size_t len = j->grp.len;

	if (!len)
		return 0;
	if (testhook_kill("journal")) {
		/* the process dies in the middle of a group */
		if (write_all(j->fd, j->grp.ptr, len / 2) == 0)
			testhook_die();
	}
	if (write_all(j->fd, j->grp.ptr, len) < 0) {
		int saved = errno;

		/* nothing half-written stays: the next records would follow */
		if (ftruncate(j->fd, j->written) < 0 ||
		    lseek(j->fd, j->written, SEEK_SET) < 0)
			saved = errno;
		errno = saved;
		return err_set_errno(e, ERR_IO, "cannot write '%s'", j->path);
	}
	j->written += (off_t)len;
	buf_reset(&j->grp);
	reserve(j);
	return 0;
}

size_t journal_buffered(const struct journal *j)
{
	return j->grp.len;
}

int journal_pread(struct journal *j, off_t off, void *dst, size_t len,
		  struct err *e)
{
	char *p = dst;

	if (off + (off_t)len > j->written && journal_flush(j, e) < 0)
		return -1;
	while (len) {
		ssize_t n = pread(j->fd, p, len, off);

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			return err_set(e, ERR_IO, "cannot read '%s'", j->path);
		}
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

void journal_free(struct journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0) {
		struct err e = ERR_INIT;

		journal_flush(j, &e);
		close(j->fd);
	}
	free(j->path);
	buf_release(&j->grp);
	free(j);
}

/* Split 'line' in place into words; returns their number. */
static int split_words(char *line, char **argv, int max)
{
	int n = 0;
	char *s = line;

	while (*s && n < max) {
		while (*s == ' ')
			*s++ = '\0';
		if (!*s)
			break;
		argv[n++] = s;
		while (*s && *s != ' ')
			s++;
	}
	return n;
}

int journal_read(const char *path, journal_fn fn, void *data, off_t *end,
		 struct err *e)
{
	FILE *fp = fopen(path, "rb");
	char head[HEAD_MAX + 2];
	struct buf pl = BUF_INIT(PAYLOAD_MAX + 1);
	off_t off;
	int rc = 0;

	*end = 0;
	if (!fp)
		return err_set_errno(e, ERR_INPUT, "cannot open '%s'", path);
	if (!fgets(head, sizeof(head), fp) ||
	    strcmp(head, JOURNAL_MAGIC "\n") != 0) {
		fclose(fp);
		return err_set(e, ERR_INPUT, "'%s' is not an mbxfix journal",
			       path);
	}
	off = (off_t)strlen(head);
	*end = off;
	while (fgets(head, sizeof(head), fp)) {
		size_t hl = strlen(head);
		char *argv[16];
		int argc;
		char *endp;
		unsigned long long len;

		if (!hl || head[hl - 1] != '\n')
			break; /* cut short */
		head[hl - 1] = '\0';
		argc = split_words(head, argv, 16);
		if (argc < 2)
			break;
		errno = 0;
		len = strtoull(argv[argc - 1], &endp, 10);
		if (errno || *endp || len > PAYLOAD_MAX)
			break;
		buf_reset(&pl);
		if (buf_grow(&pl, (size_t)len + 1) < 0)
			break;
		if (fread(pl.ptr, 1, (size_t)len + 1, fp) != (size_t)len + 1 ||
		    pl.ptr[len] != '\n')
			break;
		pl.ptr[len] = '\0';
		off += (off_t)hl;
		rc = fn(data, argc - 1, argv, off, pl.ptr, (size_t)len);
		off += (off_t)len + 1;
		if (rc)
			break;
		*end = off;
	}
	buf_release(&pl);
	fclose(fp);
	return rc;
}
