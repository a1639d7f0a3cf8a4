#!/bin/sh
# What spreadsheets write and read: numbers are not neutralised, formulas
# are; failed.csv carries the error and runs again as it is, byte for byte
# over five rounds; Windows-1252 (input_encoding), UTF-16 "Unicode Text",
# '|' and a sep= line are read; outputs are UTF-8 with a BOM when the
# input had one or was decoded; report.html is written and named.
. "$(dirname "$0")/lib.sh"

CSV2JSON="$TOP/build/e2e/csv2json"
if [ ! -x "$CSV2JSON" ] || [ "$TOP/tests/e2e/csv2json.c" -nt "$CSV2JSON" ]; then
	mkdir -p "$TOP/build/e2e"
	${CC:-cc} -O1 -o "$CSV2JSON.$$" "$TOP/tests/e2e/csv2json.c" \
		$(pkg-config --cflags --libs libcjson) -lcsv &&
		mv "$CSV2JSON.$$" "$CSV2JSON" || exit 1
fi

cd "$W" || exit 1
start_dvsim --generate 6 --seed 5
set -- $(addresses | head -n 3)
A=$1 B=$2 C=$3
write_job job.cfg "$BASE"
run() { "$MBXFIX" run job.cfg --no-progress "$@" >run.out 2>run.err; }
latest() { echo "$W/out/e2e/latest/$1"; }
# the value of column $2 of row $1 (1-based) of results.csv, as JSON text
cell() { "$CSV2JSON" <"$(latest results.csv)" | jq -r --arg c "$2" ".[$1 - 1][\$c]"; }
valid_utf8() { iconv -f UTF-8 -t UTF-8 "$1" >/dev/null 2>&1; }
has_bom() { [ "$(head -c 3 "$1" | od -An -tx1 | tr -d ' ')" = efbbbf ]; }

# 1. numbers as they are, formulas neutralised, the error in failed.csv
printf '%s\r\n' \
	'mailbox,amount,phone,note' \
	"$A,-12.5,+33 1 23 45 67 89,=1+1" \
	"$B,\"1,234.5\",+1-555-0100,''=2" \
	"ghost@contoso.com,+7,@SUM(A1),'abc" \
	"not-an-address,-3e2,-x,\"a,b\"" \
	"$C,,,," >in.csv
run
eq "a failed row: exit 1" $? 1
eq "number kept: -12.5" "$(cell 1 amount)" "-12.5"
eq "phone kept" "$(cell 1 phone)" "+33 1 23 45 67 89"
eq "formula neutralised" "$(cell 1 note)" "'=1+1"
eq "'+1-555-0100' is no number: neutralised" "$(cell 2 phone)" "'+1-555-0100"
eq "a cell that began with a quote keeps it, marked" "$(cell 2 note)" "''=2"
eq "'abc as it is" "$(cell 3 note)" "'abc"
eq "trailing empty field forgiven" "$(cell 5 result)" "ok"
eq "invalid row" "$(cell 4 result)" "invalid"
check "run prints the report's path" grep -q "report      .*/report.html" run.out
check "report.html written" test -s "$(latest report.html)"
eq "report counts ok rows as summary.json does" \
	"$(grep -o 'data-label="ok" data-count="[0-9]*"' "$(latest report.html)" | head -n 1 | sed 's/.*count="//; s/"//')" \
	"$(jq .results.ok "$(latest summary.json)")"
"$CSV2JSON" <"$(latest failed.csv)" >failed.json
eq "failed.csv: two rows" "$(jq length failed.json)" 2
eq "failed.csv: error code of the unknown mailbox" \
	"$(jq -r '.[0].mbxfix_error_code' failed.json)" \
	"$(cell 3 error_code)"
check "failed.csv: error message" jq -e >/dev/null '.[1].mbxfix_error | test("neither an email")' failed.json
check "no BOM: the input had none" sh -c "! head -c 3 '$(latest results.csv)' | grep -q \$(printf '\357')"

