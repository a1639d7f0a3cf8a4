#include "compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "preflight.h"

#include "banned.h"

static void test_distance(void **state)
{
	(void)state;
	assert_int_equal(preflight_distance("Sales", "Sales", 3), 0);
	/* case and surrounding blanks do not count */
	assert_int_equal(preflight_distance("  sales team ", "Sales Team", 3),
			 0);
	assert_int_equal(preflight_distance("Salse", "Sales", 3), 2);
	assert_int_equal(
	    preflight_distance("Sales Restrictd", "Sales Restricted", 3), 1);
	assert_int_equal(preflight_distance("", "abc", 5), 3);
	/* stops early past 'max' */
	assert_int_equal(preflight_distance("a", "abcdefgh", 2), 3);
	assert_int_equal(preflight_distance("kitten", "sitting", 1), 2);
	assert_int_equal(preflight_distance("kitten", "sitting", 5), 3);
}

static void suggest(const char *want, const char *const *names, size_t n,
		    const char *expect)
{
	struct buf b = BUF_INIT(4096);

	buf_addstr(&b, "");
	preflight_suggest(&b, want, names, n);
	assert_string_equal(b.ptr ? b.ptr : "", expect);
	buf_release(&b);
}

static void test_suggest(void **state)
{
	static const char *const roles[] = {
	    "Salesperson",
	    "Sales Manager",
	    "Sales Restricted",
	    "System Administrator",
	    "Sales Restricted", /* a BU copy */
	    "Marketing Professional",
	};
	static const char *const profiles[] = {
	    "Microsoft Exchange Online", "Exchange Online (Contoso)",
	    "Microsoft Exchange Online ", /* a trailing blank */
	};

	(void)state;
	suggest("Sales Restrictd", roles, ARRAY_SIZE(roles),
		" (did you mean 'Sales Restricted'?)");
	/* closest first, a few at most, each once */
	suggest("Sales Manger", roles, ARRAY_SIZE(roles),
		" (did you mean 'Sales Manager'?)");
	suggest("salesperson ", roles, ARRAY_SIZE(roles),
		" (did you mean 'Salesperson'?)");
	suggest("microsoft exchange onlin", profiles, ARRAY_SIZE(profiles),
		" (did you mean 'Microsoft Exchange Online', 'Microsoft "
		"Exchange Online '?)");
	/* nothing close: nothing said */
	suggest("Auditor", roles, ARRAY_SIZE(roles), "");
	suggest("x", roles, 0, "");
}

static void test_suggest_at_most_three(void **state)
{
	static const char *const names[] = {"role1", "role2", "role3", "role4",
					    "rolex"};

	(void)state;
	suggest("role", names, ARRAY_SIZE(names),
		" (did you mean 'role1', 'role2', 'role3'?)");
	suggest("role4", names, ARRAY_SIZE(names),
		" (did you mean 'role4', 'role1', 'role2'?)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_distance),
	    cmocka_unit_test(test_suggest),
	    cmocka_unit_test(test_suggest_at_most_three),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
