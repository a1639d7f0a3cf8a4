#include "compat.h"

#include <string.h>

#include "buf.h"
#include "sched.h"

#include "banned.h"

static void log_size(struct sched_size_log *l, int n)
{
	if (l->nsizes < SCHED_SIZE_LOG)
		l->first[l->nsizes] = n;
	l->last[l->nsizes % SCHED_SIZE_LOG] = n;
	l->nsizes++;
}

void sched_init(struct sched *s, int parallel, int max)
{
	memset(s, 0, sizeof(*s));
	s->adaptive = parallel <= 0;
	s->cap = max > 0 ? max : 0;
	s->max = max > 0 ? max : SCHED_DEFAULT_MAX;
	s->limit = s->adaptive ? SCHED_START_LIMIT : parallel;
	if (s->adaptive && s->limit > s->max)
		s->limit = s->max;
	sched_batch_init(s, 0, (long)SCHED_TARGET_MS * SCHED_TIMEOUT_SHARE);
}

void sched_release(struct sched *s)
{
	free(s->timers);
	s->timers = NULL;
	s->ntimers = s->alloc = 0;
}

bool sched_gated(const struct sched *s, int64_t now_ms)
{
	return now_ms < s->gate_ms;
}

bool sched_can_send(struct sched *s, int64_t now_ms)
{
	if (s->in_flight >= s->limit)
		return false;
	if (sched_gated(s, now_ms)) {
		/* count each throttled wait once, not once per loop turn */
		if (!s->held) {
			s->held = true;
			s->gate_waits++;
		}
		return false;
	}
	s->held = false;
	return true;
}

void sched_sent(struct sched *s)
{
	s->in_flight++;
}

void sched_throttled(struct sched *s, int64_t now_ms, long retry_after_ms)
{
	/*
	 * Without a Retry-After, hold a second: sending again at once would
	 * only lengthen the server's penalty (docs/fidelity.md).
	 */
	int64_t until = now_ms + (retry_after_ms >= 0 ? retry_after_ms : 1000);

	s->throttled++;
	if (until > s->gate_ms)
		s->gate_ms = until;
	if (s->adaptive && s->limit > 1)
		s->limit /= 2;
	s->healthy = 0;
}

void sched_done(struct sched *s, int64_t now_ms, long status,
		long retry_after_ms, int dop_hint)
{
	if (s->in_flight <= 0)
		BUG("sched_done without a request in flight");
	s->in_flight--;
	if (status == 429) {
		sched_throttled(s, now_ms, retry_after_ms);
		return;
	}
	if (status == 503 && retry_after_ms >= 0 &&
	    now_ms + retry_after_ms > s->gate_ms)
		s->gate_ms = now_ms + retry_after_ms;
	if (dop_hint > 0)
		s->hint = dop_hint < SCHED_HINT_MAX ? dop_hint : SCHED_HINT_MAX;
	if (!s->adaptive)
		return;
	if (dop_hint > 0) {
		/*
		 * The server's advice is the ceiling, whatever it says now
		 * (it changes with the servers the environment has). The
		 * first one is taken at once unless a 429 came before it.
		 */
		bool first = !s->hinted;

		s->hinted = true;
		s->max = s->cap && s->cap < s->hint ? s->cap : s->hint;
		if (first && s->throttled == 0) {
			s->limit = s->max;
			s->healthy = 0;
			return;
		}
		if (s->limit > s->max) {
			s->limit = s->max;
			s->healthy = 0;
		}
	}
	if (status == 0 || status >= 500) {
		s->healthy = 0;
		return;
	}
	if (++s->healthy >= s->limit && s->limit < s->max) {
		s->limit++;
		s->healthy = 0;
	}
}

/*
 * Batch size.
 */
void sched_batch_init(struct sched *s, int fixed, long request_timeout_ms)
{
	long t = request_timeout_ms / SCHED_TIMEOUT_SHARE;

	s->batch_fixed = fixed > 0;
	s->batch = fixed > 0 ? fixed : SCHED_BATCH_START;
	s->epoch = 0;
	s->fast = 0;
	s->target_ms = t < SCHED_TARGET_MS ? t : SCHED_TARGET_MS;
	if (s->target_ms < 1)
		s->target_ms = 1;
	s->op_ms = 0;
	s->op_guess = false;
	s->base_ms = -1;
	s->budget_ms = s->budget_peak = -1;
	memset(&s->log, 0, sizeof(s->log));
	log_size(&s->log, s->batch);
}

/*
 * The most operations whose estimated time stays within the target: an
 * answer takes base_ms (the quickest answer seen) plus op_ms for each
 * operation.
 */
static int time_cap(const struct sched *s)
{
	double n;

	if (s->op_ms <= 0)
		return SCHED_BATCH_MAX;
	n = (double)(s->target_ms - (s->base_ms > 0 ? s->base_ms : 0)) /
	    s->op_ms;
	if (n < 1)
		return 1;
	return n > SCHED_BATCH_MAX ? SCHED_BATCH_MAX : (int)n;
}

/*
 * Time per operation: what an answer took beyond the quickest one, over
 * its operations. A slower measure is taken at once, a faster one a
 * quarter at a time; the first replaces the probe's guess.
 */
