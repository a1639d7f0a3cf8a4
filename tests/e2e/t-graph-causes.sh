#!/bin/sh
# exchange_checks: every cause of a 401 that dvsim can generate is named
# by diagnose, by plan, and by run, which does not test a mailbox that
# cannot pass; a mailbox whose Exchange side is sound is untouched.
. "$(dirname "$0")/lib-graph.sh"

dvsim_start --generate 60 --seed 7 --test-delay-ms 50 \
	--problems "licence=12,address=12,recreated=12,tenant=12,hybrid=12"
expected_causes >"$T/want.json"
state | jq -r '["mailbox"], (.entities.mailboxes[] | [.emailaddress]) | @csv' | tr -d '"' >"$T/all.csv"
for c in UserRecreated OtherTenant HybridProfileForCloudMailbox NoExchangeLicence AddressDiffersFromExchange; do
	check "setup: dvsim generated $c" jqt "$T/want.json" "[.[] | select(. == \"$c\")] | length > 0"
done
check "setup: some mailboxes are sound" jqt "$T/want.json" '[.[] | select(. == "")] | length > 0'

# 1. diagnose names each cause
graph_job diag "$T/all.csv" test_enable
run_cmd diagnose diag
check "diagnose: exit 1" [ "$RC" -eq 1 ]
check "diagnose: each mailbox has the cause dvsim holds" jqt "$R" \
	"$(cat "$T/want.json") as \$w | all(.[] | select(\$w[.mailbox] != null); .error_code == \$w[.mailbox])"
check "diagnose: the sound mailboxes are ok" jqt "$R" \
	"$(cat "$T/want.json") as \$w | all(.[] | select(\$w[.mailbox] == \"\"); .result == \"ok\" and .hint == \"\")"
check "diagnose: each hint says what the admin must do" jqt "$R" \
	'all(.[] | select(.error_code != ""); .hint | test("admin|set_profile"))'
check "diagnose: recreated users show both object ids" jqt "$R" \
	'all(.[] | select(.error_code == "UserRecreated"); .error_message | test("object id [0-9a-f-]{36}, the Dataverse user has [0-9a-f-]{36}"))'
check "diagnose: differing addresses show both" jqt "$R" \
	'all(.[] | select(.error_code == "AddressDiffersFromExchange"); .error_message | test("@contoso.com.*@contoso.onmicrosoft.com"))'
"$CSV2JSON" <"$T/out/diag/latest-diagnose/remediation.csv" >"$T/rem.json"
check "remediation: set_profile for the hybrid profile" jqt "$T/rem.json" \
	'[.[] | select(.diagnosis | startswith("HybridProfileForCloudMailbox"))] | length > 0 and all(.[]; .actions | test("set_profile"))'
stats >"$T/s1.json"
check "diagnose: Graph asked in \$batch requests" jqt "$T/s1.json" '.graph.batches > 0 and .graph.users > 0'

# 2. plan names them, and would not test those mailboxes
graph_job plan "$T/all.csv" test_enable
run_cmd plan plan
check "plan: each cause named" jqt "$R" \
	"$(cat "$T/want.json") as \$w | all(.[] | select(\$w[.mailbox] != null and \$w[.mailbox] != \"\"); .error_code == \$w[.mailbox] and .test_enable == \"skipped\")"
check "plan: the sound mailboxes would be tested" jqt "$R" \
	"$(cat "$T/want.json") as \$w | all(.[] | select(\$w[.mailbox] == \"\"); .test_enable == \"would-change\")"
stats >"$T/s2.json"
check "plan: nothing written" jqt "$T/s2.json" "$(jq .writes.total "$T/s1.json") == .writes.total"

# 3. run skips the hopeless tests and says why
graph_job run "$T/all.csv" test_enable
run_cmd run run
state >"$T/after.json"
check "run: exit 1" [ "$RC" -eq 1 ]
check "run: hopeless tests skipped with the cause and why" jqt "$R" \
	"$(cat "$T/want.json") as \$w | all(.[] | select(\$w[.mailbox] != null and \$w[.mailbox] != \"\"); .test_enable == \"skipped\" and .error_code == \$w[.mailbox] and (.error_message | startswith(\"Test & Enable not run: it cannot pass\")))"
check "run: the sound mailboxes tested ok" jqt "$R" \
	"$(cat "$T/want.json") as \$w | all(.[] | select(\$w[.mailbox] == \"\"); .result == \"ok\" and .test_enable == \"done\")"
check "run: dvsim never tested a hopeless mailbox" jqt "$T/after.json" \
	"$(cat "$T/want.json") as \$w | all(.entities.mailboxes[] | select((\$w[.emailaddress] // \"\") != \"\"); .testandenablelastattemptedon == null)"

# 4. run.test_when_unfixable = test: tested, and the 401 is the verified cause
graph_job force "$T/all.csv" test_enable 'test_when_unfixable = "test";'
run_cmd run force
state >"$T/after2.json"
check "test anyway: the hopeless mailboxes were tested" jqt "$T/after2.json" \
	"$(cat "$T/want.json") as \$w | all(.entities.mailboxes[] | select((\$w[.emailaddress] // \"\") != \"\"); .testandenablelastattemptedon != null)"
check "test anyway: the 401 replaced by the verified cause" jqt "$R" \
	"$(cat "$T/want.json") as \$w | all(.[] | select(\$w[.mailbox] != null and \$w[.mailbox] != \"\"); .test_enable == \"failed\" and .error_code == \$w[.mailbox])"
check "test anyway: the alert's own text is kept beside Graph's finding" jqt "$R" \
	'all(.[] | select(.error_code == "NoExchangeLicence"); .error_message | test("credentials.*; Microsoft Graph: the user .* has no enabled Exchange Online"))'

# 5. without exchange_checks Graph is never asked
before=$(stats | jq .graph.requests)
write_job off "$T/all.csv" test_enable
run_cmd diagnose off
check "checks off: no Graph request" jqt "$(stats >"$T/s3.json"; echo "$T/s3.json")" ".graph.requests == $before"
check "checks off: the generic 401 stays" jqt "$R" '[.[] | select(.error_code == "Unauthorized")] | length > 0'

# 6. Graph answering for another tenant than the one signed in to (the
# token's tid is not /organization's id): every user is in another tenant
graph_job tenant "$T/all.csv" test_enable
sed -i 's/tenant = "contoso.onmicrosoft.com"/tenant = "fabrikam.onmicrosoft.com"/' "$T/tenant.cfg"
run_cmd diagnose tenant
check "other tenant: every user mailbox OtherTenant, saying which tenants" jqt "$R" \
	"$(cat "$T/want.json") as \$w | all(.[] | select(\$w[.mailbox] != null); .error_code == \"OtherTenant\" and (.error_message | test(\"fabrikam.onmicrosoft.com\")))"
finish
