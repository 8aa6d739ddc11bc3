#!/usr/bin/env bash
# Benchmarks: store open time and opening a 10,000-photo patient (criterion,
# release build, real keyring), import throughput and peak memory, and app
# cold start to first painted screen (real window under Xvfb). Prints the
# figures; not part of the test run.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$ROOT"
RUNS="${RUNS:-10}"

apt_install "${APT_BUILD[@]}" "${APT_RUN[@]}" xvfb
need_node
need_rust
ui_install
ui_build

KEYRING_DIR="$(mktemp -d)"
trap 'remove_private_dir "$KEYRING_DIR"' EXIT

say "Store open, 10,000 rows (criterion, release)"
with_keyring "$KEYRING_DIR" cargo bench -p clinshare-core --bench store_open --locked

say "Opening a patient with 10,000 photos to the first thumbnails (criterion, release)"
with_keyring "$KEYRING_DIR" cargo bench -p clinshare-core --bench gallery --locked

say "Import: 100 distinct 12 MP JPEGs (release, all cores)"
apt_install imagemagick libimage-exiftool-perl time
with_keyring "$KEYRING_DIR" bench/import/run.sh

say "Sync: 200 distinct 4 MB JPEGs to the real server over loopback TLS (release)"
with_keyring "$KEYRING_DIR" bench/sync/run.sh

say "App start-up to first paint ($RUNS runs, release build, Xvfb)"
cargo build --release -p clinshare-app -p clinshare-cli --locked
APP="$ROOT/target/release/clinshare-app"
DATA="$(mktemp -d)"
cat > "$KEYRING_DIR/startup.sh" <<'INNER'
set -euo pipefail
app="$1"; data="$2"; runs="$3"
CLINSHARE_PASSPHRASE="benchmark passphrase" "$(dirname "$app")/clinshare" --data-dir "$data" --user bench init >/dev/null
for i in $(seq "$runs"); do
  CLINSHARE_DATA_DIR="$data" CLINSHARE_STARTUP_PROBE=1 timeout 60 "$app" 2>/dev/null | grep -o '[0-9]*$'
done
INNER
with_keyring "$KEYRING_DIR" xvfb-run -a -s "-screen 0 1280x800x24" \
    bash "$KEYRING_DIR/startup.sh" "$APP" "$DATA" "$RUNS" | tee "$KEYRING_DIR/ms.txt"
python3 - "$KEYRING_DIR/ms.txt" <<'PY'
import statistics, sys
ms = [int(l) for l in open(sys.argv[1]) if l.strip()]
print(f"first paint: median {statistics.median(ms):.0f} ms, min {min(ms)} ms, max {max(ms)} ms over {len(ms)} runs (target < 1500 ms)")
PY
rm -rf "$DATA"
