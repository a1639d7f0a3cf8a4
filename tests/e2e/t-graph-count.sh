#!/bin/sh
# exchange_checks for 1,000 mailboxes: Graph is asked in $batch requests
# of 20, so at most 1,000/20 + a few requests (the tenant, partial
# batches), counted by dvsim; each user is looked up once.
. "$(dirname "$0")/lib-graph.sh"

dvsim_start --generate 1000 --seed 13 --test-delay-ms 50 \
	--problems "licence=5,address=5,recreated=5,tenant=5,hybrid=5"
state | jq -r '["mailbox"], (.entities.mailboxes[] | [.emailaddress]) | @csv' | tr -d '"' >"$T/all.csv"
users=$(state | jq '[.entities.systemusers[] | select(.applicationid == null)] | length')
graph_job diag "$T/all.csv" test_enable
run_cmd diagnose diag
stats >"$T/s.json"
echo "# $users users: $(jq -c .graph "$T/s.json")"
check "diagnose: exit 1" [ "$RC" -eq 1 ]
check "each user looked up once" jqt "$T/s.json" ".graph.users == $users"
check "at most $users/20 + 5 Graph requests" jqt "$T/s.json" \
	".graph.requests <= ($users + 19) / 20 + 5"
check "every cause found" jqt "$R" \
	'[.[] | .error_code] | (index("UserRecreated") and index("OtherTenant") and index("NoExchangeLicence") and index("AddressDiffersFromExchange") and index("HybridProfileForCloudMailbox")) != null'
finish
