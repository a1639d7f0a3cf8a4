#!/bin/sh
# mbxfix diagnose: after a Test & Enable of every mailbox, diagnose reads
# the mailboxes and their alerts, writes nothing, explains each problem,
# and writes remediation.csv; `mbxfix run` over that file fixes every
# fixable mailbox, and the rest stay failed with their explanation.
. "$(dirname "$0")/lib-actions.sh"

dvsim_start --generate 120 --seed 21 --test-delay-ms 100
state >"$T/before.json"
sh jobs/demo-input.sh <"$T/before.json" >"$T/all.csv"

# 1. the state the admin finds: every mailbox tested once
sed 's/,fix_owner;set_profile;set_delivery;approve;test_enable,/,test_enable,/' "$T/all.csv" >"$T/test.csv"
write_job tested "$T/test.csv" "test_enable"
run_job tested
check "setup: some mailboxes fail Test & Enable" jqt "$R" 'any(.[]; .result == "failed")'
stats >"$T/s1.json"

# 2. diagnose a plain list of mailboxes (no roles given), with the
# remediation the job would apply
cut -d, -f1-5 "$T/all.csv" >"$T/list.csv"
write_job diag "$T/list.csv" "fix_owner;set_profile;set_delivery;approve;test_enable"
E2E_SECRET=dvsim-demo-secret "$MBXFIX" diagnose --no-progress "$T/diag.cfg" >"$T/diag.out" 2>"$T/diag.err"
RC=$?
stats >"$T/s2.json"
rem="$T/out/diag/latest-diagnose/remediation.csv"
check "diagnose exit 1 (problems found)" [ "$RC" -eq 1 ]
check "diagnose wrote nothing" jqt "$T/s2.json" "$(jq .writes.total "$T/s1.json") == .writes.total"
check "remediation.csv written" [ -s "$rem" ]
"$CSV2JSON" <"$rem" >"$T/rem.json"
"$CSV2JSON" <"$T/out/diag/latest-diagnose/results.csv" >"$T/diag.json"
check "remediation rows = the rows with something to do" jqt "$T/rem.json" \
	"length == $(jq '[.[] | select(.result == "failed" or ([.set_profile, .set_delivery, .fix_owner, .grant_privileges, .approve] | index("would-change")))] | length' "$T/diag.json")"
check "every remediation row ends with test_enable" jqt "$T/rem.json" 'all(.[]; .actions | endswith("test_enable"))'
check "every remediation row carries its diagnosis" jqt "$T/rem.json" 'all(.[]; .diagnosis != "")'
check "owner problems diagnosed as UserPrivilegeError with fix_owner" jqt "$T/rem.json" \
	'[.[] | select(.diagnosis | startswith("UserPrivilegeError"))] | length > 0 and all(.[]; .actions | test("fix_owner"))'
check "approval problems get approve" jqt "$T/rem.json" \
	'[.[] | select(.diagnosis | startswith("EmailAddressNotApproved"))] | length > 0 and all(.[]; .actions | test("approve"))'
check "privilege problems get grant_privileges and the user's role" jqt "$T/rem.json" \
	'[.[] | select(.diagnosis | startswith("PrivilegeDenied"))] | length > 0 and all(.[]; (.actions | test("grant_privileges")) and (.role == "Sales Restricted" or .role == "Field Service Lite"))'
check "unfixable ones explained" jqt "$T/rem.json" \
	'[.[] | select(.diagnosis | test("licence|impersonat|recreated|differs from the Exchange|enable the user"))] | length > 0'

# 3. run the remediation
write_job fix "$rem" "fix_owner;set_profile;set_delivery;approve;test_enable"
run_job fix
check "remediation run: every row that only needed fixes ends ok" jqt "$R" \
	'all(.[] | select(.diagnosis | test("^(Unauthorized|ImpersonationError|MailboxDisabled|NoUserFoundWithGivenClaims)") | not); .result == "ok")'
check "remediation run: the unfixable ones failed again with the same code" jqt "$R" \
	'all(.[] | select(.diagnosis | test("^(ImpersonationError|MailboxDisabled|NoUserFoundWithGivenClaims)")); .result == "failed" and (.error_code as $c | .diagnosis | startswith($c)))'
state >"$T/after.json"
check "state: every mailbox but the unfixable ones all success" jqt "$T/after.json" \
	"[.entities.mailboxes[] | select(.incomingemailstatus != 1)] | length == $(jq '[.[] | select(.result == "failed")] | length' "$R")"
finish
