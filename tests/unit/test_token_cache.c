#include "compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "job.h"
#include "token_cache.h"

static char dir[] = "/tmp/mbxfix-cache-test.XXXXXX";

static const struct token_cache_key K = {
    "https://login.microsoftonline.com", "contoso.onmicrosoft.com",
    "0b5e1c2d-3f4a-4b6c-8d7e-9f0a1b2c3d4e", "https://org.crm.dynamics.com"};

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	setenv("XDG_CACHE_HOME", dir, 1);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_path_keyed(void **state)
{
	struct token_cache_key k2 = K;
	struct err e = ERR_INIT;
	char *a, *b, *c;

	(void)state;
	a = token_cache_path(&K, &e);
	b = token_cache_path(&K, &e);
	k2.environment = "https://other.crm.dynamics.com";
	c = token_cache_path(&k2, &e);
	assert_non_null(a);
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
	/* under $XDG_CACHE_HOME/mbxfix/ */
	assert_int_equal(strncmp(a, dir, strlen(dir)), 0);
	assert_non_null(strstr(a, "/mbxfix/signin-"));
	free(a);
	free(b);
	free(c);
}

static void test_store_load_remove(void **state)
{
	struct token_cache_key k2 = K;
	struct buf rt = BUF_INIT(4096);
	struct err e = ERR_INIT;
	struct stat st;
	char *p = token_cache_path(&K, &e);

	(void)state;
	assert_int_equal(token_cache_load(p, &K, &rt, &e), 0); /* none */
	assert_int_equal(token_cache_store(p, &K, "rt-one", &e), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(token_cache_load(p, &K, &rt, &e), 1);
	assert_string_equal(rt.ptr, "rt-one");
	job_secret_wipe(&rt);
	/* a rotated token replaces the old one; no temporary file is left */
	assert_int_equal(token_cache_store(p, &K, "rt-two", &e), 0);
	assert_int_equal(token_cache_load(p, &K, &rt, &e), 1);
	assert_string_equal(rt.ptr, "rt-two");
	job_secret_wipe(&rt);
	{
		char cmd[256];

		snprintf(cmd, sizeof(cmd),
			 "test $(ls '%s/mbxfix' | wc -l) -eq 1", dir);
		assert_int_equal(system(cmd), 0);
	}
	/* the same file read for another sign-in: nothing */
	k2.client_id = "11111111-2222-4333-8444-555555555555";
	assert_int_equal(token_cache_load(p, &k2, &rt, &e), 0);
	assert_int_equal(token_cache_remove(p, &e), 1);
	assert_int_equal(token_cache_remove(p, &e), 0);
	assert_int_equal(token_cache_load(p, &K, &rt, &e), 0);
	buf_release(&rt);
	free(p);
}

static void test_refuses_open_mode(void **state)
{
	struct buf rt = BUF_INIT(4096);
	struct err e = ERR_INIT;
	char *p = token_cache_path(&K, &e);

	(void)state;
	assert_int_equal(token_cache_store(p, &K, "secret-rt", &e), 0);
	assert_int_equal(chmod(p, 0640), 0);
	assert_int_equal(token_cache_load(p, &K, &rt, &e), -1);
	assert_int_equal(e.kind, ERR_CONFIG);
	assert_non_null(strstr(e.msg, p));
	assert_null(strstr(e.msg, "secret-rt"));
	assert_int_equal(rt.len, 0);
	/* the store puts the mode right again */
	assert_int_equal(token_cache_store(p, &K, "rt-3", &e), 0);
	err_clear(&e);
	assert_int_equal(token_cache_load(p, &K, &rt, &e), 1);
	job_secret_wipe(&rt);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_path_keyed),
	    cmocka_unit_test(test_store_load_remove),
	    cmocka_unit_test(test_refuses_open_mode),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
