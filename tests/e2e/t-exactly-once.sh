#!/bin/sh
# Exactly-once writes. For each kind of write (the mailbox PATCH of
# set_delivery, the approval of approve, the AddPrivilegesRole of
# grant_privileges) the request carrying the first write is made to lose
# its answer in three ways:
#   timeout  dvsim's slow scenario holds it 3 s, past request_timeout
#            (2 s), then applies it anyway: the late landing comes after
#            the client's read-back, before its second send;
#   cut      dvsim's badmultipart scenario applies it and cuts the answer;
#   restart  dvsim is stopped (saving its organisation with --dump) while
#            it holds the slow request, which it applies as it stops, and
#            started again on the same port from that organisation;
#   last     the cut answer again, to the last attempt (max_attempts = 1):
#            the write was applied, so the row is done, not failed;
#   reset    dvsim drops 30% of the connections (--reset-rate) before
#            serving them, writes and reads alike.
# Every case must end with every row ok, the organisation as a run without
# faults leaves it, and exactly as many writes applied as that run needed:
# no duplicate. The request to fault is found from dvsim's trace of the
# run without faults (DVSIM_TRACE), so the test follows the client's
# request order.
. "$(dirname "$0")/lib.sh"

CSV2JSON="$TOP/build/e2e/csv2json"
if [ ! -x "$CSV2JSON" ] || [ "$TOP/tests/e2e/csv2json.c" -nt "$CSV2JSON" ]; then
	mkdir -p "$TOP/build/e2e"
	${CC:-cc} -O1 -o "$CSV2JSON.$$" "$TOP/tests/e2e/csv2json.c" \
		$(pkg-config --cflags --libs libcjson) -lcsv &&
		mv "$CSV2JSON.$$" "$CSV2JSON" || exit 1
fi
export MBXFIX_TEMPLATES="$TOP/templates/privileges"
export DVSIM_TRACE=1
cd "$W" || exit 1
total_dups=0

# job FILE URL ACTIONS [MAX_ATTEMPTS]: three mailboxes, one request at a time
job() {
	cat >"$1" <<EOT
name = "e2e";
environment = { url = "$2"; };
auth = { method = "secret"; tenant = "contoso.onmicrosoft.com"; client_id = "$CLIENT_ID"; secret_env = "MBXFIX_CLIENT_SECRET"; authority = "$BASE"; };
input = "$W/in.csv";
output = "$W/out";
defaults = { actions = "$3"; incoming = "server-side-sync"; outgoing = "server-side-sync"; act = "server-side-sync"; role = "Sales Restricted"; privileges = "server-side-sync"; };
run = { parallel = 1; batch_size = 10; max_attempts = ${4:-6}; request_timeout = 2; };
EOT
}

