#!/bin/sh
# Credentials per action (docs/design.md): an application user with System
# Administrator only does everything but approve; approve_auth, a person
# signed in with the device code flow, approves. Before anything is
# written mbxfix says whether that person may approve (WhoAmI, the
# systemuser's roles, the Global administrator role of the token). An
# ordinary System Administrator is told he may not, and dvsim refuses his
# approvals (0x8009000B); then the Global admin approves, and dvsim's
# state shows him as the approver of every address, run.log which client
# applied which write.
. "$(dirname "$0")/lib-actions.sh"

LIM=9b0c3d7e-5a41-4f2b-9a77-3e2f1c0d4b55
PUB=0b5e1c2d-3f4a-4b6c-8d7e-9f0a1b2c3d4e
XDG_CACHE_HOME=$T/cache
export XDG_CACHE_HOME
dvsim_start --generate 20 --seed 8 --test-delay-ms 100 \
	--problems "approval=60" --client-limited "$LIM:limited-secret" \
	--public-client "$PUB" --device-interval-s 1
state >"$T/before.json"
jq -r '"mailbox,incoming", (.entities.mailboxes[] | select(.emailrouteraccessapproval != 1) | .emailaddress + ",outlook")' \
	"$T/before.json" >"$T/in.csv"
n=$(($(wc -l <"$T/in.csv") - 1))
check "setup: some addresses not approved ($n)" [ "$n" -gt 0 ]

# job NAME: the limited app user for everything, approve_auth for approve
job() {
	CLIENT_ID=$LIM write_job "$1" "$T/in.csv" "set_delivery;approve"
	cat >>"$T/$1.cfg" <<CFG
approve_auth = { method = "device_code"; client_id = "$PUB"; };
log_level = "info";
CFG
}
# signin NAME PERSON: run job NAME; PERSON completes the device sign-in;
# RC the exit status, R the results as JSON, LOG its run.log
signin() {
	E2E_SECRET=limited-secret "$MBXFIX" run --no-progress "$T/$1.cfg" \
		>"$T/$1.stdout" 2>"$T/$1.stderr" &
	pid=$!
	i=0
	while ! grep -q 'enter the code' "$T/$1.stderr" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt 300 ] && break
		sleep 0.1
	done
	code=$(sed -n 's/.*enter the code \([A-Z0-9]*\) .*/\1/p' "$T/$1.stderr" | head -n 1)
	curl -s -d "user_code=$code&person=$2&action=approve" "$URL/_sim/device" >/dev/null
	wait $pid
	RC=$?
	R="$T/$1.results.json"
	"$CSV2JSON" <"$T/out/$1/latest/results.csv" >"$R"
	LOG=$(ls -d "$T"/out/"$1"/*/ | grep -v latest | tail -n 1)run.log
}

job plain
signin plain sysadmin
check "sysadmin: the approve sign-in prompted on stderr" grep -q 'approve sign-in' "$T/plain.stderr"
check "sysadmin: said before writing that he may NOT approve" \
	grep -q 'approve_auth .*roles: System Administrator: may NOT approve' "$T/plain.stderr"
check "sysadmin: exit 1" [ "$RC" -eq 1 ]
check "sysadmin: every approval refused with 0x8009000B" jqt "$R" \
	'all(.[]; .approve == "failed" and .error_code == "0x8009000B")'
check "sysadmin: the deliveries were written all the same" jqt "$R" \
	'all(.[]; .set_delivery == "done" or .set_delivery == "unchanged")'
check "sysadmin: run.log shows the deliveries applied by the application user" \
	grep -q "\"applied\".*\"client_id\":\"$LIM\"" "$LOG"
check "sysadmin: and no write applied as approve_auth's client" \
	sh -c "! grep -q '\"applied\".*$PUB' '$LOG'"
state >"$T/mid.json"
check "state: still not approved" jqt "$T/mid.json" \
	"[.entities.mailboxes[] | select(.emailrouteraccessapproval != 1)] | length == $n"

"$MBXFIX" logout "$T/plain.cfg" >"$T/logout.out"
check "logout forgets approve_auth's sign-in" grep -q 'approve_auth: signed out' "$T/logout.out"

job admin
signin admin global-admin
state >"$T/after.json"
ADMIN=$(jq -r '.entities.systemusers[] | select(.domainname == "admin@contoso.onmicrosoft.com") | .systemuserid' "$T/after.json")
check "admin: said before writing that the Global admin may approve" \
	grep -q 'approve_auth .*Global or Exchange Administrator: may approve' "$T/admin.stderr"
check "admin: exit 0" [ "$RC" -eq 0 ]
check "admin: every row ok, approve done" jqt "$R" \
	'all(.[]; .result == "ok" and .approve == "done")'
check "state: every address approved, by the Global admin" jqt "$T/after.json" \
	"[.entities.mailboxes[] | select(.emailrouteraccessapproval == 1 and .isemailaddressapprovedbyo365admin == true and ._emailaddressapprovedby_value == \"$ADMIN\")] | length == $n"
check "run.log: approvals applied as approve_auth's client" \
	grep -q "\"applied\".*\"method\":\"PATCH\".*\"client_id\":\"$PUB\"" "$LOG"
check "run.log: no other write as approve_auth's client" \
	[ "$(grep -c "\"applied\".*\"client_id\":\"$PUB\"" "$LOG")" -eq "$n" ]
check "no token in the output or run.log" \
	sh -c "! grep -q 'eyJ' '$T/admin.stderr' '$T/admin.stdout' '$LOG'"
finish
