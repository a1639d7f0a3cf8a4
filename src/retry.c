#include "compat.h"

#include <ctype.h>
#include <limits.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "retry.h"

#include "banned.h"

static bool status_is_transient(long status)
{
	switch (status) {
	case 408: /* Request Timeout */
	case 429: /* service protection (docs/fidelity.md) */
	case 500:
	case 502:
	case 503:
	case 504:
		return true;
	default:
		return false;
	}
}

bool retry_is_transient(long http_status, int curl_code)
{
	switch ((CURLcode)curl_code) {
	case CURLE_OK:
		return status_is_transient(http_status);
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

long retry_next_delay_ms(const struct retry_policy *p, int attempt,
			 long http_status, long retry_after_s, unsigned jitter)
{
	long d;

	if (attempt < 1)
		BUG("retry_next_delay_ms: attempt %d", attempt);
	if (http_status != 0 && !status_is_transient(http_status))
		return -1;
	if (p->max_attempts > 0 && attempt >= p->max_attempts)
		return -1;
	if (retry_after_s >= 0) {
		/* honour it exactly, or not at all (docs/fidelity.md) */
		if (retry_after_s > p->budget_s)
			return -1;
		return retry_after_s * 1000;
	}
	d = attempt == 1 && p->first_ms > 0 ? p->first_ms : p->base_ms;
	for (int i = 1; i < attempt && d < p->max_ms; i++)
		d = d > LONG_MAX / 2 ? LONG_MAX : d * 2;
	if (d > p->max_ms)
		d = p->max_ms;
	if (d < 0)
		d = 0;
	return d + (long)(jitter % ((unsigned long)d / 4 + 1));
}

long retry_streak_delay_ms(const struct retry_policy *p, int attempt,
			   int streak, long http_status, long retry_after_s,
			   unsigned jitter)
{
	if (attempt < 1)
		BUG("retry_streak_delay_ms: attempt %d", attempt);
	if (p->max_attempts > 0 && attempt >= p->max_attempts)
		return -1;
	if (streak < 1)
		streak = 1;
	return retry_next_delay_ms(p, attempt < streak ? attempt : streak,
				   http_status, retry_after_s, jitter);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1..12). */
static long long days_from_civil(long long y, int m, int d)
{
	long long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int month_index(const char *s)
{
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr",
					     "May", "Jun", "Jul", "Aug",
					     "Sep", "Oct", "Nov", "Dec"};

	for (size_t i = 0; i < ARRAY_SIZE(months); i++)
		if (strcasecmp(s, months[i]) == 0)
			return (int)i + 1;
	return 0;
}

struct tm_parts {
	int year, mon, day, hh, mm, ss;
};

/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
static bool scan_imf(const char *s, struct tm_parts *t, char mon[4])
{
	char wday[4];
	int end = -1;

	return sscanf(s, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n",
		      wday, &t->day, mon, &t->year, &t->hh, &t->mm, &t->ss,
		      &end) == 7 &&
	       end > 0 && s[end] == '\0';
}

/* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
static bool scan_rfc850(const char *s, struct tm_parts *t, char mon[4])
{
	char wday[16];
	int end = -1;

	if (sscanf(s, "%15[A-Za-z], %2d-%3[A-Za-z]-%2d %2d:%2d:%2d GMT%n", wday,
		   &t->day, mon, &t->year, &t->hh, &t->mm, &t->ss, &end) != 7 ||
	    end <= 0 || s[end] != '\0')
		return false;
	t->year += t->year < 70 ? 2000 : 1900;
	return true;
}

/* asctime: "Sun Nov  6 08:49:37 1994" */
static bool scan_asctime(const char *s, struct tm_parts *t, char mon[4])
{
	char wday[4];
	int end = -1;

	return sscanf(s, "%3[A-Za-z] %3[A-Za-z] %2d %2d:%2d:%2d %4d%n", wday,
		      mon, &t->day, &t->hh, &t->mm, &t->ss, &t->year,
		      &end) == 7 &&
	       end > 0 && s[end] == '\0';
}

/* An HTTP date in any of the three forms of RFC 9110 §5.6.7. */
static int parse_http_date(const char *s, long long *epoch)
{
	struct tm_parts t;
	char mon[4];

	if (!scan_imf(s, &t, mon) && !scan_rfc850(s, &t, mon) &&
	    !scan_asctime(s, &t, mon))
		return -1;
	t.mon = month_index(mon);
	if (!t.mon || t.day < 1 || t.day > 31 || t.hh < 0 || t.hh > 23 ||
	    t.mm < 0 || t.mm > 59 || t.ss < 0 || t.ss > 60 || t.year < 1900)
		return -1;
	*epoch = days_from_civil(t.year, t.mon, t.day) * 86400LL +
		 t.hh * 3600LL + t.mm * 60LL + t.ss;
	return 0;
}

int retry_parse_after(const char *value, time_t now, long *delay_s)
{
	char tmp[64];
	size_t len;
	long long when, d;

	while (*value == ' ' || *value == '\t')
		value++;
	len = strlen(value);
	while (len && (value[len - 1] == ' ' || value[len - 1] == '\t' ||
		       value[len - 1] == '\r' || value[len - 1] == '\n'))
		len--;
	if (len == 0 || len >= sizeof(tmp))
		return -1;
	memcpy(tmp, value, len);
	tmp[len] = '\0';

	if (isdigit((unsigned char)tmp[0])) {
		d = 0;
		for (size_t i = 0; i < len; i++) {
			if (!isdigit((unsigned char)tmp[i]))
				return -1;
			if (d <= RETRY_AFTER_MAX_S)
				d = d * 10 + (tmp[i] - '0');
		}
	} else {
		if (parse_http_date(tmp, &when) < 0)
			return -1;
		d = when - (long long)now;
		if (d < 0)
			d = 0;
	}
	*delay_s = d > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : (long)d;
	return 0;
}
