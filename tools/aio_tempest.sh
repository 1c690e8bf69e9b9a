#!/usr/bin/env bash
# tools/aio.sh tempest [REGEX]: Tempest against the aio deployment.
# Writes tempest.conf from the driver's claims (tools/aio_tempest_conf.py),
# runs REGEX (default tempest.api.compute) with concurrency 2, keeps the
# subunit stream, results and skips by reason (skips.txt) under
# $AIO_DIR/tempest/results/, prints stestr's totals and exits non-zero on
# any failure.
set -eEuo pipefail
trap 'echo "aio tempest: failed (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR
AIO_DIR=$1 HOSTS=$2 REGEX=${3:-tempest.api.compute}
HERE=$(cd "$(dirname "$0")/.." && pwd)
BIN=$AIO_DIR/venv/bin
WS=$AIO_DIR/tempest
[ -e "$AIO_DIR/openrc" ] || { echo "aio: not deployed: run tools/aio.sh up" >&2; exit 1; }
# shellcheck disable=SC1091
source "$AIO_DIR/openrc"
"$BIN/openstack" token issue >/dev/null 2>&1 || {
    echo "aio: keystone does not answer: tools/aio.sh status" >&2; exit 1; }
if [ ! -d "$WS/etc" ]; then
    # A workspace registry of this deployment's own: in ~/.tempest a name an
    # earlier (deleted) $AIO_DIR registered made `tempest init` fail, saying
    # so on stdout only.
    wsfile=$AIO_DIR/etc/tempest-workspace.yaml
    rm -f "$wsfile"
    "$BIN/tempest" init --workspace-path "$wsfile" "$WS" \
        > "$AIO_DIR/logs/tempest-init.log" 2>&1 || {
        tail -5 "$AIO_DIR/logs/tempest-init.log" >&2
        echo "aio: tempest init failed: $AIO_DIR/logs/tempest-init.log" >&2
        exit 1; }
fi
"$BIN/python" "$HERE/tools/aio_tempest_conf.py" "$AIO_DIR" "$HOSTS" \
    "$WS/etc/tempest.conf"
stamp=$(date +%Y%m%d-%H%M%S)
out=$WS/results/$stamp
mkdir -p "$out"
cd "$WS"
start=$SECONDS
rc=0
# Tests of what the driver does not implement and tempest has no flag for.
exclude=$("$BIN/python" "$HERE/tools/aio_tempest_conf.py" --exclude-regex \
    "$HOSTS")
echo "aio tempest: regex '$REGEX', excluded (driver lacks them): '$exclude'"
"$BIN/tempest" run --regex "$REGEX" ${exclude:+--exclude-regex "$exclude"} \
    --concurrency 2 > "$out/console.log" 2>&1 || rc=$?
elapsed=$((SECONDS - start))
"$BIN/stestr" last --subunit > "$out/results.subunit" 2>/dev/null || true
"$BIN/subunit2junitxml" < "$out/results.subunit" > "$out/results.xml" 2>/dev/null || true
[ -s "$out/results.xml" ] ||
    echo "aio tempest: no results.xml (subunit2junitxml needs junitxml in $BIN)" >&2
# Each skip's reason, grouped (check them against the driver's claims).
"$BIN/python" "$HERE/tools/check_skips.py" --by-reason "$out/results.subunit" \
    > "$out/skips.txt" 2>&1 || true
grep -E '\.\.\. FAILED$|^(FAIL|ERROR)' "$out/console.log" | head -50 || true
sed -n '/^Totals$/,/^Sum of execute/p' "$out/console.log"
head -1 "$out/skips.txt"
echo "aio tempest: regex '$REGEX', ${elapsed}s, results in $out (exit $rc)"
exit "$rc"
