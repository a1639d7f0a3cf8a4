/*
 * http.h: libcurl multi in one thread; one struct request per transfer.
 *
 * A struct request owns its CURL easy handle, its header list, its body
 * and its capped response buffer; libcurl borrows them (CURLOPT_HTTPHEADER
 * and CURLOPT_POSTFIELDS are not copied) until http_next_done() has
 * removed the handle from the multi, so they are freed only after that, by
 * request_free(). The request is found again through CURLOPT_PRIVATE.
 *
 * Connections are cached by the multi handle and reused across requests;
 * HTTP/2 is used when the server offers it over TLS (CURL_HTTP_VERSION_2TLS:
 * ALPN offers h2 and http/1.1) and requests are then multiplexed; plain
 * http:// stays HTTP/1.1, with no h2c Upgrade that a proxy could trip on.
 * The negotiated version is logged for the first connection (LOG_INFO,
 * -v) and for each later new connection (LOG_DEBUG, -vv). TLS is always
 * verified; 'ca_file' names a private CA bundle.
 */
#ifndef MBXFIX_HTTP_H
#define MBXFIX_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>

#include "buf.h"
#include "err.h"

struct http_opts {
	const char *ca_file;	 /* NULL or "" = the system's CAs */
	long timeout_ms;	 /* whole transfer; 0 = none */
	long connect_timeout_ms; /* 0 = libcurl's default */
	size_t max_response;	 /* response body cap; 0 = BUF_MAX_BODY */
	int max_connections;	 /* per host; 0 = no limit */
};

struct pollfd;
struct http_ready;

struct http {
	CURLM *multi;
	char *ca_file;
	long timeout_ms, connect_timeout_ms;
	size_t max_response;
	int running;	    /* transfers still running, as libcurl counts */
	int in_flight;	    /* requests added and not yet returned */
	unsigned long sent; /* requests started */
	unsigned long connections; /* new connections logged */
	/*
	 * The sockets libcurl asked us to watch (CURLMOPT_SOCKETFUNCTION),
	 * with the events it wants, and a scratch copy of those found ready
	 * (the watch list changes while libcurl is told about them).
	 */
	struct pollfd *fds;
	struct http_ready *ready;
	size_t nfds, fds_alloc;
	/* when libcurl wants its timeouts run (CURLMOPT_TIMERFUNCTION),
	   CLOCK_MONOTONIC ms; -1 = no timer */
	int64_t timer_at;
	bool timer_set; /* the timer callback ran */
};

struct request {
	CURL *easy;
	struct curl_slist *headers;
	char *body; /* owned; NULL = no body */
	size_t body_len;
	struct buf response;
	/* filled when done */
	CURLcode result;	     /* CURLE_OK when an HTTP answer arrived */
	long status;		     /* HTTP status; 0 when none arrived */
	char error[CURL_ERROR_SIZE]; /* transport error text */
	char content_type[160];	     /* of the answer */
	char retry_after[64];	     /* raw Retry-After value, "" if absent */
	int dop_hint;		     /* x-ms-dop-hint, 0 if absent */
	char time_remaining[32];     /* x-ms-ratelimit-time-remaining-... */
	long http_version;	     /* CURL_HTTP_VERSION_*, 0 when none */
	/* for the caller */
	void *owner;
	int kind;
	int64_t started_ms;
};

/*
 * Set up the multi handle. -1 (ERR_INTERNAL) when libcurl cannot. libcurl
 * keeps a pointer to 'h': it must not move until http_release().
 */
int http_init(struct http *h, const struct http_opts *o, struct err *e);

/* Aborts and frees nothing that is still in flight: finish them first. */
void http_release(struct http *h);

/*
 * A new request for 'method' on 'url' (both copied); never NULL (out of
 * memory aborts, as xmalloc() does). Free with request_free() (NULL is
 * fine).
 */
struct request *request_new(const char *method, const char *url);
void request_free(struct request *r);

/* Add one "Name: value" header line (copied). */
int request_add_header(struct request *r, const char *line);

/* Take ownership of 'body' (malloc'd, 'len' bytes) as the request body. */
void request_set_body(struct request *r, char *body, size_t len);

/* Hand the request to the transport; it is now in flight. */
int http_start(struct http *h, struct request *r, int64_t now_ms,
	       struct err *e);

/*
 * Wait up to 'timeout_ms' (0 = do not block) for activity on the
 * transfers' sockets or for libcurl's next timeout, whichever comes first,
 * then let libcurl drive only the transfers whose sockets are ready and
 * those whose timeouts are due (curl_multi_socket_action). With nothing in
 * flight this just sleeps 'timeout_ms'; a signal ends the wait early.
 * Finished requests are then collected with http_next_done(). -1 only
 * when libcurl or poll() itself fails.
 */
int http_poll(struct http *h, long timeout_ms, struct err *e);

/*
 * The next finished request (removed from the multi, owned by the caller
 * again), or NULL when none has finished.
 */
struct request *http_next_done(struct http *h);

/* true when the transfer failed for a reason worth retrying. */
bool http_is_transport_transient(CURLcode c);

#endif
