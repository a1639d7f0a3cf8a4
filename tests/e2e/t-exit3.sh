#!/bin/sh
# The run cannot proceed: exit 3 with a clear message and nothing written.
# Unreachable endpoint, refused sign-in (wrong secret), output not
# writable. A usage error and a job-file error: exit 2.
. "$(dirname "$0")/lib.sh"

cd "$W" || exit 1
start_dvsim --generate 5 --seed 2
{
	echo "mailbox"
	state | jq -r '.entities.mailboxes[].emailaddress'
} >in.csv

# a port nobody listens on: take one from dvsim, then stop it
real=$BASE
start_port=$PORT
stop_dvsim
BASE="http://127.0.0.1:$start_port"
write_job job.cfg "$BASE"
"$MBXFIX" run job.cfg --no-progress >u.out 2>u.err
eq "unreachable: exit 3" $? 3
cat u.err
check "unreachable: message says so" grep -q "cannot reach" u.err
check "unreachable: nothing written" test ! -e out

start_dvsim --generate 5 --seed 2
write_job job.cfg "$BASE"
MBXFIX_CLIENT_SECRET=not-the-secret "$MBXFIX" run job.cfg --no-progress >s.out 2>s.err
eq "wrong secret: exit 3" $? 3
cat s.err
check "wrong secret: sign-in refused" grep -q "sign-in refused.*invalid_client" s.err
check "wrong secret: nothing written" test ! -e out
check "wrong secret: the secret is not printed" sh -c "! grep -q not-the-secret s.out s.err"
eq "wrong secret: no Web API request made" "$(stats | jq .api_requests)" 0

: >out
"$MBXFIX" run job.cfg --no-progress >o.out 2>o.err
eq "output not writable: exit 3" $? 3
cat o.err
eq "output not writable: nothing written to dvsim" "$(stats | jq .writes.total)" 0
rm -f out

"$MBXFIX" run --parallel x job.cfg >/dev/null 2>&1
eq "bad option: exit 2" $? 2
echo 'name = ;' >broken.cfg
"$MBXFIX" run broken.cfg >/dev/null 2>b.err
eq "broken job file: exit 2" $? 2
check "broken job file: message names file and line" grep -q "broken.cfg:1" b.err
before=$(stats | jq .api_requests)
"$MBXFIX" run job.cfg --input missing.csv --no-progress >/dev/null 2>m.err
eq "missing input: exit 2" $? 2
eq "missing input: no request made" "$(stats | jq .api_requests)" "$before"
check "missing input: nothing written" test ! -e out

# the service goes away in the middle of a run: mbxfix must end, not hang
stop_dvsim
start_dvsim --generate 200 --seed 2 --latency-ms 50 --token-ttl 2
write_job job.cfg "$BASE" "" "{ parallel = 1; batch_size = 2; max_attempts = 3; }"
{
	echo "mailbox"
	state | jq -r '.entities.mailboxes[].emailaddress'
} >in.csv
"$MBXFIX" run job.cfg --no-progress >g.out 2>g.err &
pid=$!
sleep 1
stop_dvsim
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 60 ]; do
	sleep 1
	i=$((i + 1))
done
check "service gone mid-run: mbxfix ended within 60 s" sh -c "! kill -0 $pid 2>/dev/null"
kill "$pid" 2>/dev/null
wait "$pid"
rc=$?
cat g.err
check "service gone mid-run: exit 3 (or 1 with failed rows), got $rc" test "$rc" -eq 3 -o "$rc" -eq 1
check "service gone mid-run: results.csv is a valid prefix" sh -c \
	"test \$(tail -n +2 '$W/out/e2e/latest/results.csv' | grep -c '^') -le 203"
: "$real"
done_checks
