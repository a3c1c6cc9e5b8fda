#!/usr/bin/env bash
# make bench: figures, printed, never asserted. Run inside tests/support/session.sh (Xvfb, D-Bus).
#   start-up:  process start -> first screen painted (the UI calls ui_ready), release build
#   memory:    resident memory of the idle app, all its processes (WebKit runs several)
#   package:   size of the .deb
set -euo pipefail
cd "$(dirname "$0")/../.."
app=target/release/tollgate
runs=${BENCH_RUNS:-7}
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
export TOLLGATE_DATA_DIR="$data" TOLLGATE_KEYRING_SERVICE="tollgate-bench-$$" TOLLGATE_LOG=off

printf '%-44s %12s %12s %8s\n' "figure" "measured" "target" "ratio"
row() { printf '%-44s %12s %12s %8s\n' "$1" "$2" "$3" "$4"; }

# Warm-up run (page cache), then timed runs.
TOLLGATE_STARTUP_PROBE=1 timeout 60 "$app" >/dev/null 2>&1 || true
times=()
for _ in $(seq 1 "$runs"); do
  ms=$(TOLLGATE_STARTUP_PROBE=1 timeout 60 "$app" 2>/dev/null | awk '/^first-screen-ms/ {print $2}')
  [ -n "$ms" ] || { echo "bench: the app did not report its first screen" >&2; exit 1; }
  times+=("$ms")
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
median=$(echo "$sorted" | awk -v n="$runs" 'NR==int((n+1)/2)')
worst=$(echo "$sorted" | tail -1)
row "start to first screen, median of $runs (ms)" "$median" "1500" "$(awk -v a="$median" 'BEGIN{printf "%.2f", a/1500}')"
row "start to first screen, worst (ms)" "$worst" "1500" "$(awk -v a="$worst" 'BEGIN{printf "%.2f", a/1500}')"

# Idle memory: start, let it settle, then over the app and its WebKit children: PSS (each
# shared library page counted once, split among the processes that map it) and summed RSS
# (which counts the shared WebKit/GTK libraries once per process).
TOLLGATE_STARTUP_PROBE=1 TOLLGATE_STARTUP_PROBE_STAY=1 "$app" >/dev/null 2>&1 &
pid=$!
sleep 8
tree() { echo "$1"; for c in $(pgrep -P "$1" || true); do tree "$c"; done; }
pss_kb=0; rss_kb=0; procs=0
for p in $(tree "$pid"); do
  [ -r "/proc/$p/smaps_rollup" ] || continue
  pss_kb=$(( pss_kb + $(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup") ))
  rss_kb=$(( rss_kb + $(awk '/^Rss:/{print $2}' "/proc/$p/smaps_rollup") ))
  procs=$(( procs + 1 ))
done
kill "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
pss_mb=$(( pss_kb / 1024 )); rss_mb=$(( rss_kb / 1024 ))
row "idle memory, PSS of $procs processes (MB)" "$pss_mb" "200" "$(awk -v a="$pss_mb" 'BEGIN{printf "%.2f", a/200}')"
row "idle memory, summed RSS of $procs (MB)" "$rss_mb" "200" "$(awk -v a="$rss_mb" 'BEGIN{printf "%.2f", a/200}')"

deb=$(ls -t target/release/bundle/deb/*.deb 2>/dev/null | head -1 || true)
if [ -n "$deb" ]; then
  size_mb=$(awk -v b="$(stat -c %s "$deb")" 'BEGIN{printf "%.1f", b/1048576}')
  row ".deb size (MB)" "$size_mb" "20" "$(awk -v a="$size_mb" 'BEGIN{printf "%.2f", a/20}')"
fi
./target/release/examples/bench
./target/release/examples/catalog_bench
./target/release/examples/sync_bench
./target/release/examples/testfire_bench
./target/release/examples/door_bench
./target/release/examples/load_bench
# Tollgate's receiver beside Stripe Sync Engine (npm, installed by the example into bench/peer).
./target/release/examples/peer_bench
ledger_db="$data/ledger-1m.sqlite3"
./target/release/examples/ledger_bench --db "$ledger_db"

# The Plans screen with 2,000 prices: the UI types a query a key at a time (and deletes it
# again) while timing every animation frame; it prints what it saw and exits.
plans_db="$data/plans-2000.sqlite3"
./target/release/examples/catalog_bench --plans-db "$plans_db" 2>/dev/null
probe=$(TOLLGATE_DATABASE_URL="sqlite://$plans_db" TOLLGATE_UI_PROBE="plans:partner clinic annual eur" timeout 120 "$app" 2>/dev/null | awk '/^ui-probe/')
[ -n "$probe" ] || { echo "bench: the Plans screen did not report its frame probe" >&2; exit 1; }
field() { echo "$probe" | awk -v k="$1" '{for (i = 1; i < NF; i++) if ($i == k) print $(i + 1)}'; }
max_frame=$(field max-frame-ms)
row "Plans, 2,000 prices: longest frame typing (ms)" "$max_frame" "50" "$(awk -v a="$max_frame" 'BEGIN{printf "%.2f", a/50}')"
row "  frames over 50 ms / frames" "$(field frames-over-50ms)/$(field frames)" "0" "-"
row "  keystroke to painted result, median (ms)" "$(field keystroke-to-paint-median-ms)" "-" "-"
row "  keystroke to painted result, worst (ms)" "$(field keystroke-to-paint-worst-ms)" "-" "-"

# The Commissions screen over the 1,000,000-row ledger: each kind of filter change (currency,
# tier, plan type, clear, group by, quarter, week, flagged only, by expert, back), timed in the
# window from the change to the painted table and chart (report and chart in one IPC answer).
probe=$(TOLLGATE_DATABASE_URL="sqlite://$ledger_db" TOLLGATE_UI_PROBE=commissions timeout 180 "$app" 2>/dev/null | awk '/^ui-probe/')
[ -n "$probe" ] || { echo "bench: the Commissions screen did not report its probe" >&2; exit 1; }
worst=$(field worst-ms)
row "Commissions, filter change to paint, worst (ms)" "$worst" "200" "$(awk -v a="$worst" 'BEGIN{printf "%.2f", a/200}')"
row "  median of $(field changes) changes (ms)" "$(field median-ms)" "200" "-"
row "  slowest change, rows in view, error shown" "$(field worst-change)" "$(field rows)" "$(field error)"
echo "  per change, to paint (ms): $(echo "$probe" | grep -o '[a-z-]*-ms [0-9]*' | grep -v -e '^median' -e '^worst' | tr '\n' ' ')"
echo "  per change, answer in / store's report / store's chart (ms): $(field answered-ms)"
bin_mb=$(awk -v b="$(stat -c %s "$app")" 'BEGIN{printf "%.1f", b/1048576}')
row "release binary (MB)" "$bin_mb" "-" "-"
