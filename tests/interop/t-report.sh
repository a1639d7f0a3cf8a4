#!/bin/sh
# report.html rendered in headless Chromium: the counts it shows are
# summary.json's, the failed rows are listed with their hints, its script
# filters and sorts, it names no other file and no network address. A
# screenshot is left in build/interop/report.png for a person to look at.
. "$(dirname "$0")/lib.sh"

cd "$W" || exit 1
start_dvsim --generate 24 --seed 7
{
	echo "mailbox,note"
	addresses | head -n 18 | sed 's/$/,fine/'
	for i in 1 2 3 4; do echo "ghost$i@contoso.com,=no <b>such</b> & co"; done
	echo "not-an-address,x"
	echo "other@,y"
	echo ",z"
} >in.csv
write_job job.cfg "$BASE"
"$MBXFIX" run job.cfg --no-progress >run.out 2>run.err
eq "run: exit 1" $? 1
report=$(sed -n 's/^  report *//p' run.out)
check "the run names report.html" test -f "$report"
sum="$W/out/e2e/latest/summary.json"

# no other file, no network: nothing is loaded from anywhere
check "self-contained: no src, href, url(), @import" \
	sh -c "! grep -Eiq '(src|href)=|url\\(|@import' '$report'"

chrome --dump-dom "file://$report#filter=ghost&sort=-0" >dom.html
check "Chromium rendered it" grep -q '</html>' dom.html
count() { grep -o "data-label=\"$1\" data-count=\"[0-9]*\"" dom.html | head -n 1 | sed 's/.*data-count="//; s/"//'; }
for o in ok failed invalid; do
	eq "outcome $o shown as in summary.json" "$(count "$o")" "$(jq ".results.$o" "$sum")"
done
jq -r '.actions | to_entries[] | .key as $a | .value | to_entries[] | select(.value > 0) |
	"\($a): \(.key | sub("-"; " ")) \(.value)"' "$sum" >actions.want
while read -r line; do
	label=${line% *}
	eq "action $label shown as in summary.json" "$(count "$label")" "${line##* }"
done <actions.want
check "some action counted" test -s actions.want
eq "error code 'InvalidRow' counted" "$(count InvalidRow)" "$(jq .results.invalid "$sum")"
eq "every row not ok listed" "$(grep -o 'id="rows" data-total="[0-9]*"' dom.html | sed 's/.*="//; s/"//')" \
	"$(($(jq .results.failed "$sum") + $(jq .results.invalid "$sum")))"
eq "the filter from the address shows the 4 ghosts" \
	"$(grep -o 'data-shown="[0-9]*"' dom.html | sed 's/.*="//; s/"//')" 4
check "a hint is shown" grep -q 'correct the row in failed.csv' dom.html
check "text is escaped, not markup" sh -c "grep -q 'ghost1@contoso.com' dom.html && ! grep -q '<b>such</b>' '$report'"
first=$(sed -n '/<tbody>/,$p' dom.html | grep -o '<tr[^>]*><td>[0-9]*</td>' | head -n 1 | sed 's/.*<td>//; s/<.*//')
eq "sorted by row, descending" "$first" "$(jq '.rows' "$sum")"

rm -f "$OUT/report.png"
chrome --screenshot="$OUT/report.png" --window-size=1280,1700 --hide-scrollbars "file://$report" >/dev/null
check "screenshot written: build/interop/report.png" sh -c "head -c 4 '$OUT/report.png' | grep -q PNG"

done_checks
