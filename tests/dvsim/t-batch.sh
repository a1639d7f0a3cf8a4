#!/bin/sh
# $batch (docs/fidelity.md): independent parts with and without
# Prefer: odata.continue-on-error, change sets (atomic rollback checked in
# /_sim/state, Content-ID), GET refused in a change set, > 1000 parts,
# malformed multipart, the failcs/badmultipart scenarios, 413, and a batch
# counting once towards the request limit.
. "${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/dvsim/lib.sh"

start_dvsim b --generate 4 --seed 3
TOK=$(token)
AUTH="Authorization: Bearer $TOK"
MISSING=00000000-0000-0000-0000-0000000000ff
state() { curl -s "$URL/_sim/state"; }
A=$(state | jq -r '.entities.mailboxes[0].mailboxid')
B=$(state | jq -r '.entities.mailboxes[1].mailboxid')
field() { state | jq -r --arg id "$1" '.entities.mailboxes[] | select(.mailboxid == $id) | .'"$2"; }
# a value different from the current one (0..3 are valid delivery methods)
other() { echo $(( ($(field "$1" incomingemaildeliverymethod) + 1) % 3 )); }

# part METHOD URL [BODY] [CONTENT-ID]: one application/http part (CRLF)
part() {
	printf -- '--%s\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n' "$BND"
	[ -n "$4" ] && printf 'Content-ID: %s\r\n' "$4"
	printf '\r\n%s %s HTTP/1.1\r\nContent-Type: application/json\r\nIf-Match: *\r\n\r\n' "$1" "$2"
	[ -n "$3" ] && printf '%s\r\n' "$3"
	return 0
}
batch() { # batch FILE [CURL ARGS...]
	f=$1
	shift
	curl -s -o "$TMP/body" -D "$TMP/hdr" -w '%{http_code}' -H "$AUTH" \
		-H "Content-Type: multipart/mixed; boundary=\"batch_t\"" \
		--data-binary "@$f" "$@" "$URL/${SCN:-}$API/\$batch"
}
parts() { grep -c '^Content-Type: application/http' "$TMP/body"; }

# 1. continue-on-error: every part answered, outer 200
VA=$(other "$A")
BND=batch_t
{
	part PATCH "$URL/$API/mailboxes($A)" "{\"incomingemaildeliverymethod\":$VA}"
	part PATCH "/$API/mailboxes($MISSING)" '{"incomingemaildeliverymethod":1}'
	part GET "mailboxes($B)?\$select=name"
	printf -- '--batch_t--\r\n'
} >"$TMP/b1"
check "continue-on-error: 200" "$(batch "$TMP/b1" -H 'Prefer: odata.continue-on-error')" 200
check "Preference-Applied" "$(hdr Preference-Applied)" odata.continue-on-error
check_match "response boundary" "$(hdr Content-Type)" '^multipart/mixed; boundary=batchresponse_[0-9a-f-]{36}$'
check "three parts" "$(parts)" 3
check "part statuses" "$(grep -o '^HTTP/1.1 [0-9]*' "$TMP/body" | tr '\n' ' ')" "HTTP/1.1 204 HTTP/1.1 404 HTTP/1.1 200 "
check "404 part carries 0x80040217" "$(grep -c '"code":"0x80040217"' "$TMP/body")" 1
check "first PATCH applied" "$(field "$A" incomingemaildeliverymethod)" "$VA"

# 2. without the preference: stop at the first failure, outer 400
VA2=$(other "$A")
VB=$(other "$B")
{
	part PATCH "mailboxes($A)" "{\"incomingemaildeliverymethod\":$VA2}"
	part PATCH "mailboxes($MISSING)" '{"incomingemaildeliverymethod":1}'
	part PATCH "mailboxes($B)" "{\"incomingemaildeliverymethod\":$VB}"
	printf -- '--batch_t--\r\n'
} >"$TMP/b2"
check "stop on error: outer 400" "$(batch "$TMP/b2")" 400
check "only the failing part" "$(parts)" 1
check "it is the 404" "$(grep -o '^HTTP/1.1 [0-9]*' "$TMP/body")" "HTTP/1.1 404"
check "no Preference-Applied" "$(hdr Preference-Applied)" ""
check "part before the failure ran" "$(field "$A" incomingemaildeliverymethod)" "$VA2"
check "part after the failure did not run" "$(field "$B" incomingemaildeliverymethod)" "$(( (VB + 2) % 3 ))"

