#!/bin/sh
# make install into a scratch DESTDIR, then run the installed mbxfix from
# another folder with the job file in a third one; its man pages, the
# templates and the bash completion are where they belong; make uninstall
# removes everything again.
. "$(dirname "$0")/lib.sh"

cd "$W" || exit 1
root=$W/root
# install what the test runs (make asan: its own builds)
bindir=$(dirname "$MBXFIX")
build=build
[ "$bindir" = "$TOP" ] || build=${bindir#"$TOP"/}
make -s -C "$TOP" install DESTDIR="$root" PREFIX=/opt/mbx BIN="$bindir" \
	BUILD="$build" >install.out 2>&1
eq "make install succeeds" $? 0
cat install.out
for f in bin/mbxfix bin/dvsim share/man/man1/mbxfix.1 share/man/man5/mbxfix-job.5 \
	share/bash-completion/completions/mbxfix \
	share/mbxfix/templates/remediate.csv \
	share/mbxfix/templates/privileges/server-side-sync.cfg \
	lib/systemd/system/mbxfix-rerun@.timer lib/systemd/system/mbxfix-rerun@.service \
	lib/systemd/system/mbxfix-run@.service share/doc/mbxfix/examples/cron.d-mbxfix \
	share/doc/mbxfix/examples/wave-3.cfg; do
	check "installed: PREFIX/$f" test -s "$root/opt/mbx/$f"
done
check "mbxfix is executable" test -x "$root/opt/mbx/bin/mbxfix"
check "the man page names the installed templates folder" \
	grep -q '/opt/mbx/share/mbxfix/templates/' "$root/opt/mbx/share/man/man1/mbxfix.1"
check "the man page carries the version" \
	grep -q "mbxfix $("$MBXFIX" --version | sed -n 's/^mbxfix //p')" "$root/opt/mbx/share/man/man1/mbxfix.1"
check "no @PLACEHOLDER@ left in pages, units, examples" \
	sh -c "! grep -rIq '@[A-Z]*@' '$root'"
if command -v man >/dev/null; then
	man -l "$root/opt/mbx/share/man/man1/mbxfix.1" >man1.txt 2>man1.err
	check "man -l renders mbxfix(1)" grep -q "EXIT STATUS" man1.txt
	man -l "$root/opt/mbx/share/man/man5/mbxfix-job.5" >man5.txt 2>man5.err
	check "man -l renders mbxfix-job(5)" grep -q "run.keep" man5.txt
fi

# a run of the installed program: job in one folder, started from another
start_dvsim --generate 12 --seed 5
mkdir jobs elsewhere
{
	echo "mailbox"
	addresses
} >jobs/in.csv
write_job jobs/nightly.cfg "$BASE"
sed -i "s|^input = .*|input = \"$W/jobs/in.csv\";|; s|^output = .*|output = \"$W/results\";|" jobs/nightly.cfg
(cd elsewhere && "$root/opt/mbx/bin/mbxfix" run --no-progress "$W/jobs/nightly.cfg" >../run.out 2>../run.err)
eq "the installed mbxfix runs the job" $? 0
cat run.out run.err
eq "every row ok" "$(col result "$W/results/e2e/latest/results.csv" | sort -u)" "ok"
check "nothing written in the folder it was started from" \
	sh -c "[ -z \"\$(ls -A elsewhere)\" ]"
"$root/opt/mbx/bin/mbxfix" --version >v.out
check "the installed mbxfix prints its version" grep -q '^mbxfix [0-9]' v.out

# the installed completion
comp=$(cd jobs && bash -c ". '$root/opt/mbx/share/bash-completion/completions/mbxfix'
	COMP_WORDS=(mbxfix run ''); COMP_CWORD=2; _mbxfix; echo \"\${COMPREPLY[*]}\"")
eq "completion offers the job files" "$comp" "nightly.cfg"

make -s -C "$TOP" uninstall DESTDIR="$root" PREFIX=/opt/mbx >uninstall.out 2>&1
eq "make uninstall succeeds" $? 0
eq "make uninstall leaves no file" "$(find "$root" -type f | wc -l | tr -d ' ')" 0

done_checks
