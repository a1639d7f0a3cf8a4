#include "compat.h"

#include <string.h>

#include "progress.h"

#include "banned.h"

void progress_init(struct progress *p, FILE *fp, bool enabled, bool tty,
		   int64_t now_ms)
{
	memset(p, 0, sizeof(*p));
	p->fp = fp;
	p->enabled = enabled;
	p->tty = tty;
	p->start_ms = p->last_ms = now_ms;
}

void progress_format(char *out, size_t len, const struct progress_counts *c,
		     int64_t elapsed_ms)
{
	double secs = elapsed_ms > 0 ? (double)elapsed_ms / 1000.0 : 0.001;
	double rate = (double)c->done / secs;
	char total[32] = "?", eta[32] = "?";

	if (c->total) {
		snprintf(total, sizeof(total), "%zu", c->total);
		if (rate > 0 && c->total >= c->done) {
			long s = (long)((double)(c->total - c->done) / rate);

			snprintf(eta, sizeof(eta), "%ld:%02ld", s / 60, s % 60);
		}
	}
	snprintf(out, len,
		 "rows %zu/%s, failed %zu, retries %llu, throttled waits %llu, "
		 "%.1f rows/s, ETA %s",
		 c->done, total, c->failed, (unsigned long long)c->retries,
		 (unsigned long long)c->throttled, rate, eta);
}

void progress_update(struct progress *p, int64_t now_ms,
		     const struct progress_counts *c, bool final)
{
	char line[256];
	size_t n;

	if (!p->enabled)
		return;
	if (!final && now_ms - p->last_ms <
			  (p->tty ? PROGRESS_TTY_MS : PROGRESS_PLAIN_MS))
		return;
	p->last_ms = now_ms;
	progress_format(line, sizeof(line), c, now_ms - p->start_ms);
	if (!p->tty) {
		fprintf(p->fp, "mbxfix: %s\n", line);
		fflush(p->fp);
		return;
	}
	n = strlen(line);
	fprintf(p->fp, "\r%s", line);
	/* blank what is left of a longer previous line */
	for (size_t i = n; i < p->width; i++)
		fputc(' ', p->fp);
	p->width = n;
	if (final)
		fputc('\n', p->fp);
	fflush(p->fp);
}
