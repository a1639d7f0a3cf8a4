#include "compat.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http.h"
#include "log.h"

#include "banned.h"

/* a socket poll() found ready, and what to tell libcurl about it */
struct http_ready {
	curl_socket_t fd;
	int bits; /* CURL_CSELECT_* */
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * CURLMOPT_SOCKETFUNCTION: libcurl says which events it wants on 's', or
 * that it no longer cares about it (it is told before it closes one).
 */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp,
		     void *socketp)
{
	struct http *h = userp;
	size_t i;

	(void)easy;
	(void)socketp;
	for (i = 0; i < h->nfds && h->fds[i].fd != s; i++)
		;
	/* no events at all: poll() would still report a hang-up, at once */
	if (what == CURL_POLL_REMOVE || what == CURL_POLL_NONE) {
		if (i < h->nfds)
			h->fds[i] = h->fds[--h->nfds];
		return 0;
	}
	if (i == h->nfds) {
		if (h->nfds == h->fds_alloc) {
			h->fds_alloc = h->fds_alloc ? 2 * h->fds_alloc : 8;
			h->fds =
			    xrealloc(h->fds, h->fds_alloc * sizeof(*h->fds));
			h->ready = xrealloc(h->ready,
					    h->fds_alloc * sizeof(*h->ready));
		}
		h->fds[h->nfds++].fd = s;
	}
	h->fds[i].events = (short)((what & CURL_POLL_IN ? POLLIN : 0) |
				   (what & CURL_POLL_OUT ? POLLOUT : 0));
	h->fds[i].revents = 0;
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: run libcurl's timeouts in 'ms' (-1 = never) */
static int on_timer(CURLM *multi, long ms, void *userp)
{
	struct http *h = userp;

	(void)multi;
	h->timer_at = ms < 0 ? -1 : mono_ms() + ms;
	h->timer_set = true;
	return 0;
}

int http_init(struct http *h, const struct http_opts *o, struct err *e)
{
	memset(h, 0, sizeof(*h));
	h->timer_at = -1;
	h->multi = curl_multi_init();
	if (!h->multi)
		return err_set(e, ERR_INTERNAL, "cannot initialise libcurl");
	/* libcurl is told which socket is ready instead of checking each */
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	/* HTTP/2 streams share one connection instead of opening many */
	curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
	if (o->max_connections > 0)
		curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
				  (long)o->max_connections);
	h->ca_file = o->ca_file && *o->ca_file ? xstrdup(o->ca_file) : NULL;
	h->timeout_ms = o->timeout_ms;
	h->connect_timeout_ms = o->connect_timeout_ms;
	h->max_response = o->max_response ? o->max_response : BUF_MAX_BODY;
	return 0;
}

void http_release(struct http *h)
{
	if (h->in_flight)
		BUG("http_release with %d requests in flight", h->in_flight);
	/* the cleanup still calls on_socket() for cached connections */
	if (h->multi)
		curl_multi_cleanup(h->multi);
	free(h->fds);
	free(h->ready);
	free(h->ca_file);
	memset(h, 0, sizeof(*h));
}

static size_t on_body(char *data, size_t size, size_t n, void *p)
{
	struct request *r = p;

	/* a short count makes libcurl fail the transfer: the cap held */
	if (buf_add(&r->response, data, size * n) < 0)
		return 0;
	return size * n;
}

