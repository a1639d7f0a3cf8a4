#!/bin/sh
# dvsim's scenario URLs (src/dvsim/server.h): Retry-After in seconds, as an HTTP
# date and missing; 503; a revoked token (401); a truncated $batch answer.
# Each run must end with every mailbox in its state, each write applied
# once, and nothing sent while throttled.
. "$(dirname "$0")/lib.sh"

cd "$W" || exit 1
start_dvsim --generate 12 --seed 9
total=$(state | jq '.entities.mailboxes | length')
i=0
for scn in 429-3 429date-2 429none-2 503-3 expire-1 badmultipart-2; do
	i=$((i + 1))
	value=$(echo "outlook none server-side-sync" | cut -d' ' -f$((i % 3 + 1)))
	want=$(echo "1 0 2" | cut -d' ' -f$((i % 3 + 1)))
	{
		echo "mailbox,incoming"
		state | jq -r --arg v "$value" '.entities.mailboxes[].emailaddress + "," + $v'
	} >in.csv
	need=$(state | jq --argjson w "$want" '[.entities.mailboxes[] | select(.incomingemaildeliverymethod != $w or .outgoingemaildeliverymethod != 2 or .actdeliverymethod != 1)] | length')
	before=$(stats | jq .writes.total)
	write_job job.cfg "$BASE/_sim/$scn" "" "{ parallel = 2; batch_size = 4; max_attempts = 6; }"
	"$MBXFIX" run job.cfg --no-progress >"$scn.out" 2>"$scn.err"
	eq "$scn: exit status" $? 0
	tail -n 2 "$scn.err"
	eq "$scn: every mailbox holds incoming=$value" \
		"$(state | jq --argjson w "$want" '[.entities.mailboxes[] | select(.incomingemaildeliverymethod == $w)] | length')" "$total"
	eq "$scn: each needed write applied once" "$(($(stats | jq .writes.total) - before))" "$need"
done
eq "scenario faults were served" "$(stats | jq '.faults.scenario > 0')" true
eq "no request sent while throttled" "$(stats | jq .throttled_violations)" 0
check "a revoked token was met with a new one" test "$(stats | jq .unauthorized_401)" -ge 1
done_checks
