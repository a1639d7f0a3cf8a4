#include "compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "log.h"

#include "banned.h"

static int teardown(void **state)
{
	(void)state;
	log_secret_clear();
	return 0;
}

static void scrubbed(const char *in, const char *want)
{
	char buf[1024];

	snprintf(buf, sizeof(buf), "%s", in);
	log_scrub(buf);
	assert_string_equal(buf, want);
}

static void test_scrub_whole_and_encoded(void **state)
{
	static const char secret[] = "Ab1~x.Q8_zz-secret/+=";

	(void)state;
	scrubbed("nothing remembered yet: Ab1~x.Q8_zz-secret/+=",
		 "nothing remembered yet: Ab1~x.Q8_zz-secret/+=");
	log_secret_add(secret, strlen(secret));
	scrubbed("client_secret=Ab1~x.Q8_zz-secret/+=&x=1",
		 "client_secret=***&x=1");
	/* as a form body carries it, '~' encoded or not */
	scrubbed("body: client_secret=Ab1~x.Q8_zz-secret%2F%2B%3D",
		 "body: client_secret=***");
	scrubbed("body: client_secret=Ab1%7Ex.Q8_zz-secret%2F%2B%3D",
		 "body: client_secret=***");
	scrubbed("twice Ab1~x.Q8_zz-secret/+= and Ab1~x.Q8_zz-secret/+=.",
		 "twice *** and ***.");
	/* a message cut short keeps a piece of it: the piece goes too */
	scrubbed("Authorization: Ab1~x.Q8_zz-se", "Authorization: ***");
	/* a short common prefix is not a secret */
	scrubbed("Ab1~x is fine", "Ab1~x is fine");
	scrubbed("", "");
}

static void test_scrub_tokens_and_short(void **state)
{
	static const char tok[] = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9."
				  "eyJhdWQiOiJodHRwOi8vMTI3LjAuMC4xIn0.c2ln";

	(void)state;
	log_secret_add("abc", 3); /* too short to be told from text */
	scrubbed("abc abc", "abc abc");
	log_secret_add(tok, strlen(tok));
	scrubbed("Invalid request. Authorization: Bearer "
		 "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9."
		 "eyJhdWQiOiJodHRwOi8vMTI3LjAuMC4xIn0.c2ln; body: {}",
		 "Invalid request. Authorization: Bearer ***; body: {}");
}

/* err_set() messages and log lines are scrubbed too. */
static void test_err_set_scrubs(void **state)
{
	struct err e = ERR_INIT;

	(void)state;
	log_secret_add("hunter2-hunter2", 15);
	err_set(&e, ERR_AUTH, "refused: %s: %s", "invalid_client",
		"client_secret=hunter2-hunter2");
	assert_string_equal(e.msg,
			    "refused: invalid_client: client_secret=***");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_scrub_whole_and_encoded, teardown),
	    cmocka_unit_test_teardown(test_scrub_tokens_and_short, teardown),
	    cmocka_unit_test_teardown(test_err_set_scrubs, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
