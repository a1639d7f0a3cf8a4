#!/bin/sh
# Writes that fail among writes that succeed, in $batch requests that stop
# at their first failure (dvsim's nocontinue scenario): the application
# user may write only the mailboxes it owns (prvWriteMailbox at Basic
# depth), so every other mailbox's PATCH is refused with 403 0x80040220.
# Under the no-content-id variant the lone failure of a batch names no
# operation: the client must never give it to a row by guess, and sends
# one operation per request from then on (docs/fidelity.md, "Queries and
# the wire"). Under every variant each row ends as its own write did.
. "$(dirname "$0")/lib-actions.sh"

# An organisation where the application user's write privilege on
# mailboxes is Basic and it owns every other mailbox.
"$DVSIM" --listen 127.0.0.1:0 --generate 24 --seed 31 --problems "delivery=100" \
	--dump "$T/gen.json" >"$T/gen.out" 2>&1 &
gen=$!
for _ in $(seq 200); do
	grep -q listening "$T/gen.out" && break
	sleep 0.05
done
kill "$gen"
wait "$gen" 2>/dev/null
jq '
  (.entities.systemusers[] | select(.applicationid == "51f81489-12ee-4a9e-aaae-a2591f45987d") | .systemuserid) as $app
  | (.entities.privileges[] | select(.name == "prvWriteMailbox") | .privilegeid) as $wm
  | (.entities.roles[] | select(.name == "System Administrator" and .roleid == ._parentrootroleid_value) | .roleid) as $sa
  | .entities.roleprivilegescollection |= map(if .roleid == $sa and .privilegeid == $wm then .privilegedepthmask = 1 else . end)
  | .entities.mailboxes |= [to_entries[] | if .key % 2 == 0 then .value._ownerid_value = $app | .value._owninguser_value = $app | .value else .value end]
' "$T/gen.json" >"$T/org.json" || exit 1

dvsim_start --org "$T/org.json"
state >"$T/before.json"
app=$(jq -r '.entities.systemusers[] | select(.applicationid == "51f81489-12ee-4a9e-aaae-a2591f45987d") | .systemuserid' "$T/before.json")
jq -r '"mailbox,incoming", (.entities.mailboxes[] | .emailaddress + ",outlook")' "$T/before.json" >"$T/in.csv"
n=$(($(wc -l <"$T/in.csv") - 1))
jq --arg app "$app" '[.entities.mailboxes[] | select(._ownerid_value == $app) | .emailaddress]' \
	"$T/before.json" >"$T/own.json"
check "setup: the application user owns some mailboxes, not all" \
	jqt "$T/own.json" "length > 1 and length < $n"

write_job unattr "$T/in.csv" "set_delivery" "batch_size = 8; parallel = 1;"
sed "s|^environment = { url = \"$URL\"; };|environment = { url = \"$URL/_sim/nocontinue\"; };|" \
	"$T/unattr.cfg" >"$T/unattr.cfg.new" && mv "$T/unattr.cfg.new" "$T/unattr.cfg"
run_job unattr
state >"$T/after.json"
stats >"$T/stats.json"

check "exit 1 (some rows failed)" [ "$RC" -eq 1 ]
check "one result per row" jqt "$R" "length == $n"
check "the batches did stop on error" jqt "$T/stats.json" '.faults.scenario > 0'
check "owned mailboxes: ok, delivery set" sh -c "
	jq -e --slurpfile o '$T/own.json' '
	  [.[] | select(.mailbox as \$m | \$o[0] | index(\$m))]
	  | length == (\$o[0] | length) and all(.[]; .result == \"ok\" and .set_delivery == \"done\")' '$R' >/dev/null"
check "other mailboxes: failed with 0x80040220, their own refusal" sh -c "
	jq -e --slurpfile o '$T/own.json' '
	  [.[] | select(.mailbox as \$m | \$o[0] | index(\$m) | not)]
	  | length > 0 and all(.[]; .result == \"failed\" and .set_delivery == \"failed\" and .error_code == \"0x80040220\")' '$R' >/dev/null"
check "state: owned mailboxes set, the others as they were" sh -c "
	jq -e --slurpfile b '$T/before.json' --arg app '$app' '
	  (\$b[0].entities.mailboxes | map({key: .mailboxid, value: .incomingemaildeliverymethod}) | from_entries) as \$was
	  | all(.entities.mailboxes[]; if ._ownerid_value == \$app then .incomingemaildeliverymethod == 1 else .incomingemaildeliverymethod == \$was[.mailboxid] end)' '$T/after.json' >/dev/null"
if [ "${DVSIM_VARIANT:-}" = no-content-id ]; then
	check "no-content-id: the client said it sends one operation per request" \
		grep -q "named no operation" "$T/unattr.stderr"
fi
finish
