#!/bin/sh
# run.keep: after each run the oldest run folders of the job go, down to
# run.keep, never one a pointer names: 'latest' (the run --resume would
# continue, even interrupted), 'latest-plan', 'latest-diagnose'. Each
# removal is in run.log and counted in summary.json; run.keep = 0 keeps
# everything.
. "$(dirname "$0")/lib.sh"

cd "$W" || exit 1
start_dvsim --generate 8 --seed 4
{
	echo "mailbox"
	addresses
} >in.csv
job() { write_job job.cfg "$BASE" "" "{ parallel = 1; batch_size = 1; keep = $1; }"; }
runs() { ls out/e2e | grep -v '^latest'; }

job 2
for n in 1 2 3 4; do
	"$MBXFIX" run -q job.cfg >run.$n.out 2>&1
	eq "run $n: exit 0" $? 0
	sleep 1.1 # run ids are by the second
done
runs
latest=$(readlink out/e2e/latest)
eq "keep = 2: two run folders left" "$(runs | wc -l | tr -d ' ')" 2
check "the latest is one of them" test -d "out/e2e/$latest"
check "the output keeps 'latest'" test -L out/e2e/latest
eq "the last run pruned one folder" "$(jq .pruned_runs "out/e2e/$latest/summary.json")" 1
removed=$(jq -r 'select(.event == "prune") | .removed' "out/e2e/$latest/run.log")
check "run.log names the folder removed" sh -c "echo '$removed' | grep -q '^20'"
check "that folder is gone" test ! -e "out/e2e/$removed"

# an interrupted run, then plans with keep = 1: the interrupted run is
# what 'latest' names, the one --resume continues: it stays
stop_dvsim
start_dvsim --generate 8 --seed 4 --latency-ms 300
job 1
"$MBXFIX" run --no-progress job.cfg >int.out 2>int.err &
pid=$!
i=0
while [ "$(readlink out/e2e/latest)" = "$latest" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
while [ ! -s "out/e2e/$(readlink out/e2e/latest)/results.csv" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
sleep 0.5
kill -INT $pid
wait $pid
eq "the interrupted run: exit 3" $? 3
interrupted=$(readlink out/e2e/latest)
check "it was interrupted" jq -e '.interrupted == true' "out/e2e/$interrupted/summary.json"
for n in 1 2; do
	sleep 1.1
	"$MBXFIX" plan -q job.cfg >plan.$n.out 2>&1
	eq "plan $n: exit 0" $? 0
done
runs
check "the interrupted run stays (latest, resumable)" test -d "out/e2e/$interrupted"
check "the latest plan stays" test -d "out/e2e/$(readlink out/e2e/latest-plan)"
eq "keep = 1: the latest plan and the interrupted run" "$(runs | wc -l | tr -d ' ')" 2
"$MBXFIX" run -q --resume job.cfg >resume.out 2>&1
eq "the interrupted run can still be resumed" $? 0
cat resume.out

# keep = 0: nothing goes
job 0
before=$(runs | wc -l | tr -d ' ')
sleep 1.1
"$MBXFIX" run -q job.cfg >/dev/null 2>&1
eq "keep = 0: every run stays" "$(runs | wc -l | tr -d ' ')" $((before + 1))

done_checks
