#!/bin/sh
# Privilege templates are found next to the job file (JOBDIR/templates/
# privileges or JOBDIR/../templates/privileges), never through the current
# directory, and $MBXFIX_TEMPLATES is searched before them.
. "$(dirname "$0")/lib-actions.sh"

dvsim_start --generate 4 --seed 2 --problems "ok"
state >"$T/before.json"
mkdir -p "$T/site/jobs" "$T/site/templates/privileges" "$T/other" "$T/elsewhere"
cat >"$T/site/templates/privileges/mini.cfg" <<CFG
privileges = ( { name = "prvSyncToOutlook"; depth = "Global"; } );
CFG
cat >"$T/other/mini.cfg" <<CFG
privileges = ( { name = "prvReadEmailServerProfile"; depth = "Global"; } );
CFG
a=$(jq -r '[.entities.systemusers[] | select(.applicationid == null)][1].internalemailaddress' "$T/before.json")
printf 'mailbox,role,privileges\n%s,Sales Restricted,mini\n' "$a" >"$T/in.csv"
write_job tdir "$T/in.csv" "grant_privileges"
mv "$T/tdir.cfg" "$T/site/jobs/tdir.cfg"

held() {
	state | jq --arg p "$1" '.entities as $e
	  | ($e.roles[] | select(.name == "Sales Restricted" and ._parentrootroleid_value == .roleid) | .roleid) as $r
	  | ($e.privileges[] | select(.name == $p) | .privilegeid) as $id
	  | [$e.roleprivilegescollection[] | select(.roleid == $r and .privilegeid == $id)] | length > 0'
}
check "setup: role lacks prvSyncToOutlook" [ "$(held prvSyncToOutlook)" = false ]

(cd "$T/elsewhere" && E2E_SECRET=dvsim-demo-secret "$MBXFIX" run --no-progress "$T/site/jobs/tdir.cfg" >/dev/null 2>"$T/err1")
check "next to the job file: exit 0" [ $? -eq 0 ]
check "next to the job file: template applied" [ "$(held prvSyncToOutlook)" = true ]

(cd "$T/elsewhere" && MBXFIX_TEMPLATES="$T/other" E2E_SECRET=dvsim-demo-secret "$MBXFIX" run --no-progress "$T/site/jobs/tdir.cfg" >/dev/null 2>"$T/err2")
check "MBXFIX_TEMPLATES: exit 0" [ $? -eq 0 ]
check "MBXFIX_TEMPLATES: its template applied" [ "$(held prvReadEmailServerProfile)" = true ]

printf 'mailbox,role,privileges\n%s,Sales Restricted,nosuch\n' "$a" >"$T/in.csv"
(cd "$T/elsewhere" && MBXFIX_TEMPLATES="$T/nowhere" E2E_SECRET=dvsim-demo-secret "$MBXFIX" run --no-progress "$T/site/jobs/tdir.cfg" >/dev/null 2>&1)
check "missing template: the row fails (exit 1)" [ $? -eq 1 ]
"$CSV2JSON" <"$T/out/tdir/latest/results.csv" >"$T/r.json"
check "missing template: InvalidPrivileges naming the folders searched" jqt "$T/r.json" \
	'.[0].error_code == "InvalidPrivileges" and (.[0].error_message | test("nosuch.cfg in: .*nowhere, .*site/jobs/templates/privileges"))'
finish
