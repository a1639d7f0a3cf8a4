#!/bin/sh
# run.log and summary.json of a run with throttling (the probe's too),
# retries, a token renewal, failed and invalid rows: every line parses,
# carries run/time/level/event, and the events mbxfix(1) documents are
# there with their members; summary.json counts every wait; --json prints
# it on stdout, -q one line; log_level and -v set the detail.
. "$(dirname "$0")/lib.sh"

cd "$W" || exit 1
# 6 requests per 3 s, tokens of 4 s (renewed at three quarters of that)
start_dvsim --generate 30 --seed 3 --latency-ms 20 --window-s 3 --limit-requests 6 --token-ttl 4
{
	echo "mailbox"
	addresses
	echo "nobody@nowhere.example"
	echo "not an address"
} >in.csv
# the probe goes through a prefix whose first request gets 429
write_job job.cfg "$BASE/_sim/429-1" "" "{ parallel = 1; batch_size = 1; max_attempts = 10; }"
"$MBXFIX" run --no-progress job.cfg >run.out 2>run.err
eq "exit 1: a row failed, one is invalid" $? 1
cat run.err
log=out/e2e/latest/run.log
sum=out/e2e/latest/summary.json
# has FILTER: some line of run.log matches FILTER
has() { jq -s -e "any(.[]; $1)" "$log" >/dev/null; }
rows=$(($(wc -l <in.csv) - 1))
jq -c '{event, phase, limit, during, cause, attempt, reason}' "$log"

eq "every line of run.log is one JSON object" \
	"$(jq -c . "$log" | wc -l | tr -d ' ')" "$(wc -l <"$log" | tr -d ' ')"
eq "every line has run, time, level and event" \
	"$(jq -r 'select((.run | type) == "string" and (.time | test("^[0-9-]+T[0-9:.]+Z$")) and (.level | IN("error","warn","info","debug")) and (.event | type) == "string") | 1' "$log" | wc -l | tr -d ' ')" \
	"$(wc -l <"$log" | tr -d ' ')"
eq "the run member is the run folder" "$(jq -r .run "$log" | sort -u)" "$(readlink out/e2e/latest)"

eq "the first line is the start" "$(head -n 1 "$log" | jq -r .event)" start
start=$(head -n 1 "$log")
eq "start: version" "$(echo "$start" | jq -r .version)" "$("$MBXFIX" --version | sed -n 's/^mbxfix //p')"
eq "start: command" "$(echo "$start" | jq -r .command)" run
eq "start: job" "$(echo "$start" | jq -r .job)" job.cfg
eq "start: input" "$(echo "$start" | jq -r .input)" "$W/in.csv"
eq "start: input SHA-256" "$(echo "$start" | jq -r .input_sha256)" "$(sha256sum in.csv | cut -d' ' -f1)"
eq "start: settings" "$(echo "$start" | jq -c '.settings | {parallel, batch_size, max_attempts, auth_method, keep}')" \
	'{"parallel":1,"batch_size":1,"max_attempts":10,"auth_method":"secret","keep":30}'

eq "sign_in: once, with its expiry" "$(jq -c 'select(.event == "sign_in") | [.method, (.expires_in_s > 0)]' "$log")" '["secret",true]'
check "token_renewed: the token was renewed before it expired" \
	sh -c "jq -r 'select(.event == \"token_renewed\") | .reason' '$log' | grep -qx expiring"
check "no token or secret in run.log" sh -c "! grep -q -e Bearer -e eyJ -e dvsim-demo-secret '$log'"

check "throttle: the probe's wait" has \
	'.event == "throttle" and .during == "probe" and .limit == "requests" and .retry_after_s == 1 and .waited_s >= 0.9'
check "throttle: waits during the run, with limit, Retry-After and time waited" has \
	'.event == "throttle" and .during == "run" and .limit == "requests" and .retry_after_s > 0 and .waited_s > 0 and .http_status == 429'
check "retry: the probe's, with cause, attempt and operation" has \
	'.event == "retry" and .cause == "0x80072322" and .attempt == 1 and (.operation | test("^GET mailboxes")) and .delay_ms == 1000'
check "retry: a row's operation" has \
	'.event == "retry" and .cause == "0x80072322" and .attempt >= 1 and (.operation | test("^(GET|PATCH|POST) ")) and .row > 0'
check "the probe was retried before the first row" sh -c \
	"jq -r .event '$log' | sed -n '3,4p' | tr '\\n' ' ' | grep -q 'retry throttle'"
