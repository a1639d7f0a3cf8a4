#!/bin/sh
# Device code sign-in (docs/design.md): the verification URL and the code
# on stderr (under -q too), polling at the server's interval through
# authorization_pending and slow_down, the refresh token cached in a file
# of mode 0600 and used by the next run without a prompt (the rotated
# refresh token stored), a cache file others may read refused, logout,
# and sign-ins that expire or are declined (exit 3). No token is printed.
. "$(dirname "$0")/lib.sh"

cd "$W" || exit 1
PUB=0b5e1c2d-3f4a-4b6c-8d7e-9f0a1b2c3d4e
start_dvsim --generate 4 --seed 5 --public-client "$PUB" \
	--device-interval-s 1 --device-expires-s 20
XDG_CACHE_HOME=$W/cache
export XDG_CACHE_HOME
{
	echo "mailbox,incoming"
	state | jq -r '.entities.mailboxes[].emailaddress + ",outlook"'
} >in.csv
write_job job.cfg "$BASE" "{ method = \"device_code\"; tenant = \"contoso.onmicrosoft.com\"; client_id = \"$PUB\"; authority = \"$BASE\"; }" \
	"{ parallel = 1; max_attempts = 3; }"

# wait_code FILE: the user code mbxfix printed in FILE (waits up to 20 s)
wait_code() {
	i=0
	while ! grep -q 'enter the code' "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt 200 ] && return 1
		sleep 0.1
	done
	sed -n 's/.*enter the code \([A-Z0-9]*\) .*/\1/p' "$1" | head -n 1
}
device() { curl -s "$BASE/_sim/device" | jq -r --arg c "$1" ".[] | select(.user_code == \$c) | .$2"; }
act() { curl -s -d "user_code=$1&person=$2&action=$3" "$BASE/_sim/device" >/dev/null; }
cache_file() { ls "$W"/cache/mbxfix/signin-*.json 2>/dev/null | head -n 1; }
refresh() { jq -r .refresh_token "$(cache_file)"; }
mode() { stat -c %a "$1"; }

# 1. first run: pending, one slow_down, then the Global admin signs in
"$MBXFIX" plan job.cfg -q --no-progress >p1.out 2>p1.err &
pid=$!
code=$(wait_code p1.err)
check "the code is printed on stderr under -q" test -n "$code"
check "with the verification URL" grep -q 'https://microsoft.com/devicelogin' p1.err
act "$code" "" slow-down
sleep 2.5
act "$code" global-admin approve
wait $pid
eq "signed in: plan exits 0" $? 0
eq "the sign-in was redeemed" "$(device "$code" state)" redeemed
eq "one slow_down answered (the client slowed down after it)" "$(device "$code" slow_downs)" 1
check "polled more than once (authorization_pending)" test "$(device "$code" polls)" -ge 2
f=$(cache_file)
check "the refresh token is cached" test -n "$f"
eq "the cache file is readable by its owner only" "$(mode "$f")" 600
eq "its folder too" "$(mode "$W/cache/mbxfix")" 700
RT1=$(refresh)
no_secret() {
	for f in "$@"; do
		[ -f "$f" ] || continue
		! grep -q -F -e "$RT1" "$f" && ! grep -q -e 'eyJ' "$f" || return 1
	done
}
check "no token in the output" no_secret p1.out p1.err

# 2. a second run: no prompt, the refresh token used and renewed
T0=$(stats | jq .tokens_issued)
"$MBXFIX" run job.cfg --no-progress >r2.out 2>r2.err
eq "the second run exits 0" $? 0
check "without a prompt" sh -c "! grep -q 'enter the code' r2.err"
eq "one token issued, from the refresh token" $(($(stats | jq .tokens_issued) - T0)) 1
check "the rotated refresh token is stored" test "$(refresh)" != "$RT1"
eq "still mode 600 after the renewal" "$(mode "$(cache_file)")" 600
eq "every row ok" "$(col result | sort -u)" ok
check "the run wrote run.log" test -s "$(ls -d "$W"/out/e2e/*/ | tail -n 1)run.log"
check "no token in the output or run.log" no_secret r2.out r2.err "$W"/out/e2e/*/run.log

# 3. a cache file others may read is refused
chmod 644 "$(cache_file)"
"$MBXFIX" plan job.cfg --no-progress >p3.out 2>p3.err
eq "a cache file readable by others: exit 2" $? 2
check "the message names the file" grep -q "$(cache_file)" p3.err
chmod 600 "$(cache_file)"

# 4. logout
"$MBXFIX" logout job.cfg >lo.out 2>lo.err
eq "logout exits 0" $? 0
check "logout says so" grep -q 'signed out' lo.out
check "the cache file is gone" test -z "$(cache_file)"
"$MBXFIX" logout job.cfg >lo2.out 2>&1
check "a second logout: nothing kept" grep -q 'no sign-in kept' lo2.out

# 5. nobody signs in: the code expires
"$MBXFIX" plan job.cfg --no-progress >p5.out 2>p5.err
eq "an expired code: exit 3" $? 3
check "the message says it expired" grep -q 'expired' p5.err
check "nothing cached" test -z "$(cache_file)"

# 6. the person declines
"$MBXFIX" plan job.cfg --no-progress >p6.out 2>p6.err &
pid=$!
code=$(wait_code p6.err)
act "$code" sysadmin deny
wait $pid
eq "a declined sign-in: exit 3" $? 3
check "the message says it was declined" grep -q 'declined' p6.err

done_checks
