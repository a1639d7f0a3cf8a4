#!/bin/sh
# Resolution and per-row failures: unknown or inactive profile, unknown
# role, owner and privilege, a depth a privilege does not allow (raised,
# and the row says so), a named owner, a mailbox and a profile named by id, an unknown
# mailbox; a failed action skips the later ones of its row, and only that
# row. dvsim's state shows nothing was written for the failed rows.
. "$(dirname "$0")/lib-actions.sh"

dvsim_start --generate 12 --seed 5 --problems "ok"
state >"$T/before.json"
u() { jq -r ".entities.mailboxes[] | select(.emailaddress | test(\"^[a-z]+\\\\.[a-z]+$1@\")) | .emailaddress" "$T/before.json"; }
uid() { jq -r ".entities.mailboxes[] | select(.emailaddress == \"$1\") | .mailboxid" "$T/before.json"; }
upn7=$(u 7)
onprem=$(jq -r '.entities.emailserverprofiles[] | select(.name == "Exchange On-Premises (Contoso DC)") | .emailserverprofileid' "$T/before.json")
id8=$(uid "$(u 8)")
cat >"$T/in.csv" <<CSV
mailbox,actions,profile,owner,role,privileges,ticket
$(u 1),set_profile;approve,No Such Profile,,,,T-1
$(u 2),set_profile;set_delivery;approve,Exchange Online (old tenant),,,,T-2
$(u 3),grant_privileges;approve,,,No Such Role,,T-3
$(u 4),fix_owner;set_profile,,nobody@contoso.com,,,T-4
$(u 5),grant_privileges,,,Sales Restricted,prvReadMailbox;prvNoSuchThing,T-5
$(u 6),grant_privileges,,,Sales Restricted,prvSyncToOutlook:Basic,T-6
$(u 9),fix_owner,,$upn7,,,T-7
$id8,set_profile,Exchange Server (Hybrid),,,,T-8
nobody.at.all@contoso.com,set_profile,,,,,T-9
$(u 10),set_delivery;frobnicate,,,,,T-10
$(u 11),set_profile,{$(echo "$onprem" | tr a-f A-F)},,,,T-11
CSV
write_job err "$T/in.csv" "set_profile"
run_job err
state >"$T/after.json"

row() { jq ".[] | select(.ticket == \"$1\")" "$R" >"$T/row.json"; }
check "exit 1 (some rows failed)" [ "$RC" -eq 1 ]
check "11 result lines, input order" jqt "$R" '[.[].ticket] == ["T-1","T-2","T-3","T-4","T-5","T-6","T-7","T-8","T-9","T-10","T-11"]'
row T-1
check "unknown profile: failed, UnknownProfile, approve skipped" jqt "$T/row.json" \
	'.result == "failed" and .set_profile == "failed" and .error_code == "UnknownProfile" and .approve == "skipped" and (.error_message | test("No Such Profile"))'
row T-2
check "inactive profile: InactiveProfile, approve skipped, hint" jqt "$T/row.json" \
	'.result == "failed" and .error_code == "InactiveProfile" and .approve == "skipped" and (.hint | test("activate"))'
row T-3
check "unknown role: UnknownRole, approve skipped" jqt "$T/row.json" \
	'.grant_privileges == "failed" and .error_code == "UnknownRole" and .approve == "skipped"'
row T-4
check "unknown owner: UnknownUser, set_profile skipped" jqt "$T/row.json" \
	'.fix_owner == "failed" and .error_code == "UnknownUser" and .set_profile == "skipped" and (.error_message | test("nobody@contoso.com"))'
row T-5
check "unknown privilege named" jqt "$T/row.json" \
	'.grant_privileges == "failed" and .error_code == "UnknownPrivilege" and (.error_message | test("prvNoSuchThing")) and (.error_message | test("prvReadMailbox") | not)'
row T-6
check "depth raised to one the privilege allows, row says so" jqt "$T/row.json" \
	'.result == "ok" and (.grant_privileges == "done" or .grant_privileges == "unchanged") and (.hint | test("prvSyncToOutlook: Basic not allowed, granted at Global"))'
row T-7
check "named owner: done" jqt "$T/row.json" '.result == "ok" and .fix_owner == "done"'
upn7id=$(jq -r ".entities.systemusers[] | select(.domainname == \"$upn7\") | .systemuserid" "$T/before.json")
check "state: owner is the named user" jqt "$T/after.json" \
	".entities.mailboxes[] | select(.emailaddress == \"$(u 9)\") | ._ownerid_value == \"$upn7id\""
row T-8
check "mailbox by id: set_profile done" jqt "$T/row.json" ".result == \"ok\" and .set_profile == \"done\" and .mailbox_id == \"$id8\""
hyb=$(jq -r '.entities.emailserverprofiles[] | select(.name == "Exchange Server (Hybrid)") | .emailserverprofileid' "$T/before.json")
check "state: that mailbox on the named profile" jqt "$T/after.json" \
	".entities.mailboxes[] | select(.mailboxid == \"$id8\") | ._emailserverprofile_value == \"$hyb\""
row T-9
check "unknown mailbox: failed with a code" jqt "$T/row.json" '.result == "failed" and .error_code != ""'
row T-10
check "unknown action: invalid row" jqt "$T/row.json" '.result == "invalid"'
row T-11
check "profile by id (braces, upper case): done" jqt "$T/row.json" '.result == "ok" and .set_profile == "done"'
check "state: that mailbox on the profile named by id" jqt "$T/after.json" \
	".entities.mailboxes[] | select(.emailaddress == \"$(u 11)\") | ._emailserverprofile_value == \"$onprem\""
check "state: failed rows wrote nothing (profiles unchanged)" jqt "$T/after.json" \
	"[.entities.mailboxes[] | select(.emailaddress == \"$(u 1)\" or .emailaddress == \"$(u 2)\" or .emailaddress == \"$(u 4)\") | ._emailserverprofile_value] == [$(jq -c "[.entities.mailboxes[] | select(.emailaddress == \"$(u 1)\" or .emailaddress == \"$(u 2)\" or .emailaddress == \"$(u 4)\") | ._emailserverprofile_value] | .[]" "$T/before.json" | paste -sd,)]"
finish