# 2. five rounds of failed.csv give the same bytes
cp "$(latest failed.csv)" round0.csv
for i in 1 2 3 4 5; do
	sed -i "s|^input = .*|input = \"$W/round$((i - 1)).csv\";|" job.cfg
	run
	cp "$(latest failed.csv)" "round$i.csv"
	check "round $i: failed.csv byte-identical" cmp -s round0.csv "round$i.csv"
done
check "round 5: results.csv keeps the marks" grep -q "'@SUM(A1)" "$(latest results.csv)"

# 3. Windows-1252 with and without input_encoding
sed -i "s|^input = .*|input = \"$W/in.csv\";|" job.cfg
printf 'mailbox;note\r\n%s;caf\351 \200\r\n' "$A" >in.csv
run
eq "1252 without input_encoding: exit 1" $? 1
check "results.csv says what to do" \
	grep -q 'save it as ""CSV UTF-8"".*input_encoding' "$(latest results.csv)"
"$MBXFIX" check job.cfg >check.out 2>&1
check "check names the row and says what to do" \
	grep -q 'row 1 (line 2).*save it as "CSV UTF-8".*input_encoding' check.out
check "results.csv is valid UTF-8 all the same" valid_utf8 "$(latest results.csv)"
echo 'input_encoding = "windows-1252";' >>job.cfg
run
eq "1252 with input_encoding: exit 0" $? 0
check "accents decoded into UTF-8" grep -q "$(printf 'caf\303\251 \342\202\254')" "$(latest results.csv)"
check "BOM: the input was not UTF-8" has_bom "$(latest results.csv)"
echo 'output_bom = false;' >>job.cfg
printf 'ghost@contoso.com;na\357ve\r\n' >>in.csv
run
check "output_bom = false: no BOM" sh -c "! head -c 3 '$(latest results.csv)' | grep -q \$(printf '\357')"
# the rerun reads what mbxfix wrote (UTF-8), not the input's encoding
run --rerun-failed
eq "rerun of a Windows-1252 job: the failed row only" "$(($(wc -l <"$(latest results.csv)") - 1))" 1
check "rerun: its accent read as UTF-8" grep -q "^ghost@contoso.com;$(printf 'na\303\257ve');failed" "$(latest results.csv)"
sed -i '/^input_encoding/d; /^output_bom/d' job.cfg
echo 'input_encoding = "no-such-charset";' >>job.cfg
run
eq "unknown input_encoding: exit 2" $? 2
check "the setting is named" grep -q "setting 'input_encoding'" run.err
sed -i '/^input_encoding/d' job.cfg

# 4. Excel's "Unicode Text": UTF-16 LE with BOM, tabs
printf 'mailbox\tnote\r\n%s\tna\303\257ve\r\n%s\t-1\r\n' "$A" "$B" |
	iconv -f UTF-8 -t UTF-16LE | { printf '\377\376'; cat; } >in.csv
run
eq "UTF-16 LE, tabs: exit 0" $? 0
check "decoded" grep -q "$(printf 'na\303\257ve')" "$(latest results.csv)"
check "tab-separated results" grep -q "$(printf '%s\tna' "$A")" "$(latest results.csv)"

# 5. '|' and a sep= line
printf 'mailbox|note\n%s|x;y\n' "$A" >in.csv
run
eq "pipe-separated: exit 0" $? 0
printf 'sep=;\r\nmailbox;note,x\r\n%s;a,b\r\n' "$A" >in.csv
run
eq "sep=; line: exit 0" $? 0
check "sep=; honoured" grep -q "^$A;a,b;ok" "$(latest results.csv)"

# 6. a NUL byte: the row is invalid, the other bytes are kept
printf 'mailbox,note\n%s,n\000l\n' "$A" >in.csv
run
eq "NUL: exit 1" $? 1
check "NUL shown as backslash-0 in the message" grep -q 'contains a NUL byte (.n\\0l.)' "$(latest results.csv)"
check "the cell keeps the other bytes" grep -q "^$A,nl,invalid" "$(latest results.csv)"

# 7. a header and nothing else
printf 'mailbox,note\r\n' >in.csv
run
eq "header only: exit 0" $? 0
check "header only: says so" grep -q "no rows" run.err
"$MBXFIX" check job.cfg >check.out 2>&1
check "check says so too" grep -q "no rows" check.out

done_checks
