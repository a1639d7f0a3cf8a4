#!/bin/sh
# make interop: mbxfix against what spreadsheets and browsers really do.
# Installs what the scripts need when it is missing (Debian's
# libreoffice-calc-nogui, chromium, nodejs and npm; csv-spectrum from npm
# into build/interop/), then runs tests/interop/t-*.sh; each script's
# output is kept in build/interop/.
top=$(cd "$(dirname "$0")/../.." && pwd)
out="$top/build/interop"
mkdir -p "$out"
export TOP="$top"
: "${MBXFIX:=$top/mbxfix}" "${DVSIM:=$top/dvsim}"
export MBXFIX DVSIM

need=
command -v soffice >/dev/null || need="$need libreoffice-calc-nogui"
command -v chromium >/dev/null || need="$need chromium"
command -v node >/dev/null || need="$need nodejs"
command -v npm >/dev/null || need="$need npm"
command -v iconv >/dev/null || need="$need libc-bin"
if [ -n "$need" ]; then
	echo "interop: installing$need"
	if [ "$(id -u)" != 0 ]; then
		echo "interop: not root; install$need with apt-get"
		exit 1
	fi
	apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			-o DPkg::Lock::Timeout=600 --no-install-recommends $need ||
		exit 1
fi
if [ ! -f "$out/node_modules/csv-spectrum/package.json" ]; then
	echo "interop: installing csv-spectrum (npm)"
	(cd "$out" && npm install --no-audit --no-fund --no-save --prefix . \
		csv-spectrum@2.0.0 >npm.log 2>&1) || {
		cat "$out/npm.log"
		exit 1
	}
fi

pass=0 fail=0
for t in "$top"/tests/interop/t-*.sh; do
	name=$(basename "$t" .sh)
	start=$(date +%s)
	if sh "$t" >"$out/$name.log" 2>&1; then
		pass=$((pass + 1))
		echo "ok   interop-$name ($(($(date +%s) - start))s)"
	else
		fail=$((fail + 1))
		echo "FAIL interop-$name (see $out/$name.log)"
		tail -n 20 "$out/$name.log" | sed 's/^/    /'
	fi
done
echo "$pass passed, $fail failed; screenshot of a report: $out/report.png"
[ "$fail" -eq 0 ]
