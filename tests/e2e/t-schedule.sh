#!/bin/sh
# Scheduled reruns: the command line of contrib/systemd's nightly unit and
# of contrib/cron's line, run as they are (paths moved into a scratch
# folder), the secret read from $CREDENTIALS_DIRECTORY as systemd's
# LoadCredential= passes it. A rerun of a job whose latest run left
# nothing failed exits 0 at once, says so, sends nothing and leaves
# 'latest' where it was. The run ends by naming the next step.
. "$(dirname "$0")/lib.sh"

cd "$W" || exit 1
start_dvsim --generate 10 --seed 7
mkdir etc creds state
{
	echo "mailbox"
	addresses
	echo "nobody@nowhere.example"
} >etc/in.csv
# the job as contrib/systemd/example-job.cfg has it: the secret from the
# credentials directory
write_job etc/wave-3.cfg "$BASE" "{ method = \"secret\"; tenant = \"contoso.onmicrosoft.com\"; client_id = \"$CLIENT_ID\"; secret_file = \"\${CREDENTIALS_DIRECTORY}/client-secret\"; authority = \"$BASE\"; }"
sed -i "s|^name = .*|name = \"wave-3\";|; s|^input = .*|input = \"$W/etc/in.csv\";|; s|^output = .*|output = \"$W/state\";|" etc/wave-3.cfg
printf '%s\n' "$MBXFIX_CLIENT_SECRET" >creds/client-secret
chmod 400 creds/client-secret
unset MBXFIX_CLIENT_SECRET
export CREDENTIALS_DIRECTORY="$W/creds"
bindir=$(dirname "$MBXFIX")

# ExecStart of a unit, for job wave-3, with the paths of this test
execstart() {
	sed -n 's/^ExecStart=//p' "$TOP/contrib/systemd/$1" |
		sed -e "s|@BINDIR@|$bindir|g" -e "s|/etc/mbxfix/%i.cfg|$W/etc/wave-3.cfg|g"
}
run_cmd=$(execstart mbxfix-run@.service)
rerun_cmd=$(execstart mbxfix-rerun@.service)
echo "run:   $run_cmd"
echo "rerun: $rerun_cmd"
check "the nightly unit reruns the failed rows" sh -c "echo '$rerun_cmd' | grep -q -- 'run --rerun-failed'"

# the first, full run: one row fails (no such mailbox)
(cd state && $run_cmd >../first.out 2>../first.err)
eq "the first run: exit 1 (a row failed)" $? 1
cat first.out first.err
first=$(readlink state/wave-3/latest)
check "the secret came from the credentials directory" test -n "$first"
check "the run names the next step: rerun the failed rows" \
	grep -q "mbxfix run --rerun-failed $W/etc/wave-3.cfg" first.out
check "the run names the report to open" grep -q "next: open .*results.csv" first.out
check "the secret is in no output" sh -c "! grep -rq dvsim-demo-secret first.out first.err state"

# the nightly rerun: the row still fails, a new run is made
(cd state && $rerun_cmd >../second.out 2>../second.err)
eq "the nightly rerun: exit 1 (the row still fails)" $? 1
second=$(readlink state/wave-3/latest)
check "the rerun is a new run" test "$second" != "$first"
eq "the rerun took the failed row only" "$(col mailbox "$W/state/wave-3/latest/results.csv")" "nobody@nowhere.example"

# the wrong address is taken out of the input and the job run in full:
# nothing fails any more
grep -v nobody etc/in.csv >etc/in.fixed && mv etc/in.fixed etc/in.csv
(cd state && $run_cmd >../full.out 2>../full.err)
eq "the full run: exit 0" $? 0
second=$(readlink state/wave-3/latest)
check "a clean run ends naming the report" grep -q "^next: nothing left to do" full.out
before=$(stats | jq .api_requests)
(cd state && $rerun_cmd >../third.out 2>../third.err)
eq "nothing left to rerun: exit 0" $? 0
cat third.out third.err
check "it says so" grep -q "nothing to rerun" third.out
eq "latest stays where it was" "$(readlink state/wave-3/latest)" "$second"
eq "no new run folder" "$(ls state/wave-3 | grep -vc latest)" 3
check "no file left behind" sh -c "! ls -A state/wave-3 | grep -q rerun"
eq "no request sent" "$(stats | jq .api_requests)" "$before"
"$MBXFIX" run --json --rerun-failed etc/wave-3.cfg >third.json 2>/dev/null
eq "nothing left to rerun, --json: exit 0" $? 0
eq "--json says so" "$(jq -c '[.exit_status, .nothing_to_rerun]' third.json)" "[0,true]"

# the cron line, as contrib/cron/mbxfix has it, for this job
cronline=$(grep -v '^#' "$TOP/contrib/cron/mbxfix" | grep . | head -n 1)
eq "the cron line has five time fields, a user and a command" \
	"$(echo "$cronline" | awk '{ print ($1 ~ /^[0-9*]/ && $6 == "mbxfix" && $7 != "") }')" 1
croncmd=$(echo "$cronline" | sed -E "s/^([^ ]+ +){6}//" | sed -e "s|@BINDIR@|$bindir|g" \
	-e "s|/etc/mbxfix/wave-3.cfg|$W/etc/wave-3.cfg|g" -e "s|/var/lib/mbxfix|$W/state|g")
echo "cron: $croncmd"
sh -c "$croncmd"
eq "the cron command: exit 0 (nothing to rerun)" $? 0
check "the cron command left its line in the log" grep -q "nothing to rerun" state/wave-3.log

done_checks
