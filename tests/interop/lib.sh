# Shared helpers of the interoperability scripts (sourced, not run): the
# end-to-end helpers (tests/e2e/lib.sh) plus LibreOffice and Chromium run
# headless with a profile of their own. tests/interop/run-interop.sh
# installs what they need.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../e2e/lib.sh"
OUT="$TOP/build/interop"
mkdir -p "$OUT"

CSV2JSON="$TOP/build/e2e/csv2json"
if [ ! -x "$CSV2JSON" ] || [ "$TOP/tests/e2e/csv2json.c" -nt "$CSV2JSON" ]; then
	mkdir -p "$TOP/build/e2e"
	${CC:-cc} -O1 -o "$CSV2JSON.$$" "$TOP/tests/e2e/csv2json.c" \
		$(pkg-config --cflags --libs libcjson) -lcsv &&
		mv "$CSV2JSON.$$" "$CSV2JSON" || exit 1
fi

# lo ARGS...: soffice --headless with this script's own profile (another
# instance running elsewhere is not disturbed, nor used), at most 5 min.
lo() {
	timeout 300 soffice --headless --norestore \
		"-env:UserInstallation=file://$W/lo-profile" "$@" \
		>>"$W/lo.log" 2>&1 || {
		echo "soffice $*: failed"
		tail -n 5 "$W/lo.log"
		return 1
	}
}

# chrome ARGS...: headless Chromium, no network, its own profile.
chrome() {
	timeout 120 chromium --headless --no-sandbox --disable-gpu \
		--disable-dev-shm-usage --no-first-run --user-data-dir="$W/chrome" \
		--proxy-server=127.0.0.1:9 --proxy-bypass-list='<-loopback>' \
		"$@" 2>>"$W/chrome.log"
}
