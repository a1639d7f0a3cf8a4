#!/bin/sh
# A job runs the same from any folder and under cron's bare environment:
# every relative path in the job file (input, output, secret_file,
# templates) is relative to the job file's folder, and the default
# privilege template (server-side-sync) is compiled in. Run from an empty
# folder under `env -i`, with the job file elsewhere.
. "$(dirname "$0")/lib-actions.sh"

dvsim_start --generate 4 --seed 3 --problems "ok"
state >"$T/before.json"
mkdir -p "$T/site/jobs/data" "$T/site/jobs/mytemplates" "$T/cron-home"
a=$(jq -r '[.entities.systemusers[] | select(.applicationid == null)][1].internalemailaddress' "$T/before.json")
b=$(jq -r '[.entities.systemusers[] | select(.applicationid == null)][2].internalemailaddress' "$T/before.json")
printf 'mailbox,privileges\n%s,\n%s,mini\n' "$a" "$b" >"$T/site/jobs/data/in.csv"
printf 'privileges = ( { name = "prvReadEmailServerProfile"; depth = "Global"; } );\n' \
	>"$T/site/jobs/mytemplates/mini.cfg"
printf 'dvsim-demo-secret\n' >"$T/site/jobs/secret.txt"
chmod 600 "$T/site/jobs/secret.txt"
cat >"$T/site/jobs/anywhere.cfg" <<CFG
environment = { url = "$URL"; };
auth = {
  tenant = "contoso.onmicrosoft.com";
  client_id = "51f81489-12ee-4a9e-aaae-a2591f45987d";
  secret_file = "secret.txt";
  authority = "$URL";
};
input = "data/in.csv";
output = "results";
templates = "mytemplates";
defaults = { actions = "grant_privileges"; role = "Sales Restricted"; };
run = { max_attempts = 4; };
CFG

held() {
	state | jq --arg p "$1" '.entities as $e
	  | ($e.roles[] | select(.name == "Sales Restricted" and ._parentrootroleid_value == .roleid) | .roleid) as $r
	  | ($e.privileges[] | select(.name == $p) | .privilegeid) as $id
	  | [$e.roleprivilegescollection[] | select(.roleid == $r and .privilegeid == $id)] | length > 0'
}
check "setup: role lacks prvSyncToOutlook" [ "$(held prvSyncToOutlook)" = false ]

(cd "$T/cron-home" && env -i PATH=/usr/bin:/bin HOME="$T/cron-home" \
	"$MBXFIX" run --no-progress "$T/site/jobs/anywhere.cfg" >"$T/run.out" 2>"$T/run.err")
rc=$?
check "run from another folder under env -i: exit 0 (got $rc: $(head -c 300 "$T/run.err"))" [ "$rc" -eq 0 ]
check "results beside the job file (output = \"results\")" [ -f "$T/site/jobs/results/anywhere/latest/results.csv" ]
check "nothing written in the current folder" [ -z "$(ls -A "$T/cron-home")" ]
if [ -f "$T/site/jobs/results/anywhere/latest/results.csv" ]; then
	"$CSV2JSON" <"$T/site/jobs/results/anywhere/latest/results.csv" >"$T/r.json"
else
	echo '[]' >"$T/r.json"
fi
check "both rows ok" jqt "$T/r.json" 'length == 2 and all(.[]; .result == "ok")'
check "built-in server-side-sync template applied" [ "$(held prvSyncToOutlook)" = true ]
check "the job's templates folder applied" [ "$(held prvReadEmailServerProfile)" = true ]

# the same job checked offline from another folder
(cd "$T/cron-home" && env -i PATH=/usr/bin:/bin "$MBXFIX" check "$T/site/jobs/anywhere.cfg" >"$T/check.out" 2>"$T/check.err")
check "check from another folder: exit 0" [ $? -eq 0 ]
finish