static void measure(struct sched *s, int nops, long took_ms)
{
	double per;

	if (nops <= 0 || took_ms < 0)
		return;
	if (s->base_ms < 0 || took_ms < s->base_ms)
		s->base_ms = took_ms;
	per = (double)(took_ms - s->base_ms) / nops;
	if (s->op_guess || per > s->op_ms)
		s->op_ms = per;
	else
		s->op_ms += (per - s->op_ms) / 4;
	s->op_guess = false;
}

static void set_batch(struct sched *s, int n)
{
	if (n < 1)
		n = 1;
	if (n == s->batch)
		return;
	if (n > s->batch)
		s->log.grew++;
	else
		s->log.shrank++;
	s->batch = n;
	s->epoch++;
	s->fast = 0;
	log_size(&s->log, n);
}

void sched_batch_probe(struct sched *s, int nops, long answer_ms)
{
	if (s->batch_fixed || nops < 1 || answer_ms < 0)
		return;
	/*
	 * Until a batch is measured, guess that every operation costs what
	 * the whole probe did: too much, so the first batch is not too big.
	 */
	s->base_ms = answer_ms;
	s->op_ms = (double)answer_ms / nops;
	s->op_guess = true;
	if (s->batch > time_cap(s))
		set_batch(s, time_cap(s));
}

int sched_batch_size(const struct sched *s, size_t queued)
{
	size_t per, lim = s->limit > 0 ? (size_t)s->limit : 1;
	int n = s->batch, cap;

	if (s->batch_fixed)
		return n;
	cap = time_cap(s);
	if (n > cap)
		n = cap;
	/*
	 * A short queue: spread it over the requests that may be in flight,
	 * down to half the size (more requests cost more than they gain).
	 */
	per = (queued + lim - 1) / lim;
	if (per < (size_t)n)
		n = per > (size_t)n / 2 ? (int)per : (n + 1) / 2;
	return n;
}

void sched_batch_sent(struct sched *s, int nops)
{
	struct sched_size_log *l = &s->log;
	int b = 0;

	if (nops < 1)
		return;
	while (b < 9 && (nops >> (b + 1)))
		b++;
	l->hist[b]++;
	if (!l->batches++) {
		l->sent_first = l->sent_min = l->sent_max = nops;
	} else {
		if (nops < l->sent_min)
			l->sent_min = nops;
		if (nops > l->sent_max)
			l->sent_max = nops;
	}
	l->sent_last = nops;
}

/* Well inside the budget: at least half of the most ever reported left. */
static bool budget_inside(const struct sched *s)
{
	return s->budget_ms < 0 || s->budget_ms * 2 >= s->budget_peak;
}

void sched_batch_done(struct sched *s, int64_t now_ms,
		      const struct sched_answer *a)
{
	long took = now_ms > a->sent_ms ? (long)(now_ms - a->sent_ms) : 0;
	bool current = a->epoch == s->epoch;
	int next;

	if (a->budget_ms >= 0) {
		s->budget_ms = a->budget_ms;
		if (a->budget_ms > s->budget_peak)
			s->budget_peak = a->budget_ms;
	}
	if (s->batch_fixed)
		return;
	/* about the current size: a few operations tell little */
	if ((a->status == 200 && a->nops * 2 >= s->batch) || a->timed_out)
		measure(s, a->nops, took);
	/*
	 * Smaller batches: the execution-time limit was hit (its message
	 * says to shorten the requests), or answers are slow.
	 */
	if (a->exec_limit || a->timed_out ||
	    (a->status == 200 && took > s->target_ms)) {
		if (current)
			set_batch(s, s->batch / 2);
		return;
	}
	if (s->batch > time_cap(s)) {
		set_batch(s, time_cap(s));
		return;
	}
	/* larger: fast answers to batches about the current size */
	if (!current || a->status != 200 || took * 2 > s->target_ms ||
	    a->nops * 2 < s->batch || !budget_inside(s))
		return;
	if (++s->fast < SCHED_GROW_AFTER)
		return;
	next = s->batch * 2;
	if (next > time_cap(s))
		next = time_cap(s);
	if (next > s->batch)
		set_batch(s, next);
	else
		s->fast = 0;
}

long sched_parse_time_remaining(const char *v)
{
	long sec = 0, ms = 0;
	int run = 0, scale = 100;
	bool grouped = false;

	if (!v)
		return -1;
	while (*v == ' ' || *v == '\t')
		v++;
	/* digits, with ',' before every group of three when grouped */
	for (;; v++) {
		if (*v >= '0' && *v <= '9') {
			if (sec > 2000000)
				return -1;
			sec = sec * 10 + (*v - '0');
			run++;
			continue;
		}
		if (*v != ',')
			break;
		if (run < 1 || run > 3 || (grouped && run != 3))
			return -1;
		grouped = true;
		run = 0;
	}
	if (run == 0 || (grouped && run != 3) || sec > 2000000)
		return -1;
	if (*v == '.') {
		v++;
		if (*v < '0' || *v > '9')
			return -1;
		for (; *v >= '0' && *v <= '9'; v++) {
			ms += (*v - '0') * scale;
			scale /= 10;
		}
	}
	while (*v == ' ' || *v == '\t')
		v++;
	if (*v)
		return -1;
	return sec * 1000 + ms;
}

