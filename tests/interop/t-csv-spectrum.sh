#!/bin/sh
# csv-spectrum's cases through check, run, failed.csv and a rerun, cell by
# cell. Each case's first column is named 'mailbox' (its values are no
# addresses: every row is invalid and so goes to failed.csv with all its
# fields); everything else is the case's bytes as published.
. "$(dirname "$0")/lib.sh"

SPECTRUM="$OUT/node_modules/csv-spectrum"
[ -d "$SPECTRUM/csvs" ] || { echo "csv-spectrum missing (run tests/interop/run-interop.sh)"; exit 1; }

cd "$W" || exit 1
start_dvsim --generate 2 --seed 1
write_job job.cfg "$BASE"

# cells FILE NCOLS: the first NCOLS values of each row of a comma CSV, as
# JSON arrays, one per line
cells() {
	"$CSV2JSON" <"$1" | jq -c --argjson n "$2" '.[] | [to_entries[].value][:$n]'
}

ncases=0
for csv in "$SPECTRUM"/csvs/*.csv; do
	name=$(basename "$csv" .csv)
	json="$SPECTRUM/json/$name.json"
	ncases=$((ncases + 1))
	# the case with its first header name replaced by 'mailbox'
	{
		head -n 1 "$csv" | sed 's/^[^,]*,/mailbox,/'
		tail -n +2 "$csv"
	} >"$name.csv"
	jq -c 'if type == "array" then .[] else . end | [to_entries[].value]' "$json" >"$name.want"
	# csv-spectrum 2.0.0's JSON for this case holds another phone number
	# than its CSV does (2095257564): the CSV is what is read
	[ "$name" = location_coordinates ] && grep -q 2095257564 "$csv" &&
		sed -i 's/"1234567890"/"2095257564"/' "$name.want"
	n=$(head -n 1 "$name.want" | jq length)
	rows=$(wc -l <"$name.want")

	sed -i "s|^input = .*|input = \"$W/$name.csv\";|" job.cfg
	"$MBXFIX" check job.cfg >"$name.check" 2>&1
	check "$name: check counts $rows rows" grep -q ": $rows rows in" "$name.check"

	"$MBXFIX" run job.cfg --no-progress >"$name.out" 2>&1
	eq "$name: run exits 1 (every row invalid)" $? 1
	cells "$W/out/e2e/latest/results.csv" "$n" >"$name.results"
	check "$name: results.csv, cell by cell" cmp "$name.want" "$name.results"
	cells "$W/out/e2e/latest/failed.csv" "$n" >"$name.failed"
	check "$name: failed.csv, cell by cell" cmp "$name.want" "$name.failed"
	eq "$name: failed.csv ends with the error columns" \
		"$("$CSV2JSON" <"$W/out/e2e/latest/failed.csv" | jq -r '[.[] | .mbxfix_error_code] | unique | join(" ")')" \
		InvalidRow
	cp "$W/out/e2e/latest/failed.csv" "$name.failed1.csv"

	"$MBXFIX" run job.cfg --no-progress --rerun-failed >"$name.out2" 2>&1
	eq "$name: rerun of failed.csv exits 1" $? 1
	cells "$W/out/e2e/latest/results.csv" "$n" >"$name.results2"
	check "$name: rerun results.csv, cell by cell" cmp "$name.want" "$name.results2"
	check "$name: rerun failed.csv byte-identical" cmp "$name.failed1.csv" "$W/out/e2e/latest/failed.csv"
done
check "every csv-spectrum case was run ($ncases)" test "$ncases" -ge 12

done_checks
