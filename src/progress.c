#include "compat.h"

#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "progress.h"

#include "banned.h"

static const char *const phase_names[] = {
    [PROGRESS_STARTING] = "starting", [PROGRESS_RESOLVING] = "resolving",
    [PROGRESS_WRITING] = "writing",   [PROGRESS_TESTING] = "testing",
    [PROGRESS_WAITING] = "waiting",   [PROGRESS_FINISHING] = "finishing",
};

const char *progress_phase_name(enum progress_phase p)
{
	return (unsigned)p < ARRAY_SIZE(phase_names) ? phase_names[p] : "?";
}

void progress_init(struct progress *p, FILE *fp, bool enabled, bool tty,
		   int64_t now_ms)
{
	memset(p, 0, sizeof(*p));
	p->fp = fp;
	p->enabled = enabled;
	p->tty = tty;
	p->start_ms = p->last_ms = now_ms;
}

static void clock_text(char *out, size_t len, long s)
{
	if (s >= 3600)
		snprintf(out, len, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60,
			 s % 60);
	else
		snprintf(out, len, "%ld:%02ld", s / 60, s % 60);
}

/* The fields of the line, from the most to the least needed. */
enum field {
	F_ELAPSED,
	F_PHASE,
	F_ROWS,
	F_FAILED,
	F_ETA,
	F_RATE,
	F_RETRIES,
	F_THROTTLED,
	F_COUNT
};

struct fields {
	char text[F_COUNT][2][64]; /* [field][0 long, 1 short]; "" = none */
};

static void make_fields(struct fields *f, const struct progress_counts *c,
			int64_t elapsed_ms)
{
	double secs = elapsed_ms > 0 ? (double)elapsed_ms / 1000.0 : 0.001;
	double rate = (double)c->done / secs;
	char total[32] = "?", eta[32] = "?", el[32];

	memset(f, 0, sizeof(*f));
	if (c->total) {
		snprintf(total, sizeof(total), "%zu", c->total);
		if (rate > 0 && c->total >= c->done)
			clock_text(eta, sizeof(eta),
				   (long)((double)(c->total - c->done) / rate));
	}
	clock_text(el, sizeof(el), (long)(elapsed_ms / 1000));
	snprintf(f->text[F_ELAPSED][0], 64, "%s", el);
	switch (c->phase) {
	case PROGRESS_TESTING:
		snprintf(f->text[F_PHASE][0], 64, "testing %zu mailbox%s",
			 c->testing, c->testing == 1 ? "" : "es");
		snprintf(f->text[F_PHASE][1], 64, "testing %zu", c->testing);
		break;
	case PROGRESS_WAITING:
		snprintf(f->text[F_PHASE][0], 64,
			 "waiting %ld s for Retry-After", c->wait_s);
		snprintf(f->text[F_PHASE][1], 64, "wait %lds", c->wait_s);
		break;
	default:
		snprintf(f->text[F_PHASE][0], 64, "%s",
			 progress_phase_name(c->phase));
		break;
	}
	snprintf(f->text[F_ROWS][0], 64, "rows %zu/%s", c->done, total);
	snprintf(f->text[F_ROWS][1], 64, "%zu/%s", c->done, total);
	snprintf(f->text[F_FAILED][0], 64, "failed %zu", c->failed);
	snprintf(f->text[F_ETA][0], 64, "ETA %s", eta);
	snprintf(f->text[F_RATE][0], 64, "%.1f rows/s", rate);
	snprintf(f->text[F_RATE][1], 64, "%.1f/s", rate);
	snprintf(f->text[F_RETRIES][0], 64, "retries %llu",
		 (unsigned long long)c->retries);
	snprintf(f->text[F_THROTTLED][0], 64, "throttled waits %llu",
		 (unsigned long long)c->throttled);
}

/*
 * Join the fields 'keep' asks for, in their order: "ELAPSED PHASE, rows
 * ...". 'brief' takes the short form of a field where it has one.
 */
static size_t join(char *out, size_t len, const struct fields *f, unsigned keep,
		   bool brief)
{
	size_t n = 0;

	out[0] = '\0';
	for (int i = 0; i < F_COUNT; i++) {
		const char *t = f->text[i][brief && *f->text[i][1] ? 1 : 0];
		int w;

		if (!(keep & (1u << i)) || !*t)
			continue;
		w = snprintf(out + n, len - n, "%s%s",
			     !n		    ? ""
			     : i == F_PHASE ? " "
					    : ", ",
			     t);
		if (w < 0 || (size_t)w >= len - n)
			return len; /* cut: too long for 'out' */
		n += (size_t)w;
	}
	return n;
}

void progress_format(char *out, size_t len, const struct progress_counts *c,
		     int64_t elapsed_ms, int cols)
{
	/* what goes, step by step, until the line fits */
	static const struct {
		unsigned drop;
		bool brief;
	} steps[] = {
	    {0, false},
	    {1u << F_THROTTLED, false},
	    {1u << F_THROTTLED | 1u << F_RETRIES, false},
	    {1u << F_THROTTLED | 1u << F_RETRIES, true},
	    {1u << F_THROTTLED | 1u << F_RETRIES | 1u << F_RATE, true},
	    {1u << F_THROTTLED | 1u << F_RETRIES | 1u << F_RATE | 1u << F_ETA,
	     true},
	    {1u << F_THROTTLED | 1u << F_RETRIES | 1u << F_RATE | 1u << F_ETA |
		 1u << F_ELAPSED,
	     true},
	};
	struct fields f;
	size_t n = 0;

	if (!len)
		return;
	make_fields(&f, c, elapsed_ms);
	for (size_t s = 0; s < ARRAY_SIZE(steps); s++) {
		n = join(out, len, &f, ((1u << F_COUNT) - 1) & ~steps[s].drop,
			 steps[s].brief);
		if (cols <= 0 || n <= (size_t)cols)
			break;
	}
	if (n >= len)
		n = strlen(out);
	/* still too wide: cut, never wrap */
	if (cols > 0 && n > (size_t)cols)
		out[cols] = '\0';
}

/* Columns of the terminal of 'fp'; PROGRESS_COLS when it does not say. */
static int term_cols(FILE *fp)
{
	struct winsize ws;

	if (ioctl(fileno(fp), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return PROGRESS_COLS;
}

bool progress_due(const struct progress *p, int64_t now_ms)
{
	return p->enabled && now_ms - p->last_ms >=
				 (p->tty ? PROGRESS_TTY_MS : PROGRESS_PLAIN_MS);
}

void progress_update(struct progress *p, int64_t now_ms,
		     const struct progress_counts *c, bool final)
{
	char line[512];
	int cols;

	if (!p->enabled || (!final && !progress_due(p, now_ms)))
		return;
	p->last_ms = now_ms;
	if (!p->tty) {
		progress_format(line, sizeof(line), c, now_ms - p->start_ms, 0);
		fprintf(p->fp, "mbxfix: %s\n", line);
		fflush(p->fp);
		return;
	}
	/* the last column stays free: writing it makes some terminals wrap */
	cols = (p->cols > 0 ? p->cols : term_cols(p->fp)) - 1;
	progress_format(line, sizeof(line), c, now_ms - p->start_ms,
			cols > 0 ? cols : 1);
	/* back to the start, the line, then erase what a longer one left */
	fprintf(p->fp, "\r%s\033[K", line);
	if (final)
		fputc('\n', p->fp);
	fflush(p->fp);
}
