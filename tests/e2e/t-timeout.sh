#!/bin/sh
# run.request_timeout against dvsim's slow scenario (3 s per request):
# a timed-out request is retried and the rows end right, each write
# applied once; a service that never answers in time fails the rows with
# a timeout error (exit 1, results.csv complete) or, when not even the
# connection probe gets an answer, stops the run before any row (exit 3).
. "$(dirname "$0")/lib.sh"

CSV2JSON="$TOP/build/e2e/csv2json"
if [ ! -x "$CSV2JSON" ] || [ "$TOP/tests/e2e/csv2json.c" -nt "$CSV2JSON" ]; then
	mkdir -p "$TOP/build/e2e"
	${CC:-cc} -O1 -o "$CSV2JSON.$$" "$TOP/tests/e2e/csv2json.c" \
		$(pkg-config --cflags --libs libcjson) -lcsv &&
		mv "$CSV2JSON.$$" "$CSV2JSON" || exit 1
fi

cd "$W" || exit 1
start_dvsim --generate 6 --seed 5
total=$(state | jq '.entities.mailboxes | length')
RUNB="{ parallel = 1; batch_size = 10; max_attempts = 3; request_timeout = 1; }"

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

# 1. the first request (the connection probe) times out, its retry passes
input outlook 1
before=$(stats | jq .writes.total)
write_job job.cfg "$BASE/_sim/slow-1" "" "$RUNB"
t0=$(date +%s)
"$MBXFIX" run job.cfg --no-progress -v >a.out 2>a.err
eq "probe timeout: exit status" $? 0
t1=$(date +%s)
check "probe timeout: the request timed out after 1 s, not 3" \
	grep -q "probe request failed: Operation timed out after 1[0-9][0-9][0-9] milli" a.err
check "probe timeout: the run did not wait for the slow answer" \
	test $((t1 - t0)) -lt 6
eq "probe timeout: every mailbox holds the change" "$(holding 1)" "$total"
eq "probe timeout: each needed write applied once" \
	"$(($(stats | jq .writes.total) - before))" "$NEED"

# 2. the probe passes, the first $batch times out; its operations are
# sent again and succeed
input none 0
before=$(stats | jq .writes.total)
write_job job.cfg "$BASE/_sim/slow-1@1" "" "$RUNB"
"$MBXFIX" run job.cfg --no-progress -v >b.out 2>b.err
eq "batch timeout: exit status" $? 0
check "batch timeout: a \$batch timed out and was retried" \
	grep -q "request failed: Operation timed out after 1[0-9][0-9][0-9] milli.*retrying" b.err
eq "batch timeout: the summary counts the retries" \
	"$(jq '.retries > 0' "$W/out/e2e/latest/summary.json")" true
eq "batch timeout: every row ok" "$(col result | sort -u)" ok
eq "batch timeout: every mailbox holds the change" "$(holding 0)" "$total"
eq "batch timeout: each needed write applied once" \
	"$(($(stats | jq .writes.total) - before))" "$NEED"

# 2b. the $batch of PATCHes times out: their fate is unknown, so each
# mailbox is read back before anything is sent again. dvsim still applies
# the abandoned batch 3 s after it arrived, as a real service may: with
# request_timeout = 2 the read-back (at 2 s) finds nothing applied, the
# abandoned batch lands (3 s), and the second send (after at least
# request_timeout more) carries the version read: 412, read again, the
# change is in place, done. Each write applied exactly once.
input outlook 1
before=$(stats | jq .writes.total)
pf_before=$(stats | jq '.operations.by_method.PATCH')
write_job job.cfg "$BASE/_sim/slow-1@2" "" \
	"{ parallel = 1; batch_size = 10; max_attempts = 3; request_timeout = 2; }"
"$MBXFIX" run job.cfg --no-progress -v >w.out 2>w.err
eq "write timeout: exit status" $? 0
check "write timeout: the PATCH \$batch timed out" \
	grep -q "request failed: Operation timed out" w.err
check "write timeout: the PATCHes were read back and sent again" \
	grep -q "read back, not applied; sending it again" w.err
check "write timeout: the late landing made the second send a 412, read again" \
	grep -q "read back, the change is in place" w.err
eq "write timeout: every row ok" "$(col result | sort -u)" ok
eq "write timeout: every action done" "$(col set_delivery | sort -u)" done
eq "write timeout: every row took 2 attempts" "$(col attempts | sort -u)" 2
sleep 2
eq "write timeout: every mailbox holds the change, late writes included" \
	"$(holding 1)" "$total"
wrote=$(($(stats | jq .writes.total) - before))
echo "# write timeout: $wrote writes for $NEED needed, $(($(stats | jq '.operations.by_method.PATCH') - pf_before)) PATCHes sent"
eq "write timeout: no write applied twice (duplicates)" "$((wrote - NEED))" 0

# 3. every request after the probe is slow: each row fails with the
# timeout after max_attempts; results.csv and failed.csv are complete
input forward 3
before=$(stats | jq .writes.total)
write_job job.cfg "$BASE/_sim/slow@1" "" \
	"{ parallel = 1; batch_size = 10; max_attempts = 2; request_timeout = 1; }"
"$MBXFIX" run job.cfg --no-progress >c.out 2>c.err
eq "always slow: exit status 1 (rows failed)" $? 1
"$CSV2JSON" <"$(results)" >c.json
eq "always slow: results.csv is valid CSV" $? 0
eq "always slow: one result line per row" "$(jq length c.json)" "$total"
eq "always slow: every row failed" "$(jq -r '[.[].result] | unique | join(" ")' c.json)" failed
eq "always slow: the error code names the timeout" \
	"$(jq -r '[.[].error_code] | unique | join(" ")' c.json)" Timeout
eq "always slow: the message names the setting" \
	"$(jq '[.[] | select(.error_message | test("no answer within 1 s \\(run.request_timeout\\)"))] | length' c.json)" "$total"
eq "always slow: attempts = max_attempts" "$(jq -r '[.[].attempts] | unique | join(" ")' c.json)" 2
eq "always slow: failed.csv lists every row" \
	"$(($(wc -l <"$W/out/e2e/latest/failed.csv") - 1))" "$total"
eq "always slow: nothing written" "$(($(stats | jq .writes.total) - before))" 0

# 4. not even the probe is answered in time: the run cannot proceed
rm -rf out
write_job job.cfg "$BASE/_sim/slow" "" \
	"{ parallel = 1; batch_size = 10; max_attempts = 2; request_timeout = 1; }"
"$MBXFIX" run job.cfg --no-progress >d.out 2>d.err
eq "never answered: exit status 3" $? 3
cat d.err
check "never answered: the message names the timeout" \
	grep -q "cannot reach.*no answer within 1 s (run.request_timeout), 2 attempts" d.err
check "never answered: nothing written" test ! -e out

done_checks
