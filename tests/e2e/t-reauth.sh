#!/bin/sh
# A token refused mid-run (docs/design.md): on a 401, whether it answers the
# whole $batch or a part inside it, mbxfix gets one new token and sends
# the operations once more; a second 401 fails them. Tokens that expire
# during a long run are renewed. Every mailbox ends right, each write is
# applied once, and no token is ever printed, even with -v.
. "$(dirname "$0")/lib.sh"

cd "$W" || exit 1
start_dvsim --generate 6 --seed 11
total=$(state | jq '.entities.mailboxes | length')
RUNB="{ parallel = 1; batch_size = 20; max_attempts = 3; }"

# input: every mailbox to incoming = VALUE; sets NEED (writes needed)
input() {
	{
		echo "mailbox,incoming"
		state | jq -r --arg v "$1" '.entities.mailboxes[].emailaddress + "," + $v'
	} >in.csv
	NEED=$(state | jq --argjson w "$2" '[.entities.mailboxes[] | select(.incomingemaildeliverymethod != $w or .outgoingemaildeliverymethod != 2 or .actdeliverymethod != 1)] | length')
}
holding() {
	state | jq --argjson w "$1" '[.entities.mailboxes[] | select(.incomingemaildeliverymethod == $w and .outgoingemaildeliverymethod == 2 and .actdeliverymethod == 1)] | length'
}
snap() {
	W0=$(stats | jq .writes.total)
	T0=$(stats | jq .tokens_issued)
	U0=$(stats | jq .unauthorized_401)
}
tokens() { echo $(($(stats | jq .tokens_issued) - T0)); }
writes() { echo $(($(stats | jq .writes.total) - W0)); }
u401() { echo $(($(stats | jq .unauthorized_401) - U0)); }
no_token_printed() {
	! grep -q -e "Bearer" -e "eyJ" "$@" "$W/out/e2e/latest/run.log"
}

# $1 scenario, $2 label: the first $batch after the probe gets a 401,
# the retry with a new token passes
once() {
	input "$3" "$4"
	snap
	write_job job.cfg "$BASE/_sim/$1" "" "$RUNB"
	"$MBXFIX" run job.cfg --no-progress -v >"$2.out" 2>"$2.err"
	eq "$2: exit status" $? 0
	eq "$2: the 401s dvsim sent" "$(u401)" "$5"
	eq "$2: one new token (sign-in, then one refresh)" "$(tokens)" 2
	eq "$2: every row ok" "$(col result | sort -u)" ok
	eq "$2: every mailbox holds the change" "$(holding "$4")" "$total"
	eq "$2: each needed write applied once" "$(writes)" "$NEED"
	check "$2: no token in the output or run.log" no_token_printed "$2.out" "$2.err"
}
# the whole $batch answered 401
once "expire-1@1" outer outlook 1 1
# every part inside the $batch answered 401 (one resolution GET here)
once "expirepart-1@1" inner none 0 1

# $1 scenario, $2 label: the retry is refused again: the operations fail
twice() {
	input "$3" "$4"
	snap
	write_job job.cfg "$BASE/_sim/$1" "" "$RUNB"
	"$MBXFIX" run job.cfg --no-progress >"$2.out" 2>"$2.err"
	eq "$2: exit status 1 (rows failed)" $? 1
	eq "$2: the token was refreshed once, not more" "$(tokens)" 2
	eq "$2: every row failed" "$(col result | sort -u)" failed
	eq "$2: with the service's 401 code" "$(col error_code | sort -u)" 0x8005f101
	eq "$2: nothing written" "$(writes)" 0
}
twice "expire-2@1" "outer twice" forward 3
twice "expirepart-2@1" "inner twice" forward 3

# tokens of one second over a run of several seconds: renewed as they
# expire, with no row lost and no write repeated
stop_dvsim
start_dvsim --generate 10 --seed 12 --token-ttl 1 --latency-ms 250
total=$(state | jq '.entities.mailboxes | length')
input outlook 1
snap
write_job job.cfg "$BASE" "" "{ parallel = 1; batch_size = 2; max_attempts = 3; }"
"$MBXFIX" run job.cfg --no-progress -v >ttl.out 2>ttl.err
eq "short tokens: exit status" $? 0
check "short tokens: renewed during the run ($(tokens) tokens)" test "$(tokens)" -ge 3
eq "short tokens: every row ok" "$(col result | sort -u)" ok
eq "short tokens: every mailbox holds the change" "$(holding 1)" "$total"
eq "short tokens: each needed write applied once" "$(writes)" "$NEED"
check "short tokens: no token in the output or run.log" no_token_printed ttl.out ttl.err

done_checks