# 3. a failing change set is rolled back
BEFORE=$(field "$A" incomingemaildeliverymethod)
VA3=$(other "$A")
{
	printf -- '--batch_t\r\nContent-Type: multipart/mixed; boundary=changeset_c\r\n\r\n'
	BND=changeset_c
	part PATCH "mailboxes($A)" "{\"incomingemaildeliverymethod\":$VA3}" 1
	part PATCH "mailboxes($MISSING)" '{"incomingemaildeliverymethod":1}' 2
	printf -- '--changeset_c--\r\n'
	BND=batch_t
	part PATCH "mailboxes($B)" '{"incomingemaildeliverymethod":2}'
	printf -- '--batch_t--\r\n'
} >"$TMP/b3"
check "failed change set, continue: 200" "$(batch "$TMP/b3" -H 'Prefer: odata.continue-on-error')" 200
check "change set answered by its failure" "$(grep -o '^HTTP/1.1 [0-9]*' "$TMP/body" | tr '\n' ' ')" "HTTP/1.1 404 HTTP/1.1 204 "
check "Content-ID of the failing part echoed" "$(grep -c '^Content-ID: 2' "$TMP/body")" 1
check "change set rolled back" "$(field "$A" incomingemaildeliverymethod)" "$BEFORE"
check "part after the change set ran" "$(field "$B" incomingemaildeliverymethod)" 2
check "failed change set, stop: 400" "$(batch "$TMP/b3")" 400
check "still rolled back" "$(field "$A" incomingemaildeliverymethod)" "$BEFORE"

# 4. a change set that succeeds, with Content-ID
{
	printf -- '--batch_t\r\nContent-Type: multipart/mixed; boundary="changeset_d"\r\n\r\n'
	BND=changeset_d
	part PATCH "mailboxes($A)" "{\"incomingemaildeliverymethod\":$VA3}" 1
	part PATCH "mailboxes($B)" '{"incomingemaildeliverymethod":1}' 2
	printf -- '--changeset_d--\r\n--batch_t--\r\n'
	BND=batch_t
} >"$TMP/b4"
check "change set: 200" "$(batch "$TMP/b4")" 200
check_match "nested changesetresponse" "$(grep -o 'boundary=changesetresponse_[0-9a-f-]*' "$TMP/body")" 'changesetresponse_[0-9a-f-]{36}'
check "Content-IDs echoed" "$(grep '^Content-ID' "$TMP/body" | tr -d '\r' | tr '\n' ' ')" "Content-ID: 1 Content-ID: 2 "
check "both applied" "$(field "$A" incomingemaildeliverymethod),$(field "$B" incomingemaildeliverymethod)" "$VA3,1"

# 5. GET is refused inside a change set
{
	printf -- '--batch_t\r\nContent-Type: multipart/mixed; boundary=changeset_e\r\n\r\n'
	BND=changeset_e
	part GET "mailboxes($A)"
	printf -- '--changeset_e--\r\n--batch_t--\r\n'
	BND=batch_t
} >"$TMP/b5"
check "GET in change set: outer 400" "$(batch "$TMP/b5")" 400
check "GET in change set: part 400" "$(grep -o '^HTTP/1.1 [0-9]*' "$TMP/body")" "HTTP/1.1 400"

# 6. LF line ends are tolerated
printf -- '--batch_t\nContent-Type: application/http\n\nGET mailboxes(%s)?$select=name HTTP/1.1\n\n--batch_t--\n' "$A" >"$TMP/b6"
check "LF-only batch: 200" "$(batch "$TMP/b6")" 200
check "LF-only batch: part 200" "$(grep -o '^HTTP/1.1 [0-9]*' "$TMP/body")" "HTTP/1.1 200"

# 7. more than 1000 parts
i=0
: >"$TMP/b7"
while [ $i -lt 1001 ]; do
	printf -- '--batch_t\r\nContent-Type: application/http\r\n\r\nGET mailboxes?$top=1 HTTP/1.1\r\n\r\n'
	i=$((i + 1))
