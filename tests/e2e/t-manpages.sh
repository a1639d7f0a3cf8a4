#!/bin/sh
# The man pages and the bash completion cover what the program accepts:
# every option 'mbxfix COMMAND --help' lists is in mbxfix(1) and in the
# completion of that command, every command is in both, and every
# setting src/job.c's tables accept is in mbxfix-job(5), so a new option
# or setting without documentation fails here.
. "$(dirname "$0")/lib.sh"

cd "$W" || exit 1
# the pages as text: roff's \- is a plain '-'
sed 's/\\-/-/g' "$TOP/man/mbxfix.1" >man1.txt
sed 's/\\-/-/g' "$TOP/man/mbxfix-job.5" >man5.txt
awk '/^\.SH OPTIONS/ { on = 1; next } /^\.SH/ { on = 0 } on' man1.txt >options.txt

# commands: those 'mbxfix --help' lists
"$MBXFIX" --help | sed -n 's/^  \([a-z][a-z]*\) .*/\1/p' >cmds.txt
eq "mbxfix --help lists the commands" "$(wc -l <cmds.txt | tr -d ' ')" 7
for c in $(cat cmds.txt); do
	check "mbxfix(1) describes command '$c'" grep -q "^\.B $c\$" man1.txt
	out=$(bash -c ". '$TOP/contrib/bash-completion/mbxfix'
		COMP_WORDS=(mbxfix '$c'); COMP_CWORD=1; _mbxfix; echo \"\${COMPREPLY[*]}\"")
	check "completion offers command '$c'" sh -c "echo ' $out ' | grep -q ' $c '"
done

# options: every one the help of each command lists
for c in run plan diagnose check; do
	"$MBXFIX" "$c" --help >help-$c.txt
	grep -o -- '--[a-z][a-z-]*\|^  -[a-z]' help-$c.txt | sed 's/^  //' | sort -u >opts-$c.txt
	check "'mbxfix $c --help' lists options" test -s opts-$c.txt
	comp=$(bash -c ". '$TOP/contrib/bash-completion/mbxfix'
		COMP_WORDS=(mbxfix $c -); COMP_CWORD=2; _mbxfix; echo \"\${COMPREPLY[*]}\"")
	for o in $(cat opts-$c.txt); do
		# on a bold line of the page: .B --json, .BR -q ", " --quiet
		check "OPTIONS of mbxfix(1) documents $o" grep -q -E -- "^\.(B|BR|BI|RB) (.*[ \"])?$o( |\"|\$)" options.txt
		check "completion of '$c' offers $o" sh -c "echo ' $comp ' | grep -q -- ' $o '"
	done
done
for o in --help --version; do
	check "mbxfix(1) documents $o" grep -q -- "$o" man1.txt
done
check "mbxfix(1) has the exit statuses" sh -c "grep -A 14 '^\.SH EXIT STATUS' man1.txt | grep -c '^\.B [0-3]$' | grep -qx 4"
for s in COMMANDS OPTIONS "EXIT STATUS" FILES ENVIRONMENT EXAMPLES "RUN LOG"; do
	check "mbxfix(1) has the section $s" grep -q "^\.SH $s\$" man1.txt
done

# run.log events: every event name the code passes to runlog_begin() has
# its entry in the RUN LOG section of mbxfix(1)
awk '/^\.SH RUN LOG/ { on = 1; next } /^\.SH/ { on = 0 } on' man1.txt >runlog.txt
for f in "$TOP"/src/*.c; do
	awk '/runlog_begin\(/ { line = $0; getline nxt; line = line " " nxt
		sub(/.*runlog_begin\(/, "", line); sub(/\).*/, "", line)
		while (match(line, /"[a-z_]+"/)) {
			print substr(line, RSTART + 1, RLENGTH - 2); line = substr(line, RSTART + RLENGTH)
		} }' "$f"
done | grep -v '^$' | sort -u >events.txt
tr '\n' ' ' <events.txt; echo
check "the code writes run.log events" grep -qx token_renewed events.txt
for ev in $(cat events.txt); do
	check "RUN LOG of mbxfix(1) documents the event $ev" grep -q "^\.B $ev\$" runlog.txt
done

# settings: the allowed[] tables of src/job.c, named after their loader
# (load_environment -> environment.url ...; load_root -> top level)
awk '
	/^static int load_[a-z_]*\(/ {
		fn = $0; sub(/^static int load_/, "", fn); sub(/\(.*/, "", fn)
	}
	/allowed\[\] = \{/ { inlist = 1 }
	inlist {
		line = $0
		while (match(line, /"[a-z_]+"/)) {
			name = substr(line, RSTART + 1, RLENGTH - 2)
			print (fn == "root" ? "" : fn ".") name
			line = substr(line, RSTART + RLENGTH)
		}
		if ($0 ~ /NULL\}/) inlist = 0
	}' "$TOP/src/job.c" | sort -u >settings.txt
cat settings.txt | tr '\n' ' '; echo
check "src/job.c's tables give the settings" grep -qx "run.request_timeout" settings.txt
check "the settings list holds run.keep" grep -qx "run.keep" settings.txt
check "the settings list holds log_level" grep -qx "log_level" settings.txt
check "the settings list holds auth.secret_file" grep -qx "auth.secret_file" settings.txt
for s in $(cat settings.txt); do
	check "mbxfix-job(5) documents $s" grep -q "^\.B $s\$" man5.txt
	case $s in
	environment | auth | defaults | run) ;;
	*) check "mbxfix-job(5) gives the default of $s" \
		sh -c "awk '/^\.B $s\$/ { on = 1; next } on && /^\.(TP|SH)/ { exit } on' man5.txt | grep -qi -e 'default' -e 'required'" ;;
	esac
done

done_checks
