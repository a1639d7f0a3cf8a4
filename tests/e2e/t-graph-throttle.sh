#!/bin/sh
# exchange_checks under Graph's throttling: dvsim answers 429 with
# Retry-After for requests inside a $batch (its budget runs out inside the
# batch) and for whole batches (the budget is spent when the batch
# arrives); every user is still checked, and the causes found are those
# dvsim holds.
. "$(dirname "$0")/lib-graph.sh"

# phase LIMIT: diagnose 120 mailboxes with Graph's budget at LIMIT a second
phase() {
	dvsim_start --generate 120 --seed 11 --test-delay-ms 50 --graph-limit "$1" \
		--problems "licence=10,address=10,recreated=10,tenant=10"
	expected_causes >"$T/want.json"
	state | jq -r '["mailbox"], (.entities.mailboxes[] | [.emailaddress]) | @csv' | tr -d '"' >"$T/all.csv"
	graph_job "diag$1" "$T/all.csv" test_enable
	run_cmd diagnose "diag$1"
	stats >"$T/s$1.json"
	check "limit $1: diagnose exit 1" [ "$RC" -eq 1 ]
	check "limit $1: every mailbox has the cause dvsim holds" jqt "$R" \
		"$(cat "$T/want.json") as \$w | all(.[] | select(\$w[.mailbox] != null); .error_code == \$w[.mailbox])"
	check "limit $1: no user given up for the throttling" \
		sh -c "! grep -q 'did not answer' '$T/diag$1.stderr'"
	check "limit $1: each user answered once (121 users)" jqt "$T/s$1.json" \
		'.graph.users == 121'
	kill "$DV_PID"
	wait "$DV_PID" 2>/dev/null
	DV_PID=
}

phase 30
check "dvsim throttled requests inside batches" jqt "$T/s30.json" '.graph.throttled_429 > .graph.throttled_batches'
phase 20
check "dvsim throttled whole batches" jqt "$T/s20.json" '.graph.throttled_batches > 0'
finish
