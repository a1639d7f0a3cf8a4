# Sourced by tests/e2e/t-graph-*.sh: the Microsoft Graph checks
# (exchange_checks) against dvsim's Graph simulation.
. "$(dirname "$0")/lib-actions.sh"

# graph_job NAME INPUT ACTIONS [RUN_SETTINGS]: write_job with the checks on.
graph_job() {
	write_job "$1" "$2" "$3" "${4:-}"
	printf 'exchange_checks = true;\ngraph_url = "%s";\n' "$URL" >>"$T/$1.cfg"
}

# mbxfix COMMAND NAME: run a command of a job; RC, R as run_job sets them.
run_cmd() {
	E2E_SECRET=dvsim-demo-secret "$MBXFIX" "$1" --no-progress "$T/$2.cfg" \
		>"$T/$2.stdout" 2>"$T/$2.stderr"
	RC=$?
	case $1 in
	run) d=latest ;;
	*) d=latest-$1 ;;
	esac
	R="$T/$2.results.json"
	if [ -f "$T/out/$2/$d/results.csv" ]; then
		"$CSV2JSON" <"$T/out/$2/$d/results.csv" >"$R"
	else
		echo '[]' >"$R"
		echo "no results.csv for $2 (exit $RC):"
		tail -n 20 "$T/$2.stderr"
	fi
}

# expected_causes: from dvsim's state, {address: cause} for every user
# mailbox, "" for one whose Exchange side is sound. What dvsim holds per
# user (simulator.exchange) decides, in the order mbxfix checks.
expected_causes() {
	state | jq '
	  .entities as $e
	  | .simulator.exchange as $x
	  | ($e.emailserverprofiles | map({key: .emailserverprofileid, value: .servertype}) | from_entries) as $type
	  | [ $e.mailboxes[]
	      | select(._regardingobjectid_value as $u | $x[$u] != null)
	      | ($x[._regardingobjectid_value]) as $s
	      | ($type[._emailserverprofile_value // ""] // 3) as $t
	      | { key: .emailaddress,
	          value: (if $s.recreated then "UserRecreated"
	                  elif $s.tenant then "OtherTenant"
	                  elif ($t == 0 or $t == 2) and $s.location != "onprem" and $s.licensed then "HybridProfileForCloudMailbox"
	                  elif ($t == 3) and ($s.licensed | not) then "NoExchangeLicence"
	                  elif ($s.address | ascii_downcase) != (.emailaddress | ascii_downcase) then "AddressDiffersFromExchange"
	                  else "" end) } ]
	  | from_entries'
}
