#!/bin/sh
# set_delivery end to end: per-row values reach dvsim's organisation, plan
# writes nothing, a second run writes nothing, unknown mailboxes fail alone.
. "$(dirname "$0")/lib.sh"

start_dvsim --generate 120 --seed 7
write_job "$W/job.cfg" "$BASE"

# every mailbox, by address or by id, with mixed per-row values
state | jq -r '.entities.mailboxes | to_entries[] |
	(["server-side-sync","outlook","none","forward"][.key % 4]) as $in |
	(["server-side-sync","outlook","none"][.key % 3]) as $out |
	(if .key % 5 == 0 then .value.mailboxid else .value.emailaddress end) +
	",\($in),\($out),,\(.key)"' >"$W/rows"
{
	echo "mailbox,incoming,outgoing,act,ref"
	cat "$W/rows"
	echo "ghost@contoso.com,,,,ghost"
} >"$W/in.csv"
n=$(wc -l <"$W/rows")

# what each mailbox must hold afterwards: in,out,act option values
state | jq -r '.entities.mailboxes | to_entries[] |
	"\(.value.mailboxid) \([2,1,0,3][.key % 4]),\([2,1,0][.key % 3]),1"' >"$W/want"
need=$(state | jq '[.entities.mailboxes | to_entries[] |
	select(.value.incomingemaildeliverymethod != [2,1,0,3][.key % 4] or
	       .value.outgoingemaildeliverymethod != [2,1,0][.key % 3] or
	       .value.actdeliverymethod != 1)] | length')

# plan: read only
"$MBXFIX" plan "$W/job.cfg" --no-progress >"$W/plan.out" 2>&1
eq "plan exit status (the ghost row fails)" $? 1
eq "plan wrote nothing" "$(stats | jq .writes.total)" 0
eq "plan: would-change rows" "$(col set_delivery "$W/out/e2e/latest-plan/results.csv" | grep -c would-change)" "$need"
check "plan leaves latest alone (it names runs that wrote)" test ! -e "$W/out/e2e/latest"

"$MBXFIX" run "$W/job.cfg" --no-progress >"$W/run1.out" 2>&1
eq "run exit status (the ghost row fails)" $? 1
eq "one write per mailbox that differed" "$(stats | jq .writes.total)" "$need"
eq "every valid row ok" "$(col result | grep -c '^ok$')" "$n"
eq "done rows = mailboxes that differed" "$(col set_delivery | grep -c '^done$')" "$need"
eq "the unknown mailbox failed" "$(tail -n 1 "$(results)" | cut -d, -f6,8,13,14)" "failed,failed,0x80040217,mailbox 'ghost@contoso.com' does not exist"
eq "each result line is its own input row" "$(col ref | tr '\n' ' ')" "$(cut -d, -f5 "$W/in.csv" | tail -n +2 | tr '\n' ' ')"
state | jq -r '.entities.mailboxes[] | "\(.mailboxid) \(.incomingemaildeliverymethod),\(.outgoingemaildeliverymethod),\(.actdeliverymethod)"' >"$W/have"
check "dvsim holds every row's delivery methods" cmp -s "$W/want" "$W/have"
check "mailbox_id column matches the organisation" sh -c \
	"col() { :; }; test \"\$(cut -d' ' -f1 '$W/want' | sort)\" = \"\$(tail -n +2 '$(results)' | head -n $n | awk -F, '{print \$NF}' | tr -d '\r' | sort)\""

# idempotence: the second run writes nothing
before=$(stats | jq .operations.by_method.PATCH)
"$MBXFIX" run "$W/job.cfg" --no-progress >"$W/run2.out" 2>&1
eq "second run: no PATCH sent" "$(stats | jq .operations.by_method.PATCH)" "$before"
eq "second run: every valid row unchanged" "$(col set_delivery | grep -c '^unchanged$')" "$n"

# --rerun-failed takes only the failed row
"$MBXFIX" run "$W/job.cfg" --rerun-failed --no-progress >"$W/run3.out" 2>&1
eq "rerun-failed: one row" "$(tail -n +2 "$(results)" | wc -l)" 1
eq "violations of Retry-After" "$(stats | jq .throttled_violations)" 0
done_checks
