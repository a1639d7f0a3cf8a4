#!/bin/sh
# An approval the caller is not allowed to make: an application user with
# System Administrator only (no Delegated Mailbox Approver role) gets
# 0x8009000B; the row fails with that code and the hint about who may
# approve, test_enable is skipped, and the address stays unapproved.
# The same job with the approver client approves and reads it back.
. "$(dirname "$0")/lib-actions.sh"

LIM=9b0c3d7e-5a41-4f2b-9a77-3e2f1c0d4b55
dvsim_start --generate 30 --seed 8 --test-delay-ms 100 --problems "approval=60" \
	--client 51f81489-12ee-4a9e-aaae-a2591f45987d:dvsim-demo-secret \
	--client-limited "$LIM:limited-secret"
state >"$T/before.json"
jq -r '"mailbox", (.entities.mailboxes[] | select(.emailrouteraccessapproval != 1) | .emailaddress)' \
	"$T/before.json" >"$T/in.csv"
n=$(($(wc -l <"$T/in.csv") - 1))
check "setup: some addresses not approved ($n)" [ "$n" -gt 0 ]

CLIENT_ID=$LIM CLIENT_SECRET=limited-secret write_job limited "$T/in.csv" "approve;test_enable"
CLIENT_ID=$LIM CLIENT_SECRET=limited-secret run_job limited
state >"$T/after.json"
check "limited: exit 1" [ "$RC" -eq 1 ]
check "limited: every row failed at approve with 0x8009000B" jqt "$R" \
	'all(.[]; .result == "failed" and .approve == "failed" and .error_code == "0x8009000B")'
check "limited: hint names who may approve" jqt "$R" \
	'all(.[]; .hint | test("Global or Exchange admin with System Administrator") and test("Delegated Mailbox Approver"))'
check "limited: test_enable skipped" jqt "$R" 'all(.[]; .test_enable == "skipped")'
check "state: still not approved" jqt "$T/after.json" \
	"[.entities.mailboxes[] | select(.emailrouteraccessapproval != 1)] | length == $n"

write_job approver "$T/in.csv" "approve"
run_job approver
state >"$T/after2.json"
check "approver: every row approve done" jqt "$R" 'all(.[]; .result == "ok" and .approve == "done")'
check "state: all approved" jqt "$T/after2.json" 'all(.entities.mailboxes[]; .emailrouteraccessapproval == 1)'
finish