static const char *const hist_names[10] = {
    "1",     "2-3",    "4-7",	  "8-15",    "16-31",
    "32-63", "64-127", "128-255", "256-511", "512+"};

void sched_size_summary(const struct sched *s, struct buf *out)
{
	const struct sched_size_log *l = &s->log;
	unsigned long n = l->nsizes, from;

	buf_addf(out, "%lu batches", l->batches);
	if (l->batches)
		buf_addf(out, " (first %d, last %d, min %d, max %d operations)",
			 l->sent_first, l->sent_last, l->sent_min, l->sent_max);
	buf_addstr(out, "; by size");
	for (int b = 0; b < 10; b++)
		if (l->hist[b])
			buf_addf(out, " %s:%lu", hist_names[b], l->hist[b]);
	if (s->batch_fixed) {
		buf_addf(out, "; fixed at %d", s->batch);
	} else {
		buf_addstr(out, "; chosen");
		for (unsigned long i = 0; i < n && i < SCHED_SIZE_LOG; i++)
			buf_addf(out, " %d", l->first[i]);
		from = n > 2 * SCHED_SIZE_LOG ? n - SCHED_SIZE_LOG
					      : SCHED_SIZE_LOG;
		if (n > 2 * SCHED_SIZE_LOG)
			buf_addf(out, " ...(%lu more)", n - 2 * SCHED_SIZE_LOG);
		for (unsigned long i = from; i < n; i++)
			buf_addf(out, " %d", l->last[i % SCHED_SIZE_LOG]);
		buf_addf(out, " (grew %lu, shrank %lu times)", l->grew,
			 l->shrank);
	}
	buf_addf(out, "; parallel %d", s->limit);
	if (s->hint)
		buf_addf(out, " (x-ms-dop-hint %d)", s->hint);
}

bool sched_refill(size_t in_flight, size_t window, size_t chunk)
{
	if (chunk > window)
		chunk = window;
	return in_flight == 0 || in_flight + chunk <= window;
}

static bool before(const struct sched_timer *a, const struct sched_timer *b)
{
	return a->due_ms < b->due_ms ||
	       (a->due_ms == b->due_ms && a->seq < b->seq);
}

static void swap(struct sched_timer *a, struct sched_timer *b)
{
	struct sched_timer t = *a;

	*a = *b;
	*b = t;
}

static void sift_up(struct sched *s, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (!before(&s->timers[i], &s->timers[p]))
			break;
		swap(&s->timers[i], &s->timers[p]);
		i = p;
	}
}

static void sift_down(struct sched *s, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < s->ntimers && before(&s->timers[l], &s->timers[m]))
			m = l;
		if (r < s->ntimers && before(&s->timers[r], &s->timers[m]))
			m = r;
		if (m == i)
			break;
		swap(&s->timers[i], &s->timers[m]);
		i = m;
	}
}

void sched_timer_add(struct sched *s, int64_t due_ms, void *item)
{
	if (s->ntimers == s->alloc) {
		s->alloc = s->alloc ? 2 * s->alloc : 64;
		s->timers = xrealloc(s->timers, s->alloc * sizeof(*s->timers));
	}
	s->timers[s->ntimers].due_ms = due_ms;
	s->timers[s->ntimers].seq = s->seq++;
	s->timers[s->ntimers].item = item;
	sift_up(s, s->ntimers++);
}

void sched_retry_add(struct sched *s, int64_t due_ms, void *item)
{
	int64_t r = due_ms % SCHED_RETRY_TICK_MS;

	if (r)
		due_ms += r > 0 ? SCHED_RETRY_TICK_MS - r : -r;
	sched_timer_add(s, due_ms, item);
}

void *sched_timer_pop(struct sched *s, int64_t now_ms)
{
	void *item;

	if (!s->ntimers || s->timers[0].due_ms > now_ms)
		return NULL;
	item = s->timers[0].item;
	s->timers[0] = s->timers[--s->ntimers];
	if (s->ntimers)
		sift_down(s, 0);
	return item;
}

void sched_timer_cancel(struct sched *s, const void *item)
{
	size_t i = 0;

	while (i < s->ntimers) {
		if (s->timers[i].item != item) {
			i++;
			continue;
		}
		s->timers[i] = s->timers[--s->ntimers];
		/* rebuild: cancellation is rare */
		for (size_t k = s->ntimers / 2 + 1; k-- > 0;)
			sift_down(s, k);
	}
}

long sched_wait_ms(const struct sched *s, int64_t now_ms, long cap_ms)
{
	int64_t wake = now_ms + cap_ms;

	if (s->ntimers && s->timers[0].due_ms < wake)
		wake = s->timers[0].due_ms;
	if (s->gate_ms > now_ms && s->gate_ms < wake)
		wake = s->gate_ms;
	return wake <= now_ms ? 0 : (long)(wake - now_ms);
}
