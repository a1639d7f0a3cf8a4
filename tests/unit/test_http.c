#include "compat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "http.h"

/*
 * A small HTTP/1.1 server in a child process, keeping connections open:
 * GET /small answers "hello", GET /big answers BIG_LEN bytes, GET /hang
 * never answers.
 */
#define BIG_LEN (1024 * 1024 + 17)
#define MAX_CONN 64

static pid_t server_pid;
static char base_url[64];

static char big_byte(size_t i)
{
	return (char)('a' + i % 23);
}

static void write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

static void answer(int fd, const char *req)
{
	char head[128];

	if (!strncmp(req, "GET /small ", 11)) {
		static const char r[] = "HTTP/1.1 200 OK\r\n"
					"Content-Type: text/plain\r\n"
					"Content-Length: 5\r\n\r\nhello";

		write_all(fd, r, sizeof(r) - 1);
	} else if (!strncmp(req, "GET /big ", 9)) {
		char *body = malloc(BIG_LEN);

		for (size_t i = 0; i < BIG_LEN; i++)
			body[i] = big_byte(i);
		snprintf(head, sizeof(head),
			 "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n",
			 BIG_LEN);
		write_all(fd, head, strlen(head));
		write_all(fd, body, BIG_LEN);
		free(body);
	} else if (strncmp(req, "GET /hang ", 10)) {
		static const char r[] = "HTTP/1.1 404 Not Found\r\n"
					"Content-Length: 0\r\n\r\n";

		write_all(fd, r, sizeof(r) - 1);
	}
}

static void serve(int lfd)
{
	struct pollfd p[MAX_CONN + 1];
	char in[MAX_CONN + 1][2048];
	size_t len[MAX_CONN + 1];
	nfds_t n = 1;

	p[0].fd = lfd;
	p[0].events = POLLIN;
	for (;;) {
		if (poll(p, n, -1) < 0)
			continue;
		if ((p[0].revents & POLLIN) && n < MAX_CONN + 1) {
			int c = accept(lfd, NULL, NULL);

			if (c >= 0) {
				p[n].fd = c;
				p[n].events = POLLIN;
				p[n].revents = 0;
				len[n++] = 0;
			}
		}
		for (nfds_t i = 1; i < n; i++) {
			ssize_t got;
			char *end;

			if (!p[i].revents)
				continue;
			got = read(p[i].fd, in[i] + len[i],
				   sizeof(in[i]) - 1 - len[i]);
			if (got <= 0) {
				close(p[i].fd);
				p[i] = p[n - 1];
				memcpy(in[i], in[n - 1], len[n - 1]);
				len[i] = len[n - 1];
				n--;
				i--;
				continue;
			}
			len[i] += (size_t)got;
			in[i][len[i]] = '\0';
			/* requests carry no body: each ends at the blank line
			 */
			while ((end = strstr(in[i], "\r\n\r\n"))) {
				size_t used = (size_t)(end + 4 - in[i]);

				answer(p[i].fd, in[i]);
				memmove(in[i], in[i] + used, len[i] - used + 1);
				len[i] -= used;
			}
		}
	}
}

static int start_server(void **state)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);

	(void)state;
	if (lfd < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(lfd, 64) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen) < 0) {
		close(lfd);
		return -1;
	}
	snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%d",
		 ntohs(a.sin_port));
	server_pid = fork();
	if (!server_pid) {
		serve(lfd);
		_exit(0);
	}
	close(lfd);
	return server_pid < 0 ? -1 : 0;
}

