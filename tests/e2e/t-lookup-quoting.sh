#!/bin/sh
# Addresses holding ' + & # % " and letters beyond ASCII, each inside one
# 50-address In() lookup (docs/fidelity.md, "Queries and the wire"): the
# service reads PropertyValues as JSON and refuses a doubled quote with
# 400, which would fail every row sharing the lookup. Every row must be
# found and end ok, the awkward ones included. (A ';' is refused in the
# input as no address at all; tests/dvsim/t-api-read.sh sends one to dvsim.)
. "$(dirname "$0")/lib-actions.sh"

# A generated organisation whose first mailboxes get awkward addresses
# (on the mailbox and on its user or queue, which hold the same address).
"$DVSIM" --listen 127.0.0.1:0 --generate 60 --seed 23 --dump "$T/gen.json" \
	>"$T/gen.out" 2>&1 &
gen=$!
for _ in $(seq 200); do
	grep -q listening "$T/gen.out" && break
	sleep 0.05
done
kill "$gen"
wait "$gen" 2>/dev/null
jq '
  ["o'"'"'brien@contoso.com", "d'"'"'arcy+sales@contoso.com",
   "r&d@contoso.com", "desk#2@contoso.com", "100%sure@contoso.com",
   "\"j.doe\"@contoso.com", "j\u00f6rg.m\u00fcller@contoso.com",
   "\u0161ar\u00f3n'"'"'s@contoso.com", "x'"'"''"'"'y@contoso.com"] as $new
  | .entities.mailboxes[0:($new | length)] as $mb
  | reduce range(0; $new | length) as $i (.;
      ($mb[$i].emailaddress) as $old
      | .entities.mailboxes |= map(if .emailaddress == $old then .emailaddress = $new[$i] else . end)
      | .entities.systemusers |= map(if .internalemailaddress == $old then .internalemailaddress = $new[$i] | .domainname = $new[$i] else . end)
      | .entities.queues |= map(if .emailaddress == $old then .emailaddress = $new[$i] else . end))
' "$T/gen.json" >"$T/org.json" || exit 1

dvsim_start --org "$T/org.json"
state >"$T/before.json"
# the first 50 mailboxes: one lookup of 50 addresses
sh jobs/demo-input.sh <"$T/before.json" | head -n 51 >"$T/in.csv"
rows=$(($(wc -l <"$T/in.csv") - 1))
write_job quoting "$T/in.csv" "set_delivery" "batch_size = 100;"
run_job quoting

check "50 rows" [ "$rows" -eq 50 ]
check "the input holds every awkward address" sh -c "
	grep -q \"^o'brien@\" '$T/in.csv' && grep -q '^r&d@' '$T/in.csv' &&
	grep -q '^desk#2@' '$T/in.csv' && grep -q '^100%sure@' '$T/in.csv' &&
	grep -q 'j.doe' '$T/in.csv'"
check "exit 0" [ "$RC" -eq 0 ]
check "one result per row" jqt "$R" "length == $rows"
check "every row ok" jqt "$R" 'all(.[]; .result == "ok")'
check "awkward rows found, each its own mailbox" sh -c "
	jq -e --slurpfile s '$T/before.json' '
	  (\$s[0].entities.mailboxes | map({key: .emailaddress, value: .mailboxid}) | from_entries) as \$id
	  | [.[] | select(.mailbox | test(\"[^a-z0-9.@-]\"))] as \$odd
	  | (\$odd | length) == 9 and all(\$odd[]; .mailbox_id == \$id[.mailbox])' '$R' >/dev/null"
check "every address resolved by its lookups, no row failed" jqt "$R" \
	'all(.[]; .set_delivery == "done" or .set_delivery == "unchanged")'
finish
