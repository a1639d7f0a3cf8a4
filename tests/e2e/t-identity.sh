#!/bin/sh
# One mailbox named on two rows in different forms (its address on one,
# its id on the other): the second row in input order is invalid ("same
# mailbox as row N") and writes nothing, even when it is resolved before
# the first (addresses and ids are looked up in separate requests, the
# addresses first); the first row's change is the one that holds.
. "$(dirname "$0")/lib.sh"

cd "$W" || exit 1
export DVSIM_TRACE=1
start_dvsim --generate 6 --seed 3 --problems delivery=100
state >before.json
addr() { jq -r --argjson i "$1" '.entities.mailboxes[$i].emailaddress' before.json; }
mbid() { jq -r --argjson i "$1" '.entities.mailboxes[$i].mailboxid' before.json; }
incoming_of() {
	state | jq -r --arg a "$1" '.entities.mailboxes[] | select(.emailaddress == $a) | .incomingemaildeliverymethod'
}
A=$(addr 1) B=$(addr 2) C=$(addr 3)
BID=$(mbid 2 | tr 'a-f' 'A-F')
{
	echo "mailbox,incoming"
	echo "$(mbid 1),outlook" # row 1: A by id
	echo "$A,none"           # row 2: A by address, resolved first
	echo "$B,outlook"        # row 3: B by address
	echo "{$BID},none"       # row 4: B by its id, upper case, braces
	echo "$C,outlook"        # row 5: C
} >in.csv
before=$(stats | jq .writes.total)
write_job job.cfg "$BASE" "" "{ parallel = 1; batch_size = 1; max_attempts = 3; }"
"$MBXFIX" run job.cfg --no-progress >a.out 2>a.err
eq "exit 1 (invalid rows)" $? 1
lookups=$(grep -a "part GET mailboxes?" dv.err | sed -n 's/.*PropertyName\(%3D\|=\)\(%2[27]\|["'"'"']\)\([a-z]*\).*/\3/p' | tr '\n' ' ')
eq "the addresses were looked up before the ids" "$lookups" "emailaddress mailboxid "
eq "results: rows 2 and 4 invalid, the others ok" "$(col result | tr '\n' ' ')" "ok invalid ok invalid ok "
check "row 2 names row 1" sh -c "sed -n 3p '$(results)' | grep -q 'same mailbox as row 1'"
check "row 4 names row 3" sh -c "sed -n 5p '$(results)' | grep -q 'same mailbox as row 3'"
check "failed.csv lists the two invalid rows" \
	test "$(($(wc -l <"$W/out/e2e/latest/failed.csv") - 1))" -eq 2
eq "A holds row 1's value (outlook)" "$(incoming_of "$A")" 1
eq "B holds row 3's value (outlook)" "$(incoming_of "$B")" 1
eq "C holds its value (outlook)" "$(incoming_of "$C")" 1
eq "one write per mailbox, none for the invalid rows" \
	"$(($(stats | jq .writes.total) - before))" 3
done_checks