# what the three kinds of write leave behind, for comparison
outcome() {
	state | jq -S '.entities as $e
	  | ($e.roles[] | select(.name == "Sales Restricted" and ._parentrootroleid_value == .roleid) | .roleid) as $rid
	  | { mailboxes: [$e.mailboxes[] | [.emailaddress, .incomingemaildeliverymethod, .outgoingemaildeliverymethod, .actdeliverymethod, .emailrouteraccessapproval]],
	      users: [$e.systemusers[] | [.internalemailaddress, .emailrouteraccessapproval]],
	      queues: [($e.queues // [])[] | [.emailaddress, .emailrouteraccessapproval]],
	      role: [$e.roleprivilegescollection[] | select(.roleid == $rid) | [.privilegeid, .privilegedepthmask]] | sort }'
}

# writes applied, from dvsim's trace in FILE ($batch parts and single requests)
writes_in() {
	grep -a -E '^dvsim: +(part )?(PATCH|POST|PUT|DELETE) ' "$1" |
		grep -v -e oauth2 -e '[$]batch' | grep -c ' -> 2' || true
}

# fault_index FILE PATTERN: the number of the API request (through the
# scenario prefix: the probe, then each $batch) carrying the first
# operation that matches PATTERN
fault_index() {
	grep -a -v oauth2 "$1" | awk -v pat="$2" '
		/^dvsim:   part / { if (!hit && $0 ~ pat) mark = 1; next }
		/^dvsim: [A-Z]+ / { n++; if (mark && !hit) hit = n; mark = 0 }
		END { print hit + 0 }'
}

# wait_for FILE PATTERN SECONDS: until PATTERN appears in FILE
wait_for() {
	i=0
	while ! grep -a -q "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt $(($3 * 20)) ] && return 1
		sleep 0.05
	done
}

# one_case KIND ACTIONS PATTERN PROBLEM: every mailbox with PROBLEM
one_case() {
	kind=$1 actions=$2 pat=$3
	ORG="--generate 6 --seed 5 --problems $4=100"

	# the run without faults: what is needed, and the request to fault
	start_dvsim $ORG
	{
		echo mailbox
		state | jq -r '.entities.mailboxes[1:4][] | .emailaddress'
	} >in.csv
	job job.cfg "$BASE" "$actions"
	rm -rf out
	"$MBXFIX" run job.cfg --no-progress >clean.out 2>clean.err
	eq "$kind: run without faults: exit 0" $? 0
	"$CSV2JSON" <"$(results)" >clean.json
	done_rows=$(jq -c --arg a "${actions%%;*}" '[.[][$a]]' clean.json)
	need=$(stats | jq .writes.total)
	want=$(outcome)
	stop_dvsim
	k=$(fault_index "$W/dv.err" "$pat")
	check "$kind: the write is found in the trace (request $k)" test "$k" -gt 1
	check "$kind: the run without faults writes something ($need)" test "$need" -gt 0

	for fault in timeout cut restart last reset; do
		if [ $fault = reset ]; then
			start_dvsim $ORG --reset-rate 0.3
		else
			start_dvsim $ORG --dump "$W/dump.json"
		fi
		case $fault in
		timeout | restart) url="$BASE/_sim/slow-1@$((k - 1))" ;;
		cut | last) url="$BASE/_sim/badmultipart-1@$((k - 1))" ;;
		reset) url="$BASE" ;;
		esac
		job job.cfg "$url" "$actions" \
			"$([ $fault = last ] && echo 1 || echo 10)"
		rm -rf out
		"$MBXFIX" run job.cfg --no-progress -v >run.out 2>run.err &
		pid=$!
		if [ $fault = restart ]; then
			# stop dvsim once the client gave up on the write, while
			# dvsim still holds it; dvsim applies it as it stops
			wait_for run.err "Operation timed out" 10
			kill "$DV_PID"
			wait "$DV_PID"
			DV_PID=
			cp "$W/dv.err" "$W/dv1.err"
			port=$PORT
			start_dvsim_at "$port" --org "$W/dump.json"
		fi
		wait $pid
		eq "$kind/$fault: exit 0" $? 0
		"$CSV2JSON" <"$(results)" >r.json
		eq "$kind/$fault: every row ok" "$(jq -r '[.[].result] | unique | join(" ")' r.json)" ok
		eq "$kind/$fault: the action reported as without faults" \
			"$(jq -c --arg a "${actions%%;*}" '[.[][$a]]' r.json)" "$done_rows"
		case $fault in
		timeout | restart)
			check "$kind/$fault: the write timed out" grep -q "Operation timed out" run.err ;;
		cut | last)
			check "$kind/$fault: the answer was cut" grep -q "unusable \$batch answer" run.err ;;
		reset)
			echo "# $kind/$fault: $(stats | jq .faults.resets) connections dropped" ;;
		esac
		[ $fault = reset ] ||
			check "$kind/$fault: the write was read back before anything was sent again" \
				grep -q "read back" run.err
		sleep 2 # a late landing, if any, is counted too
		eq "$kind/$fault: the organisation as without faults" "$(outcome)" "$want"
		if [ $fault = restart ]; then
			got=$(($(writes_in "$W/dv1.err") + $(writes_in "$W/dv.err")))
		else
			got=$(writes_in "$W/dv.err")
			eq "$kind/$fault: dvsim's write count agrees with its trace" \
				"$(stats | jq .writes.total)" "$got"
		fi
		echo "# $kind/$fault: $got writes applied, $need needed"
		eq "$kind/$fault: duplicate writes" "$((got - need))" 0
		total_dups=$((total_dups + got - need))
		stop_dvsim
	done
}

# start_dvsim_at PORT ARGS...: dvsim again on PORT (the port may take a
# moment to be free)
start_dvsim_at() {
	p=$1
	shift
	i=0
	while :; do
		rm -f "$W/dv.out"
		"$DVSIM" --listen "127.0.0.1:$p" ${DVSIM_VARIANT:+--variant "$DVSIM_VARIANT"} "$@" >"$W/dv.out" 2>"$W/dv.err" &
		DV_PID=$!
		j=0
		while ! grep -q 'listening on' "$W/dv.out" 2>/dev/null && kill -0 "$DV_PID" 2>/dev/null && [ $j -lt 100 ]; do
			sleep 0.05
			j=$((j + 1))
		done
		grep -q 'listening on' "$W/dv.out" && return 0
		i=$((i + 1))
		[ $i -gt 20 ] && { echo "dvsim did not start again:"; cat "$W/dv.err"; exit 1; }
		sleep 0.1
	done
}

one_case "mailbox PATCH" "set_delivery" "part PATCH mailboxes\\(" delivery
one_case "approval" "approve" "part PATCH " approval
one_case "AddPrivilegesRole" "grant_privileges" "AddPrivilegesRole" privileges
echo "# duplicate writes in all: $total_dups"
done_checks
