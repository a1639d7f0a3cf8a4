#!/bin/sh
# An approval the caller is not allowed to make: an application user with
# System Administrator only (no Delegated Mailbox Approver role) gets
# 0x8009000B; the row fails with that code and the hint about who may
# approve, test_enable is skipped, and the address stays unapproved.
# The same job with the approver client approves the users' records and
# reads them and the mailboxes back; under --variant approve-no-effect the
# approval is accepted without effect and every row fails NotApproved.
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
if variant approve-no-effect; then
	# the approval is accepted and changes nothing: read back, not done
	check "no effect: every row NotApproved" jqt "$R" \
		'all(.[]; .result == "failed" and .approve == "failed" and .error_code == "NotApproved")'
	check "no effect: hint asks for an administrator's own sign-in" jqt "$R" \
		'all(.[]; .hint | test("administrator.s own sign-in") and test("Delegated Mailbox Approver"))'
	check "no effect: message gives both read-backs" jqt "$R" \
		'all(.[]; .error_message | test("user.s email address is still") and test("the mailbox.s"))'
	check "state: still not approved" jqt "$T/after2.json" \
		"[.entities.mailboxes[] | select(.emailrouteraccessapproval != 1)] | length == $n"
else
	check "approver: every row approve done" jqt "$R" 'all(.[]; .result == "ok" and .approve == "done")'
	check "state: all approved, users and mailboxes" jqt "$T/after2.json" \
		'all(.entities.mailboxes[]; .emailrouteraccessapproval == 1) and all(.entities.systemusers[] | select(.applicationid == null); .emailrouteraccessapproval == 1)'
	check "state: the Office 365 side approved too" jqt "$T/after2.json" \
		'all(.entities.mailboxes[]; .isemailaddressapprovedbyo365admin == true)'
fi
finish