static void header_value(char *dst, size_t dstlen, const char *v, size_t len)
{
	while (len && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	while (len &&
	       (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
		len--;
	if (len >= dstlen)
		len = dstlen - 1;
	memcpy(dst, v, len);
	dst[len] = '\0';
}

static bool is_header(const char *line, size_t len, const char *name,
		      size_t *vstart)
{
	size_t n = strlen(name);

	if (len <= n || line[n] != ':' || strncasecmp(line, name, n))
		return false;
	*vstart = n + 1;
	return true;
}

static size_t on_header(char *line, size_t size, size_t n, void *p)
{
	struct request *r = p;
	size_t len = size * n, v;
	char num[24];

	if (len >= 5 && !strncmp(line, "HTTP/", 5)) {
		/* a new response (after a 100 Continue): forget the last */
		r->content_type[0] = r->retry_after[0] = '\0';
		r->time_remaining[0] = '\0';
		r->dop_hint = 0;
	} else if (is_header(line, len, "content-type", &v)) {
		header_value(r->content_type, sizeof(r->content_type), line + v,
			     len - v);
	} else if (is_header(line, len, "retry-after", &v)) {
		header_value(r->retry_after, sizeof(r->retry_after), line + v,
			     len - v);
	} else if (is_header(line, len, "content-length", &v)) {
		char *end;
		long long cl;

		/* one allocation for the body instead of doubling into it */
		header_value(num, sizeof(num), line + v, len - v);
		cl = strtoll(num, &end, 10);
		if (end != num && !*end && cl > 0 &&
		    (unsigned long long)cl < r->response.max)
			buf_grow(&r->response, (size_t)cl);
	} else if (is_header(line, len,
			     "x-ms-ratelimit-time-remaining-xrm-requests",
			     &v)) {
		header_value(r->time_remaining, sizeof(r->time_remaining),
			     line + v, len - v);
	} else if (is_header(line, len, "x-ms-dop-hint", &v)) {
		char *end;
		long d;

		header_value(num, sizeof(num), line + v, len - v);
		d = strtol(num, &end, 10);
		if (end != num && !*end && d > 0 && d < 10000)
			r->dop_hint = (int)d;
	}
	return len;
}

struct request *request_new(const char *method, const char *url)
{
	struct request *r = xcalloc(1, sizeof(*r));

	buf_init(&r->response, BUF_MAX_BODY);
	r->easy = curl_easy_init();
	if (!r->easy) {
		/* libcurl fails here only when out of memory */
		fputs("fatal: out of memory creating a transfer\n", stderr);
		abort();
	}
	curl_easy_setopt(r->easy, CURLOPT_URL, url);
	curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, method);
	if (!strcmp(method, "GET"))
		curl_easy_setopt(r->easy, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->error);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_HTTP_VERSION,
			 (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	/* an answer is never fetched from elsewhere */
	curl_easy_setopt(r->easy, CURLOPT_FOLLOWLOCATION, 0L);
	return r;
}

void request_free(struct request *r)
{
	if (!r)
		return;
	if (r->easy)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	if (r->body) {
		/* bodies may hold a client secret or assertion */
		memset(r->body, 0, r->body_len);
		free(r->body);
	}
	buf_release(&r->response);
	free(r);
}

int request_add_header(struct request *r, const char *line)
{
	struct curl_slist *l = curl_slist_append(r->headers, line);

	if (!l)
		return -1;
	r->headers = l;
	return 0;
}

void request_set_body(struct request *r, char *body, size_t len)
{
	free(r->body);
	r->body = body;
	r->body_len = len;
}

int http_start(struct http *h, struct request *r, int64_t now_ms, struct err *e)
{
	CURLMcode mc;

	if (h->ca_file)
		curl_easy_setopt(r->easy, CURLOPT_CAINFO, h->ca_file);
	if (h->timeout_ms > 0)
		curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, h->timeout_ms);
	if (h->connect_timeout_ms > 0)
		curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS,
				 h->connect_timeout_ms);
	r->response.max = h->max_response;
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
	if (r->body) {
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->body);
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)r->body_len);
	}
	r->started_ms = now_ms;
	r->status = 0;
	r->http_version = 0;
	r->result = CURLE_OK;
	r->error[0] = '\0';
	buf_reset(&r->response);
	mc = curl_multi_add_handle(h->multi, r->easy);
	if (mc != CURLM_OK)
		return err_set(e, ERR_INTERNAL, "cannot start a request: %s",
			       curl_multi_strerror(mc));
	h->in_flight++;
	h->sent++;
	return 0;
}

/* what poll() found on a socket, as libcurl's CURL_CSELECT_* bits */
static int select_bits(const struct pollfd *p)
{
	int bits = 0;

	/* the same reading of the events as libcurl's own socket check */
	if ((p->events & POLLIN) && (p->revents & (POLLIN | POLLERR | POLLHUP)))
		bits |= CURL_CSELECT_IN;
	if ((p->events & POLLOUT) &&
	    (p->revents & (POLLOUT | POLLERR | POLLHUP)))
		bits |= CURL_CSELECT_OUT;
	if (p->revents & (POLLPRI | POLLNVAL))
		bits |= CURL_CSELECT_ERR;
	return bits;
}

static int act(struct http *h, curl_socket_t s, int bits, struct err *e)
{
	CURLMcode mc = curl_multi_socket_action(h->multi, s, bits, &h->running);

	if (mc != CURLM_OK)
		return err_set(e, ERR_INTERNAL, "curl_multi_socket_action: %s",
			       curl_multi_strerror(mc));
	return 0;
}