eq "row: the failed row, with mailbox, action, code and message" \
	"$(jq -c 'select(.event == "row" and .result == "failed") | [.row, .mailbox, .action, (.error_code | length > 0), (.message | length > 0), .level]' "$log")" \
	"[$((rows - 1)),\"nobody@nowhere.example\",\"set_delivery\",true,true,\"error\"]"
eq "row: the invalid row" \
	"$(jq -c 'select(.event == "row" and .result == "invalid") | [.row, .mailbox, .error_code]' "$log")" \
	"[$rows,\"not an address\",\"InvalidRow\"]"
eq "no row event for the ok rows" "$(jq -c 'select(.event == "row")' "$log" | wc -l | tr -d ' ')" 2
check "phase: changes are logged" sh -c \
	"jq -r 'select(.event == \"phase\") | .phase' '$log' | grep -q -x -e resolving -e writing -e waiting"
eq "the last line is the end" "$(tail -n 1 "$log" | jq -r .event)" end
eq "end: exit status and counts" "$(tail -n 1 "$log" | jq -c '[.exit_status, .rows, .ok, .failed, .invalid]')" "[1,$rows,$((rows - 2)),1,1]"

# summary.json
eq "summary: version, command, exit status" "$(jq -c '[.version, .command, .exit_status]' "$sum")" \
	"[\"$(echo "$start" | jq -r .version)\",\"run\",1]"
eq "summary: input SHA-256" "$(jq -r .input_sha256 "$sum")" "$(sha256sum in.csv | cut -d' ' -f1)"
check "summary: start and end times" sh -c "jq -e '(.started | test(\"Z\$\")) and (.finished | test(\"Z\$\")) and .finished >= .started' '$sum' >/dev/null"
eq "summary: counts by error code" "$(jq -c '.error_codes | to_entries | map(.value) | add' "$sum")" 2
eq "summary: InvalidRow counted" "$(jq -r '.error_codes.InvalidRow' "$sum")" 1
eq "summary: per-action counts" "$(jq -c '.actions.set_delivery.failed' "$sum")" 1
eq "summary: throttled waits = throttle events" "$(jq .throttled_waits "$sum")" \
	"$(jq -c 'select(.event == "throttle")' "$log" | wc -l | tr -d ' ')"
waited=$(jq -s 'map(select(.event == "throttle") | .waited_s) | add' "$log")
check "summary: the time waited is the sum of the waits, the probe's included" \
	jq -e --argjson w "$waited" '.throttled_wait_s >= $w - 0.01 and .throttled_wait_s <= $w + 0.01 and .throttled_wait_s >= 0.9' "$sum"
eq "summary: retries = retry events" "$(jq .retries "$sum")" \
	"$(jq -c 'select(.event == "retry")' "$log" | wc -l | tr -d ' ')"
grep -q "throttled waits $(jq .throttled_waits "$sum")" run.out
check "the text summary counts the same waits" test $? -eq 0

# --json: summary.json on stdout, nothing else
stop_dvsim
start_dvsim --generate 30 --seed 3
write_job job.cfg "$BASE"
"$MBXFIX" run --json job.cfg >json.out 2>json.err
eq "--json: exit 1" $? 1
check "--json: stdout is one JSON document" sh -c "jq -e . json.out >/dev/null"
eq "--json: it is summary.json" "$(jq -cS . json.out)" "$(jq -cS . out/e2e/latest/summary.json)"
check "--json: no progress or text on stdout" sh -c "! grep -q -e 'finished in' -e 'next:' json.out"

# -q: one line
"$MBXFIX" run -q job.cfg >q.out 2>q.err
eq "-q: exit 1" $? 1
eq "-q: one line" "$(wc -l <q.out | tr -d ' ')" 1
eq "-q: the counts, the exit status and the run folder" "$(cat q.out)" \
	"ok $((rows - 2)), failed 1, invalid 1, exit 1, results in $W/out/e2e/$(readlink out/e2e/latest)"
check "-q: nothing on stderr" test ! -s q.err

# log_level = "error": only the rows that are not ok; -v: debug events too
echo 'log_level = "error";' >>job.cfg
"$MBXFIX" run -q job.cfg >/dev/null 2>&1
eq "log_level error: only error lines" "$(jq -r .level out/e2e/latest/run.log | sort -u)" error
"$MBXFIX" run -v --no-progress job.cfg >/dev/null 2>&1
check "-v: debug events (batch) are written" sh -c \
	"jq -r .event out/e2e/latest/run.log | grep -qx batch"
check "-v: and the start and end" sh -c \
	"jq -r .event out/e2e/latest/run.log | grep -qx start && jq -r .event out/e2e/latest/run.log | grep -qx end"

done_checks
