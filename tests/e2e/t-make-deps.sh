#!/bin/sh
# The Makefile installs everything building needs on a fresh Debian (a C
# compiler and the C library's headers included), names what is missing
# when it cannot install, and installs the packaging tools only for
# 'make packaging'. dpkg-query, id and apt-get are replaced by stubs.
. "$(dirname "$0")/lib.sh"

cd "$W" || exit 1
mkdir bin
# dpkg-query: every package is installed except those in $MISSING
cat >bin/dpkg-query <<'EOT'
#!/bin/sh
for p; do :; done
case " $MISSING " in
*" $p "*) echo "unknown ok not-installed" ;;
*) echo "install ok installed" ;;
esac
EOT
cat >bin/id <<'EOT'
#!/bin/sh
echo "$STUB_UID"
EOT
# apt-get: records what it was asked to install
cat >bin/apt-get <<'EOT'
#!/bin/sh
echo "$*" >>"$APT_LOG"
EOT
chmod +x bin/*
export APT_LOG="$W/apt.log"

# not root, no compiler: stop before compiling, naming what is missing
MISSING="gcc libc6-dev jq" STUB_UID=1000 PATH="$W/bin:$PATH" \
	make -n -C "$TOP" all >n.out 2>n.err
eq "not root, packages missing: make fails" $? 2
cat n.err
check "the message names the compiler package" grep -q "gcc" n.err
check "the message names the C library headers" grep -q "libc6-dev" n.err
check "the message names jq" grep -q "jq" n.err
check "the message says how to install them" grep -q "apt-get install" n.err
check "nothing was compiled" sh -c "! grep -q ' -c -o ' n.out"

# root: apt-get is asked for exactly what is missing, compiler included
: >apt.log
MISSING="gcc libc6-dev debhelper" STUB_UID=0 PATH="$W/bin:$PATH" \
	make -n -C "$TOP" all >r.out 2>r.err
eq "root: make goes on" $? 0
cat apt.log
check "root: apt-get installs gcc and libc6-dev" \
	grep -q "install .*gcc libc6-dev" apt.log
check "plain make does not install debhelper" sh -c "! grep -q debhelper apt.log"

: >apt.log
MISSING="debhelper" STUB_UID=0 PATH="$W/bin:$PATH" \
	make -n -C "$TOP" packaging >p.out 2>p.err
check "make packaging installs debhelper" grep -q "install .*debhelper" apt.log

# AUTO_INSTALL=0 (the Debian package build): never apt-get, just say
: >apt.log
MISSING="libcsv-dev" STUB_UID=0 PATH="$W/bin:$PATH" \
	make -n -C "$TOP" AUTO_INSTALL=0 all >a.out 2>a.err
eq "AUTO_INSTALL=0, a package missing: make fails" $? 2
check "AUTO_INSTALL=0: names the package" grep -q "libcsv-dev" a.err
check "AUTO_INSTALL=0: apt-get not run" test ! -s apt.log

done_checks