int http_poll(struct http *h, long timeout_ms, struct err *e)
{
	int64_t now = mono_ms();
	long wait = timeout_ms > 0 ? timeout_ms : 0;
	size_t nready = 0;
	int n = 0;

	if (h->timer_at >= 0 && h->timer_at - now < wait)
		wait = h->timer_at > now ? (long)(h->timer_at - now) : 0;
	if (wait > INT_MAX)
		wait = INT_MAX;
	if (h->nfds || wait > 0)
		n = poll(h->fds, (nfds_t)h->nfds, (int)wait);
	if (n < 0 && errno != EINTR)
		return err_set_errno(e, ERR_INTERNAL, "poll");
	/*
	 * libcurl changes the watch list (and may grow both arrays) while it
	 * is told about the sockets: note them all first.
	 */
	for (size_t i = 0; n > 0 && i < h->nfds; i++)
		if (h->fds[i].revents) {
			h->ready[nready].fd = h->fds[i].fd;
			h->ready[nready++].bits = select_bits(&h->fds[i]);
		}
	for (size_t i = 0; i < nready; i++) {
		struct http_ready rd = h->ready[i];

		if (act(h, rd.fd, rd.bits, e) < 0)
			return -1;
	}
	/*
	 * Each call above also ran the timeouts that were due; run them now
	 * if none was made, or if one asked for another round at once (a
	 * queued transfer that may now take a free connection).
	 */
	if (h->timer_at >= 0 && h->timer_at <= mono_ms()) {
		h->timer_set = false;
		if (act(h, CURL_SOCKET_TIMEOUT, 0, e) < 0)
			return -1;
		if (!h->timer_set) {
			/* nothing was due yet (the clocks round differently):
			   ask libcurl when, so the next wait does not spin */
			long ms = -1;

			curl_multi_timeout(h->multi, &ms);
			h->timer_at = ms < 0 ? -1 : mono_ms() + (ms ? ms : 1);
		}
	}
	return 0;
}

static const char *version_name(long v)
{
	switch (v) {
	case CURL_HTTP_VERSION_1_0:
		return "HTTP/1.0";
	case CURL_HTTP_VERSION_1_1:
		return "HTTP/1.1";
	case CURL_HTTP_VERSION_2_0:
		return "HTTP/2";
	case CURL_HTTP_VERSION_3:
		return "HTTP/3";
	default:
		return "an unknown HTTP version";
	}
}

/*
 * What a new connection negotiated (ALPN over TLS): the run's first
 * connection with -v, every later one with -vv.
 */
static void log_new_connection(struct http *h, struct request *r)
{
	long conns = 0, port = 0;
	char *scheme = NULL, *ip = NULL, line[160];

	if (log_get_level() < (h->connections ? LOG_DEBUG : LOG_INFO) ||
	    curl_easy_getinfo(r->easy, CURLINFO_NUM_CONNECTS, &conns) !=
		CURLE_OK ||
	    conns <= 0)
		return;
	curl_easy_getinfo(r->easy, CURLINFO_SCHEME, &scheme);
	curl_easy_getinfo(r->easy, CURLINFO_PRIMARY_IP, &ip);
	curl_easy_getinfo(r->easy, CURLINFO_PRIMARY_PORT, &port);
	snprintf(line, sizeof(line), "new %s connection to %s port %ld: %s",
		 scheme ? scheme : "?", ip ? ip : "?", port,
		 version_name(r->http_version));
	if (h->connections++)
		log_debug("%s", line);
	else
		log_info("%s", line);
}

struct request *http_next_done(struct http *h)
{
	struct request *r = NULL;
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(h->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE,
				  (char **)&r);
		r->result = m->data.result;
		if (r->result == CURLE_OK) {
			curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE,
					  &r->status);
			curl_easy_getinfo(r->easy, CURLINFO_HTTP_VERSION,
					  &r->http_version);
			log_new_connection(h, r);
		} else if (!r->error[0])
			snprintf(r->error, sizeof(r->error), "%s",
				 curl_easy_strerror(r->result));
		curl_multi_remove_handle(h->multi, r->easy);
		h->in_flight--;
		return r;
	}
	return NULL;
}

bool http_is_transport_transient(CURLcode c)
{
	switch (c) {
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_COULDNT_CONNECT:
		return true;
	default:
		return false;
	}
}
