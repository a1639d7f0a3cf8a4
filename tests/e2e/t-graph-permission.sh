#!/bin/sh
# exchange_checks without the application permission User.Read.All: one
# clear message, the checks skipped, the run goes on as without them
# (never a failed run). Without Organization.Read.All only the tenant's
# verified domains are missing: the other causes are still verified.
. "$(dirname "$0")/lib-graph.sh"

# 1. the token carries no Graph role at all
dvsim_start --generate 40 --seed 3 --test-delay-ms 50 --graph-roles "" \
	--problems "licence=20,address=20"
state | jq -r '["mailbox"], (.entities.mailboxes[] | [.emailaddress]) | @csv' | tr -d '"' >"$T/all.csv"
graph_job run "$T/all.csv" test_enable
run_cmd run run
stats >"$T/s1.json"
check "no permission: the run finished (exit 1, rows failed by their tests)" [ "$RC" -eq 1 ]
check "no permission: one message naming User.Read.All" \
	[ "$(grep -c 'exchange_checks: .*User.Read.All' "$T/run.stderr")" -eq 1 ]
check "no permission: no user looked up" jqt "$T/s1.json" '.graph.users == 0'
check "no permission: every mailbox tested" jqt "$R" 'all(.[]; .test_enable == "done" or .test_enable == "failed")'
check "no permission: the generic 401 as without the checks" jqt "$R" \
	'[.[] | select(.error_code == "Unauthorized")] | length > 0 and all(.[]; .error_code != "NoExchangeLicence")'
check "no secret or token in the message" sh -c "! grep -qi 'bearer\|dvsim-demo-secret' '$T/run.stderr'"
kill "$DV_PID"; wait "$DV_PID" 2>/dev/null; DV_PID=

# 2. User.Read.All without Organization.Read.All: /organization answers
# 403 Authorization_RequestDenied, the users are still read
dvsim_start --generate 40 --seed 3 --test-delay-ms 50 --graph-roles "User.Read.All" \
	--problems "licence=20,address=20"
graph_job diag "$T/all.csv" test_enable
run_cmd diagnose diag
stats >"$T/s2.json"
check "no Organization.Read.All: one message, the checks go on" \
	[ "$(grep -c 'Organization.Read.All' "$T/diag.stderr")" -eq 1 ]
check "no Organization.Read.All: licences and addresses still verified" jqt "$R" \
	'([.[] | select(.error_code == "NoExchangeLicence")] | length > 0) and ([.[] | select(.error_code == "AddressDiffersFromExchange")] | length > 0)'
check "no Organization.Read.All: one 403, for the organization" jqt "$T/s2.json" '.graph.denied_403 == 1'
kill "$DV_PID"; wait "$DV_PID" 2>/dev/null; DV_PID=

# 3. certificate sign-in: the Graph token is asked the same way
APP=7d1c9a52-3f0e-4b8e-9c51-0a4f2e6b8d13
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/app.key" -out "$T/app.pem" \
	-days 2 -subj "/CN=mbxfix app" >/dev/null 2>&1
chmod 600 "$T/app.key"
dvsim_start --generate 40 --seed 3 --test-delay-ms 50 --client-cert "$APP:$T/app.pem" \
	--problems "licence=20,address=20"
graph_job cert "$T/all.csv" test_enable
sed -i "s|secret_env = \"E2E_SECRET\";|method = \"certificate\"; certificate = \"$T/app.pem\"; private_key = \"$T/app.key\";|; s|client_id = \"[^\"]*\"|client_id = \"$APP\"|" "$T/cert.cfg"
run_cmd diagnose cert
stats >"$T/s3.json"
check "certificate: diagnose exit 1" [ "$RC" -eq 1 ]
check "certificate: two tokens, one for Graph" jqt "$T/s3.json" '.tokens_issued == 2 and .token_errors == 0'
check "certificate: the causes verified" jqt "$R" \
	'([.[] | select(.error_code == "NoExchangeLicence")] | length > 0) and ([.[] | select(.error_code == "AddressDiffersFromExchange")] | length > 0)'
finish
