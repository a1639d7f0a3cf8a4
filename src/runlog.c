#include "compat.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "rows.h"
#include "runlog.h"

#include "banned.h"

/* Held lines beyond this are dropped (and counted in a last line). */
#define HELD_MAX (256 * 1024)

struct runlog {
	enum log_level level;
	FILE *fp;
	char *path;
	char *run_id;
	struct buf held; /* lines made before runlog_open(), '\n'-separated */
	unsigned long dropped;
	int err; /* errno of the first failed write */
};

struct runlog *runlog_new(enum log_level level)
{
	struct runlog *rl = xcalloc(1, sizeof(*rl));

	rl->level = level;
	buf_init(&rl->held, HELD_MAX + BUF_MAX_SMALL * 8);
	return rl;
}

bool runlog_wants(const struct runlog *rl, enum log_level level)
{
	return rl && level <= rl->level;
}

const char *runlog_level_name(enum log_level level)
{
	switch (level) {
	case LOG_QUIET:
	case LOG_ERROR:
		return "error";
	case LOG_WARN:
		return "warn";
	case LOG_INFO:
		return "info";
	case LOG_DEBUG:
		return "debug";
	}
	return "info";
}

void runlog_json_str(struct buf *b, const char *s)
{
	bool utf8 = rows_is_utf8(s, strlen(s));

	buf_addch(b, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			buf_addf(b, "\\%c", c);
		else if (c == '\n')
			buf_addstr(b, "\\n");
		else if (c == '\r')
			buf_addstr(b, "\\r");
		else if (c == '\t')
			buf_addstr(b, "\\t");
		else if (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8))
			buf_addf(b, "\\u%04x", c);
		else
			buf_addch(b, (char)c);
	}
	buf_addch(b, '"');
}

/* Write one line body ("time":...) as {"run":ID,BODY}\n. */
static void write_line(struct runlog *rl, const char *body, size_t len)
{
	if (rl->err)
		return;
	if (fputc('{', rl->fp) == EOF)
		goto fail;
	if (rl->run_id) {
		struct buf b = BUF_INIT(BUF_MAX_SMALL);

		buf_addstr(&b, "\"run\":");
		runlog_json_str(&b, rl->run_id);
		buf_addch(&b, ',');
		if (fwrite(b.ptr, 1, b.len, rl->fp) != b.len) {
			buf_release(&b);
			goto fail;
		}
		buf_release(&b);
	}
	if (fwrite(body, 1, len, rl->fp) != len ||
	    fputs("}\n", rl->fp) == EOF || fflush(rl->fp) == EOF)
		goto fail;
	return;
fail:
	rl->err = errno ? errno : EIO;
}

int runlog_open(struct runlog *rl, const char *path, const char *run_id,
		struct err *e)
{
	const char *p, *end;

	if (!rl)
		return 0;
	rl->fp = fopen(path, "ab");
	if (!rl->fp)
		return err_set_errno(e, ERR_IO, "cannot open '%s'", path);
	rl->path = xstrdup(path);
	rl->run_id = run_id ? xstrdup(run_id) : NULL;
	for (p = rl->held.ptr; p && p < rl->held.ptr + rl->held.len;
	     p = end + 1) {
		end =
		    memchr(p, '\n', (size_t)(rl->held.ptr + rl->held.len - p));
		if (!end)
			break;
		write_line(rl, p, (size_t)(end - p));
	}
	buf_release(&rl->held);
	if (rl->dropped) {
		struct runlog_line l;

		if (runlog_begin(rl, &l, LOG_WARN, "dropped")) {
			runlog_int(&l, "lines", (long long)rl->dropped);
			runlog_end(&l);
		}
	}
	return 0;
}

int runlog_close(struct runlog *rl, struct err *e)
{
	int rc = 0;

	if (!rl)
		return 0;
	if (rl->fp && fclose(rl->fp) == EOF && !rl->err)
		rl->err = errno ? errno : EIO;
	if (rl->err) {
		errno = rl->err;
		rc = err_set_errno(e, ERR_IO, "cannot write '%s'",
				   rl->path ? rl->path : "run.log");
	}
	buf_release(&rl->held);
	free(rl->path);
	free(rl->run_id);
	free(rl);
	return rc;
}

static void now_iso(char *out, size_t len)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000 % 1000));
}

bool runlog_begin(struct runlog *rl, struct runlog_line *l,
		  enum log_level level, const char *event)
{
	char t[80];

	memset(l, 0, sizeof(*l));
	if (!runlog_wants(rl, level))
		return false;
	l->rl = rl;
	l->on = true;
	buf_init(&l->b, BUF_MAX_SMALL * 4);
	now_iso(t, sizeof(t));
	buf_addf(&l->b, "\"time\":\"%s\",\"level\":\"%s\",\"event\":", t,
		 runlog_level_name(level));
	runlog_json_str(&l->b, event);
	return true;
}

static bool key(struct runlog_line *l, const char *k)
{
	if (!l->on)
		return false;
	if (l->b.len && l->b.ptr[l->b.len - 1] != '{')
		buf_addch(&l->b, ',');
	runlog_json_str(&l->b, k);
	buf_addch(&l->b, ':');
	return true;
}

void runlog_str(struct runlog_line *l, const char *k, const char *v)
{
	if (v && key(l, k))
		runlog_json_str(&l->b, v);
}

void runlog_int(struct runlog_line *l, const char *k, long long v)
{
	if (key(l, k))
		buf_addf(&l->b, "%lld", v);
}

void runlog_num(struct runlog_line *l, const char *k, double v)
{
	if (key(l, k))
		buf_addf(&l->b, "%.3f", v);
}

void runlog_bool(struct runlog_line *l, const char *k, bool v)
{
	if (key(l, k))
		buf_addstr(&l->b, v ? "true" : "false");
}

void runlog_object(struct runlog_line *l, const char *k)
{
	if (key(l, k)) {
		buf_addch(&l->b, '{');
		l->depth++;
	}
}

void runlog_object_end(struct runlog_line *l)
{
	if (l->on && l->depth > 0) {
		buf_addch(&l->b, '}');
		l->depth--;
	}
}

static void end_line(struct runlog_line *l, bool first);

void runlog_end(struct runlog_line *l)
{
	end_line(l, false);
}

void runlog_end_first(struct runlog_line *l)
{
	end_line(l, true);
}

static void end_line(struct runlog_line *l, bool first)
{
	struct runlog *rl = l->rl;

	if (!l->on)
		return;
	while (l->depth > 0)
		runlog_object_end(l);
	if (buf_addch(&l->b, '\0') < 0) {
		/* cut by the cap: not JSON any more; say so instead */
		buf_reset(&l->b);
		buf_addstr(&l->b,
			   "\"level\":\"warn\",\"event\":\"line_too_long\"");
	} else {
		l->b.len--;
	}
	if (rl->fp) {
		write_line(rl, l->b.ptr, l->b.len);
	} else if (rl->held.len + l->b.len + 1 <= HELD_MAX) {
		buf_addch(&l->b, '\n');
		if (first && rl->held.len) {
			/* this line, then what was held */
			struct buf t = BUF_INIT(HELD_MAX + BUF_MAX_SMALL * 8);

			buf_add(&t, l->b.ptr, l->b.len);
			buf_add(&t, rl->held.ptr, rl->held.len);
			buf_release(&rl->held);
			rl->held = t;
		} else {
			buf_add(&rl->held, l->b.ptr, l->b.len);
		}
	} else {
		rl->dropped++;
	}
	buf_release(&l->b);
	l->on = false;
}
