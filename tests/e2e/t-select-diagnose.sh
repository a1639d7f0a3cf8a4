#!/bin/sh
# diagnose without a CSV, without actions and without a role: it picks
# every mailbox that is not healthy (dvsim's state says which), explains
# each, fills in the role where a privilege is missing, and a run of its
# remediation.csv makes every fixable mailbox healthy.
. "$(dirname "$0")/lib-actions.sh"

# day one: dvsim's organisation was tested before (--tested), with the
# alerts of that test
dvsim_start --generate 120 --seed 21 --test-delay-ms 50 --tested
state >"$T/s1.json"
stats >"$T/st1.json"
check "setup: alerts present at start" jqt "$T/s1.json" '[.entities.tracelogs[] | select(.level == 3)] | length > 0'

cat >"$T/diag.cfg" <<CFG
name = "diag";
environment = { url = "$URL"; };
auth = { tenant = "contoso.onmicrosoft.com"; client_id = "51f81489-12ee-4a9e-aaae-a2591f45987d";
         secret_env = "E2E_SECRET"; authority = "$URL"; };
output = "$T/out";
defaults = { profile = "Microsoft Exchange Online"; incoming = "server-side-sync";
             outgoing = "server-side-sync"; act = "server-side-sync"; };
CFG
E2E_SECRET=dvsim-demo-secret "$MBXFIX" diagnose --no-progress "$T/diag.cfg" >"$T/diag.out" 2>"$T/diag.err"
RC=$?
check "diagnose without input: exit 1 (problems found)" [ "$RC" -eq 1 ]
stats >"$T/st2.json"
check "diagnose wrote nothing" jqt "$T/st2.json" "$(jq .writes.total "$T/st1.json") == .writes.total"
"$CSV2JSON" <"$T/out/diag/latest-diagnose/results.csv" >"$T/d.json"
got=$(jq -c '[.[].mailbox_id] | sort' "$T/d.json")
want=$(jq -c '[.entities.mailboxes[] | select(.incomingemailstatus != 1 or .outgoingemailstatus != 1 or .actstatus == 2 or .testmailboxaccesscompletedon == null) | .mailboxid] | sort' "$T/s1.json")
check "diagnose picked every mailbox that is not healthy" [ "$got" = "$want" ]
check "no row invalid (no role, no action asked)" jqt "$T/d.json" 'all(.[]; .result != "invalid")'
rem="$T/out/diag/latest-diagnose/remediation.csv"
"$CSV2JSON" <"$rem" >"$T/rem.json"
check "PrivilegeDenied rows get grant_privileges and the user's role" jqt "$T/rem.json" \
	'[.[] | select(.diagnosis | startswith("PrivilegeDenied"))] | length > 0 and all(.[]; (.actions | test("grant_privileges")) and (.role == "Sales Restricted" or .role == "Field Service Lite"))'

# run the remediation: every fixable mailbox ends healthy
write_job fix "$rem" "fix_owner;set_profile;set_delivery;approve;test_enable"
run_job fix
state >"$T/s3.json"
unfixable=$(jq -c '[.[] | select(.diagnosis | test("^(Unauthorized|ImpersonationError|MailboxDisabled|NoUserFoundWithGivenClaims)")) | .mailbox] | sort' "$T/rem.json")
if variant approve-no-effect; then
	check "remediation run: rows end ok or NotApproved" jqt "$R" \
		'all(.[] | select(.diagnosis | test("^(Unauthorized|ImpersonationError|MailboxDisabled|NoUserFoundWithGivenClaims)") | not); .result == "ok" or .error_code == "NotApproved")'
else
	left=$(jq -c --argjson u "$unfixable" '[.entities.mailboxes[] | select(.incomingemailstatus != 1 or .outgoingemailstatus != 1) | .mailboxid | select(. as $id | $u | index($id) | not)] | sort' "$T/s3.json")
	check "every fixable mailbox is healthy after the remediation run" [ "$left" = "[]" ]
fi
finish
