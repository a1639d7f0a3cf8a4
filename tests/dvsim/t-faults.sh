#!/bin/sh
# Injected faults: --fail-rate (503 + error JSON), --reset-rate (the
# connection closes without a response), both drawn from --seed.
. "${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/dvsim/lib.sh"

Q="$API/mailboxes?\$select=name&\$top=1"

start_dvsim f --generate 2 --fail-rate 1
TOK=$(token)
check "fail-rate 1: 503" "$(req GET "$Q" -H "Authorization: Bearer $TOK")" 503
check "503 error JSON" "$(jq -r .error.code "$TMP/body")" 0x80040216
check "503 counted" "$(stat_of '.faults["503"]')" 1
check "token endpoint not affected" "$(token | cut -c1-3)" eyJ

start_dvsim r --generate 2 --reset-rate 1
TOK=$(token)
curl -s -o /dev/null -H "Authorization: Bearer $TOK" "$URL/$Q"
check "reset-rate 1: empty reply (curl 52)" "$?" 52
check "reset counted" "$(stat_of .faults.resets)" 1

# seq_of NAME: the statuses of 12 requests, written to $TMP/NAME.seq (not
# in a command substitution: its subshell would hide the PID from cleanup)
seq_of() {
	start_dvsim "$1" --generate 2 --fail-rate 0.5 --seed 42
	t=$(token)
	for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
		curl -s -o /dev/null -w '%{http_code} ' -H "Authorization: Bearer $t" "$URL/$Q"
	done >"$TMP/$1.seq"
}
seq_of s1
seq_of s2
S1=$(cat "$TMP/s1.seq")
S2=$(cat "$TMP/s2.seq")
check "same seed, same faults" "$S1" "$S2"
check_match "fail-rate 0.5 gives both" "$S1" '503.*200|200.*503'
finish
