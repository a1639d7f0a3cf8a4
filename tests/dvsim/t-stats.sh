#!/bin/sh
# /_sim/stats counters, /_sim/state, and --dump written on SIGTERM/SIGINT.
. "${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/dvsim/lib.sh"

start_dvsim s --generate 3 --seed 5 --dump "$TMP/dump.json"
TOK=$(token)
AUTH="Authorization: Bearer $TOK"
token nobody x >/dev/null
M=$(curl -s "$URL/_sim/state" | jq -r '.entities.mailboxes[0].mailboxid')
ROLE=$(curl -s "$URL/_sim/state" | jq -r '.entities.roles[] | select(.name == "System Administrator" and ._parentroleid_value == null) | .roleid' | head -n 1)
BU=$(curl -s "$URL/_sim/state" | jq -r '.entities.roles[] | select(.roleid == "'"$ROLE"'") | ._businessunitid_value')
PRV=$(curl -s "$URL/_sim/state" | jq -r '.entities.privileges[] | select(.name == "prvReadEmailServerProfile") | .privilegeid')

check "GET" "$(req GET "$API/mailboxes?\$select=name&\$top=1" -H "$AUTH")" 200
check "PATCH" "$(req PATCH "$API/mailboxes($M)" -H "$AUTH" -H 'If-Match: *' -H 'Content-Type: application/json' -d '{"incomingemaildeliverymethod":2}')" 204
check "failed PATCH" "$(req PATCH "$API/mailboxes(00000000-0000-0000-0000-000000000001)" -H "$AUTH" -H 'If-Match: *' -H 'Content-Type: application/json' -d '{"incomingemaildeliverymethod":2}')" 404
check "AddPrivilegesRole" "$(req POST "$API/roles($ROLE)/Microsoft.Dynamics.CRM.AddPrivilegesRole" -H "$AUTH" -H 'Content-Type: application/json' \
	-d "{\"Privileges\":[{\"PrivilegeId\":\"$PRV\",\"BusinessUnitId\":\"$BU\",\"Depth\":\"Global\"}]}")" 204
req GET "$API/mailboxes" >/dev/null

S=$(curl -s "$URL/_sim/stats")
check "requests" "$(echo "$S" | jq .requests)" 12
check "api requests" "$(echo "$S" | jq .api_requests)" 5
check "operations total" "$(echo "$S" | jq .operations.total)" 4
check "by method" "$(echo "$S" | jq -c .operations.by_method)" '{"GET":1,"PATCH":2,"POST":1,"DELETE":0}'
check "writes (successful only)" "$(echo "$S" | jq .writes.total)" 2
check "writes by action" "$(echo "$S" | jq -c .writes.by_action)" '{"AddPrivilegesRole":1}'
check "tokens issued" "$(echo "$S" | jq .tokens_issued)" 1
check "token errors" "$(echo "$S" | jq .token_errors)" 1
check "401s" "$(echo "$S" | jq .unauthorized_401)" 1
check "429s" "$(echo "$S" | jq .throttled_429)" 0
check "state has the PATCH" "$(curl -s "$URL/_sim/state" | jq -r --arg m "$M" '.entities.mailboxes[] | select(.mailboxid == $m) | .incomingemaildeliverymethod')" 2
check "POST /_sim/stats: 405" "$(req POST _sim/stats)" 405

curl -s "$URL/_sim/state" >"$TMP/state.json"
kill -TERM "$PID"
wait "$PID"
check "SIGTERM exit 0" "$?" 0
check "dump written" "$(jq -r --arg m "$M" '.entities.mailboxes[] | select(.mailboxid == $m) | .incomingemaildeliverymethod' "$TMP/dump.json")" 2
check "dump equals the last state" "$(jq -S '.entities' "$TMP/dump.json" | md5sum)" "$(jq -S '.entities' "$TMP/state.json" | md5sum)"

start_dvsim i --generate 1 --dump "$TMP/dump2.json"
kill -INT "$PID"
wait "$PID"
check "SIGINT exit 0" "$?" 0
check "dump on SIGINT" "$(jq -r '.entities.mailboxes | length >= 1' "$TMP/dump2.json")" true
start_dvsim d --generate 1 --dump /nonexistent-dir/x.json
kill -TERM "$PID"
wait "$PID"
check "unwritable dump: exit 3" "$?" 3
finish
