#!/bin/sh
# LibreOffice in, LibreOffice out: a sheet exported by LibreOffice as CSV
# UTF-8 with ',' and ';', as Windows-1252 and as "Unicode Text" (UTF-16,
# tabs) runs through mbxfix; results.csv and failed.csv are opened back in
# LibreOffice (converted headlessly to a flat OpenDocument sheet) and
# compared cell by cell: numbers are numbers, with no apostrophe, and no
# cell is evaluated as a formula.
. "$(dirname "$0")/lib.sh"

cd "$W" || exit 1
start_dvsim --generate 6 --seed 11
set -- $(addresses | head -n 2)
A=$1 B=$2
node "$HERE/lo.js" source src.fods "$A" "$B"

# export NAME FILTER-OPTIONS: src.fods as LibreOffice's CSV export
export_csv() {
	mkdir -p "exp-$1"
	lo --convert-to "csv:Text - txt - csv (StarCalc):$2" --outdir "exp-$1" src.fods
	cp "exp-$1/src.csv" "$1.csv"
}
export_csv utf8-comma 44,34,76,1
export_csv utf8-semicolon 59,34,76,1
export_csv cp1252 44,34,1,1
export_csv utf16-tab 9,34,65535,1
check "LibreOffice wrote Windows-1252 (a raw 0xE9)" grep -q "$(printf 'caf\351')" cp1252.csv
check "LibreOffice wrote UTF-16 with a BOM" sh -c "head -c 2 utf16-tab.csv | od -An -tx1 | grep -q 'ff fe'"

write_job job.cfg "$BASE"
for name in utf8-comma utf8-semicolon cp1252 utf16-tab; do
	sed -i "s|^input = .*|input = \"$W/$name.csv\";|; /^input_encoding/d" job.cfg
	[ "$name" = cp1252 ] && echo 'input_encoding = "windows-1252";' >>job.cfg
	"$MBXFIX" run job.cfg --no-progress >"$name.out" 2>"$name.err"
	eq "$name: exit 1 (a row failed, a row invalid)" $? 1
	cp "$W/out/e2e/latest/results.csv" "$name-results.csv"
	cp "$W/out/e2e/latest/failed.csv" "$name-failed.csv"
	check "$name: results.csv is UTF-8" iconv -f UTF-8 -t UTF-8 "$name-results.csv" -o /dev/null
done

# open them back: each with its separator, as UTF-8
mkdir -p back
lo --infilter="CSV:44,34,76,1" --convert-to fods --outdir back \
	utf8-comma-results.csv utf8-comma-failed.csv cp1252-results.csv cp1252-failed.csv
lo --infilter="CSV:59,34,76,1" --convert-to fods --outdir back \
	utf8-semicolon-results.csv utf8-semicolon-failed.csv
lo --infilter="CSV:9,34,76,1" --convert-to fods --outdir back \
	utf16-tab-results.csv utf16-tab-failed.csv
for name in utf8-comma utf8-semicolon cp1252 utf16-tab; do
	for f in results failed; do
		node "$HERE/fods.js" "back/$name-$f.fods" >"$name-$f.json"
		check "$name: $f.csv in LibreOffice, cell by cell" \
			node "$HERE/lo.js" "$f" "$name-$f.json" "$A" "$B"
	done
done

# the admin saves failed.csv again from LibreOffice and runs it as it is:
# the error columns are dropped, the marks read back, the same rows fail
mkdir -p saved
lo --convert-to "csv:Text - txt - csv (StarCalc):44,34,76,1" --outdir saved \
	back/utf8-comma-failed.fods
sed -i "s|^input = .*|input = \"$W/saved/utf8-comma-failed.csv\";|; /^input_encoding/d" job.cfg
"$MBXFIX" run job.cfg --no-progress >saved.out 2>saved.err
eq "failed.csv saved by LibreOffice: exit 1" $? 1
eq "no error column carried into results.csv" \
	"$(head -n 1 "$W/out/e2e/latest/results.csv" | grep -c mbxfix_error)" 0
check "failed.csv again: same cells" cmp -s \
	"$W/out/e2e/latest/failed.csv" utf8-comma-failed.csv

done_checks
