#!/bin/sh
# A pool of application users (docs/design.md): each signs in on its own
# and has its own Retry-After gate. One user is throttled hard before the
# run (its request budget spent) and one has a wrong secret: the latter is
# left out with a warning, the throttled one costs the run no wait (its
# 429 does not stall the others), the third does the work; run.log says
# who applied each write (client ids, never a secret). With every user's
# secret wrong the run stops with exit 3.
. "$(dirname "$0")/lib.sh"

cd "$W" || exit 1
A=51f81489-12ee-4a9e-aaae-a2591f45987d
B=6a1e2f3d-4c5b-4a69-8788-99aabbccdd01
C=7b2f3e4d-5c6b-4a7a-9899-aabbccddee02
start_dvsim --generate 12 --seed 4 --client "$A:secret-a" \
	--client "$B:secret-b" --client "$C:secret-c" \
	--window-s 60 --limit-requests 40
export SA=secret-a SB=secret-b SC=wrong-secret
{
	echo "mailbox,incoming"
	state | jq -r '.entities.mailboxes[].emailaddress + ",outlook"'
} >in.csv
total=$(($(wc -l <in.csv) - 1))
POOL="pool = ( { client_id = \"$B\"; secret_env = \"SB\"; }, { client_id = \"$C\"; secret_env = \"SC\"; } );"
write_job job.cfg "$BASE" "{ tenant = \"contoso.onmicrosoft.com\"; client_id = \"$A\"; secret_env = \"SA\"; authority = \"$BASE\"; $POOL }" \
	"{ parallel = 0; batch_size = 2; max_attempts = 6; }"
echo 'log_level = "info";' >>job.cfg

# spend B's budget: requests until dvsim throttles it
tok=$(curl -s -d "client_id=$B&client_secret=secret-b&grant_type=client_credentials&scope=$BASE/.default" \
	"$BASE/contoso.onmicrosoft.com/oauth2/v2.0/token" | jq -r .access_token)
i=0
while [ $i -lt 60 ]; do
	st=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" "$BASE/api/data/v9.2/WhoAmI")
	[ "$st" = 429 ] && break
	i=$((i + 1))
done
eq "setup: B is throttled" "$st" 429
before=$(stats | jq --arg b "$B" '.users[$b].while_throttled')

start=$(date +%s)
"$MBXFIX" run job.cfg --no-progress >run.out 2>run.err
rc=$?
took=$(($(date +%s) - start))
eq "the run exits 0" "$rc" 0
eq "every row ok" "$(col result | sort -u)" ok
check "the user with the wrong secret is left out with a warning" \
	grep -q "application user $C left out" run.err
check "the secret is in no message" sh -c "! grep -q -e wrong-secret -e secret-a -e secret-b run.err run.out"
check "B's throttling held nobody up (run took ${took}s, B waits ~60s)" [ "$took" -lt 30 ]
sent=$(($(stats | jq --arg b "$B" '.users[$b].while_throttled') - before))
check "at most the first requests reached throttled B ($sent)" [ "$sent" -le 2 ]
LOG=$(ls -d "$W"/out/e2e/*/ | grep -v latest | tail -n 1)run.log
check "run.log: the dropped user, by client id" grep -q "\"user_dropped\".*\"client_id\":\"$C\"" "$LOG"
check "run.log: writes applied by A, by client id" grep -q "\"applied\".*\"client_id\":\"$A\"" "$LOG"
check "run.log: none by the dropped user" sh -c "! grep -q '\"applied\".*$C' '$LOG'"
check "run.log holds no secret" sh -c "! grep -q -e wrong-secret -e secret-a -e secret-b '$LOG'"

# every user's secret wrong: nobody left, exit 3
SA=bad SB=bad "$MBXFIX" plan job.cfg --no-progress >none.out 2>none.err
eq "no user left: exit 3" $? 3
check "the message says no user of the pool could sign in" grep -q 'no application user of the pool could sign in' none.err
# settings refused before any request, naming the setting
bad() {
	write_job bad.cfg "$BASE" "$1"
	[ -n "${2:-}" ] && echo "$2" >>bad.cfg
	"$MBXFIX" check bad.cfg >bad.out 2>bad.err
	eq "$3: exit 2" $? 2
	check "$3: the message names $4" grep -q -F "$4" bad.err
}
AUTH="tenant = \"contoso.onmicrosoft.com\"; client_id = \"$A\"; secret_env = \"SA\";"
bad "{ $AUTH pool = ( { method = \"device_code\"; client_id = \"$B\"; } ); }" "" \
	"a person in the pool" "auth.pool.[0]"
bad "{ $AUTH pool = ( { client_id = \"nope\"; secret_env = \"SB\"; } ); }" "" \
	"a pool user's client id not a GUID" "auth.pool.[0].client_id"
bad "{ method = \"device_code\"; tenant = \"t\"; client_id = \"$A\"; secret_env = \"SA\"; }" "" \
	"a secret with device_code" "auth.secret_env"
bad "{ $AUTH }" "approve_auth = { method = \"device_code\"; client_id = \"$B\"; secret_env = \"SB\"; };" \
	"a secret in approve_auth with device_code" "approve_auth.secret_env"
bad "{ $AUTH }" "approve_auth = { method = \"none\"; };" \
	"approve_auth with method none" "approve_auth.method"
bad "{ method = \"none\"; pool = ( { client_id = \"$B\"; secret_env = \"SB\"; } ); }" "" \
	"a pool without a sign-in of auth's own" "auth.pool"
done_checks
