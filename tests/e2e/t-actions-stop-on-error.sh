#!/bin/sh
# A service that does not apply Prefer: odata.continue-on-error (dvsim's
# nocontinue scenario): a $batch stops at its first failure and answers
# an outer 400 whose multipart body holds the failing request's answer
# (docs/fidelity.md, "Queries and the wire"). The client reads that
# answer like any other: each row ends as it would with the preference
# applied, with the failure's own code on its own row, whatever the
# variant (the answer holding only the failure or the parts before it
# too, with or without Content-ID).
. "$(dirname "$0")/lib-actions.sh"

LIM=9b0c3d7e-5a41-4f2b-9a77-3e2f1c0d4b55
dvsim_start --generate 30 --seed 8 --problems "approval=40,delivery=40" \
	--client 51f81489-12ee-4a9e-aaae-a2591f45987d:dvsim-demo-secret \
	--client-limited "$LIM:limited-secret"
state >"$T/before.json"
jq -r '"mailbox", (.entities.mailboxes[] | .emailaddress)' "$T/before.json" >"$T/in.csv"
n=$(($(wc -l <"$T/in.csv") - 1))
jq '[.entities.mailboxes[] | select(.emailrouteraccessapproval != 1) | .emailaddress]' \
	"$T/before.json" >"$T/unapproved.json"
check "setup: some addresses not approved, some approved" \
	jqt "$T/unapproved.json" "length > 0 and length < $n"

# the limited client may set delivery methods but not approve (0x8009000B)
CLIENT_ID=$LIM CLIENT_SECRET=limited-secret write_job stop "$T/in.csv" "set_delivery;approve"
sed "s|^environment = { url = \"$URL\"; };|environment = { url = \"$URL/_sim/nocontinue\"; };|" \
	"$T/stop.cfg" >"$T/stop.cfg.new" && mv "$T/stop.cfg.new" "$T/stop.cfg"
check "setup: the job goes through the nocontinue scenario" grep -q "_sim/nocontinue" "$T/stop.cfg"
CLIENT_ID=$LIM CLIENT_SECRET=limited-secret run_job stop
state >"$T/after.json"
stats >"$T/stats.json"

check "exit 1 (the approvals failed)" [ "$RC" -eq 1 ]
check "one result per row" jqt "$R" "length == $n"
check "the batches did stop on error" jqt "$T/stats.json" '.faults.scenario > 0'
check "unapproved rows: approve failed with the part's own code" sh -c "
	jq -e --slurpfile u '$T/unapproved.json' '
	  [.[] | select(.mailbox as \$m | \$u[0] | index(\$m))]
	  | length == (\$u[0] | length) and all(.[]; .result == \"failed\" and .approve == \"failed\" and .error_code == \"0x8009000B\")' '$R' >/dev/null"
check "approved rows: ok, approve unchanged" sh -c "
	jq -e --slurpfile u '$T/unapproved.json' '
	  [.[] | select(.mailbox as \$m | \$u[0] | index(\$m) | not)]
	  | length > 0 and all(.[]; .result == \"ok\" and .approve == \"unchanged\" and .error_code == \"\")' '$R' >/dev/null"
check "every row's delivery methods set" jqt "$T/after.json" \
	'all(.entities.mailboxes[]; .incomingemaildeliverymethod == 2 and .outgoingemaildeliverymethod == 2)'
check "state: still not approved" jqt "$T/after.json" \
	"[.entities.mailboxes[] | select(.emailrouteraccessapproval != 1)] | length == $(jq length "$T/unapproved.json")"
finish