done >"$TMP/b7"
printf -- '--batch_t--\r\n' >>"$TMP/b7"
check "1001 parts: 400" "$(batch "$TMP/b7")" 400
check_match "1001 parts: message" "$(jq -r .error.message "$TMP/body")" "limit of 1000"

# 8. malformed multipart
printf -- '--batch_t\r\nContent-Type: application/http\r\n\r\nGET mailboxes HTTP/1.1\r\n' >"$TMP/b8"
check "no closing delimiter: 400" "$(batch "$TMP/b8")" 400
check "Dataverse error JSON" "$(jq -r '.error.code | length > 0' "$TMP/body")" true
check "no boundary: 400" "$(curl -s -o "$TMP/body" -w '%{http_code}' -H "$AUTH" -H 'Content-Type: multipart/mixed' --data-binary "@$TMP/b1" "$URL/$API/\$batch")" 400
check "GET \$batch: 405" "$(curl -s -o /dev/null -w '%{http_code}' -H "$AUTH" "$URL/$API/\$batch")" 405

# 9. scenarios
BEFORE=$(field "$A" incomingemaildeliverymethod)
check "failcs: outer 400" "$(SCN=_sim/failcs/ batch "$TMP/b4")" 400
check "failcs: validation error" "$(grep -c '0x80044331' "$TMP/body")" 1
check "failcs: rolled back" "$(field "$A" incomingemaildeliverymethod)" "$BEFORE"
check "badmultipart: 200" "$(SCN=_sim/badmultipart/ batch "$TMP/b6")" 200
BR=$(hdr Content-Type | sed 's/.*boundary=//')
check "badmultipart: no closing delimiter" "$(grep -c -- "--$BR--" "$TMP/body")" 0

# 10. oversized body
head -c 17000000 /dev/zero | tr '\0' 'a' >"$TMP/big"
check "17 MB body: 413" "$(batch "$TMP/big")" 413
check "413 error JSON" "$(jq -r '.error.code | length > 0' "$TMP/body")" true

check "stats: batches (parsed ones)" "$(stat_of .batches)" 9
check "stats: no crash, still serving" "$(curl -s -o /dev/null -w '%{http_code}' "$URL/_sim/stats")" 200

# 10b. a space left unencoded in a part's URL (as some clients send
# "$orderby=emailaddress desc"): the URL is what lies between the first
# and the last space of the request line
printf -- '--batch_t\r\nContent-Type: application/http\r\n\r\nGET mailboxes?$select=emailaddress&$orderby=emailaddress desc HTTP/1.1\r\n\r\n--batch_t--\r\n' >"$TMP/b10"
check "space in a part's URL: 200" "$(batch "$TMP/b10")" 200
check "space in a part's URL: part 200" "$(grep -o '^HTTP/1.1 [0-9]*' "$TMP/body")" "HTTP/1.1 200"
sed -n 's/^{/{/p' "$TMP/body" >"$TMP/part.json"
check "space in a part's URL: sorted descending" \
	"$(jq -r '[.value[].emailaddress] | . == (sort | reverse)' "$TMP/part.json")" true

# 10c. the nocontinue scenario ignores Prefer: odata.continue-on-error
check "nocontinue: outer 400" "$(SCN=_sim/nocontinue/ batch "$TMP/b1" -H 'Prefer: odata.continue-on-error')" 400
check "nocontinue: only the failing part" "$(parts)" 1
check "nocontinue: no Preference-Applied" "$(hdr Preference-Applied)" ""

# 11. a $batch counts once towards the request limit
start_dvsim l --generate 2 --limit-requests 2 --window-s 60
TOK=$(token)
AUTH="Authorization: Bearer $TOK"
{
	part GET "mailboxes?\$top=1"
	part GET "mailboxes?\$top=1"
	part GET "mailboxes?\$top=1"
	printf -- '--batch_t--\r\n'
} >"$TMP/b9"
check "batch of 3 under a limit of 2" "$(batch "$TMP/b9")" 200
check "burst remaining 1" "$(hdr x-ms-ratelimit-burst-remaining-xrm-requests)" 1
check "operations by method" "$(stat_of .operations.by_method.GET)" 3
finish
