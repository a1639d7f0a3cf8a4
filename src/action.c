#include "compat.h"

#include <strings.h>

#include "action.h"

#include "banned.h"

/*
 * The registry, indexed by enum action_id. An action not built in yet is
 * NULL: rows asking for it fail with a clear message instead of crashing.
 */
const struct action *const action_registry[ACTION_COUNT] = {
	[ACTION_FIX_OWNER] = &action_fix_owner,
	[ACTION_SET_PROFILE] = &action_set_profile,
	[ACTION_SET_DELIVERY] = &action_set_delivery,
	[ACTION_GRANT_PRIVILEGES] = &action_grant_privileges,
	[ACTION_APPROVE] = &action_approve,
	[ACTION_TEST_ENABLE] = &action_test_enable,
};

static const char *const names[ACTION_COUNT] = {
	[ACTION_FIX_OWNER] = "fix_owner",
	[ACTION_SET_PROFILE] = "set_profile",
	[ACTION_SET_DELIVERY] = "set_delivery",
	[ACTION_GRANT_PRIVILEGES] = "grant_privileges",
	[ACTION_APPROVE] = "approve",
	[ACTION_TEST_ENABLE] = "test_enable",
};

const char *action_name(enum action_id id)
{
	if ((unsigned)id >= ACTION_COUNT)
		BUG("action id %d", (int)id);
	return names[id];
}

const struct action *action_by_name(const char *name)
{
	for (size_t i = 0; i < ACTION_COUNT; i++)
		if (!strcasecmp(name, names[i]))
			return action_registry[i];
	return NULL;
}
