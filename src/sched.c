#include "compat.h"

#include <string.h>

#include "sched.h"

#include "banned.h"

void sched_init(struct sched *s, int parallel, int max)
{
	memset(s, 0, sizeof(*s));
	s->adaptive = parallel <= 0;
	s->max = max > 0 ? max : SCHED_DEFAULT_MAX;
	s->limit = s->adaptive ? SCHED_START_LIMIT : parallel;
	if (s->adaptive && s->limit > s->max)
		s->limit = s->max;
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
	 * only lengthen the server's penalty (reference §7).
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
	if (!s->adaptive)
		return;
	if (dop_hint > 0 && !s->hinted && s->throttled == 0) {
		/* the server's advice, once, before anything went wrong */
		s->hinted = true;
		if (s->max > 2 * dop_hint)
			s->max = 2 * dop_hint;
		s->limit = dop_hint < s->max ? dop_hint : s->max;
		s->healthy = 0;
		return;
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