static int stop_server(void **state)
{
	(void)state;
	if (server_pid > 0) {
		kill(server_pid, SIGTERM);
		waitpid(server_pid, NULL, 0);
	}
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct request *get(struct http *h, const char *path, int kind)
{
	char url[128];
	struct request *r;
	struct err e = ERR_INIT;

	snprintf(url, sizeof(url), "%s%s", base_url, path);
	r = request_new("GET", url);
	r->kind = kind;
	assert_int_equal(http_start(h, r, now_ms(), &e), 0);
	return r;
}

/* Poll until 'n' requests are done (at most 'limit_ms'); returns them. */
static void finish(struct http *h, struct request **done, size_t n,
		   long wait_ms, int64_t limit_ms)
{
	int64_t start = now_ms();
	size_t got = 0;
	struct err e = ERR_INIT;

	while (got < n) {
		struct request *r;

		assert_true(now_ms() - start < limit_ms);
		assert_int_equal(http_poll(h, wait_ms, &e), 0);
		while ((r = http_next_done(h))) {
			assert_true(got < n);
			done[got++] = r;
		}
	}
}

static void test_idle_poll_sleeps(void **state)
{
	struct http h;
	struct http_opts o = {0};
	struct err e = ERR_INIT;
	int64_t t0;

	(void)state;
	assert_int_equal(http_init(&h, &o, &e), 0);
	t0 = now_ms();
	assert_int_equal(http_poll(&h, 80, &e), 0);
	assert_true(now_ms() - t0 >= 75);
	t0 = now_ms();
	assert_int_equal(http_poll(&h, 0, &e), 0);
	assert_true(now_ms() - t0 < 40);
	http_release(&h);
}

static void test_concurrent_requests_complete(void **state)
{
	enum { NSMALL = 24, NBIG = 3 };
	struct http h;
	struct http_opts o = {0};
	struct err e = ERR_INIT;
	struct request *done[NSMALL + NBIG];
	int smalls = 0, bigs = 0;

	(void)state;
	assert_int_equal(http_init(&h, &o, &e), 0);
	for (int i = 0; i < NSMALL; i++)
		get(&h, "/small", 1);
	for (int i = 0; i < NBIG; i++)
		get(&h, "/big", 2);
	/* long waits: only socket readiness and timers can end them */
	finish(&h, done, ARRAY_SIZE(done), 5000, 20000);
	for (size_t i = 0; i < ARRAY_SIZE(done); i++) {
		struct request *r = done[i];

		assert_int_equal(r->result, CURLE_OK);
		assert_int_equal(r->status, 200);
		if (r->kind == 1) {
			smalls++;
			assert_int_equal(r->response.len, 5);
			assert_memory_equal(r->response.ptr, "hello", 5);
			assert_string_equal(r->content_type, "text/plain");
		} else {
			bigs++;
			assert_int_equal(r->response.len, BIG_LEN);
			for (size_t j = 0; j < BIG_LEN; j += 4099)
				assert_int_equal(r->response.ptr[j],
						 big_byte(j));
			assert_int_equal(r->response.ptr[BIG_LEN - 1],
					 big_byte(BIG_LEN - 1));
		}
		request_free(r);
	}
	assert_int_equal(smalls, NSMALL);
	assert_int_equal(bigs, NBIG);
	assert_int_equal(h.in_flight, 0);
	/* idle connections are cached, not watched */
	assert_int_equal(h.nfds, 0);
	http_release(&h);
}

static void test_connection_reused(void **state)
{
	struct http h;
	struct http_opts o = {0};
	struct err e = ERR_INIT;
	struct request *r;
	long conns = -1;

	(void)state;
	assert_int_equal(http_init(&h, &o, &e), 0);
	for (int round = 0; round < 3; round++) {
		get(&h, "/small", 1);
		finish(&h, &r, 1, 5000, 10000);
		assert_int_equal(r->status, 200);
		curl_easy_getinfo(r->easy, CURLINFO_NUM_CONNECTS, &conns);
		/* one new connection, then the cached one */
		assert_int_equal(conns, round ? 0 : 1);
		request_free(r);
	}
	http_release(&h);
}

static void test_timeout_ends_long_wait(void **state)
{
	struct http h;
	struct http_opts o = {.timeout_ms = 300};
	struct err e = ERR_INIT;
	struct request *r;
	int64_t t0 = now_ms(), took;

	(void)state;
	assert_int_equal(http_init(&h, &o, &e), 0);
	get(&h, "/hang", 1);
	/* nothing arrives: libcurl's timer must end the 10 s waits */
	finish(&h, &r, 1, 10000, 5000);
	took = now_ms() - t0;
	assert_int_equal(r->result, CURLE_OPERATION_TIMEDOUT);
	assert_int_equal(r->status, 0);
	assert_true(r->error[0] != '\0');
	assert_true(took >= 290 && took < 3000);
	request_free(r);
	http_release(&h);
}

static volatile sig_atomic_t got_alarm;

static void on_alarm(int sig)
{
	(void)sig;
	got_alarm = 1;
}

static void test_signal_ends_wait(void **state)
{
	struct http h;
	struct http_opts o = {.timeout_ms = 1500};
	struct err e = ERR_INIT;
	struct request *r;
	struct sigaction sa, old;
	struct itimerval it = {.it_value = {.tv_usec = 100 * 1000}};
	int64_t t0;

	(void)state;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm; /* no SA_RESTART, as mbxfix run sets it */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, &old);
	assert_int_equal(http_init(&h, &o, &e), 0);
	get(&h, "/hang", 1);
	got_alarm = 0;
	t0 = now_ms();
	setitimer(ITIMER_REAL, &it, NULL);
	while (!got_alarm) {
		assert_int_equal(http_poll(&h, 5000, &e), 0);
		/* well before the transfer's own timeout */
		assert_true(now_ms() - t0 < 1000);
	}
	assert_int_equal(h.in_flight, 1);
	finish(&h, &r, 1, 5000, 5000);
	assert_int_equal(r->result, CURLE_OPERATION_TIMEDOUT);
	request_free(r);
	http_release(&h);
	sigaction(SIGALRM, &old, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_idle_poll_sleeps),
	    cmocka_unit_test(test_concurrent_requests_complete),
	    cmocka_unit_test(test_connection_reused),
	    cmocka_unit_test(test_timeout_ends_long_wait),
	    cmocka_unit_test(test_signal_ends_wait),
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests(tests, start_server, stop_server);
}
