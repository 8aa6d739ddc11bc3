#!/usr/bin/env bash
# run.sh — sync throughput and client memory: N (default 200) distinct
# ~4 MB JPEGs, in referrals of 10, sent by one `clinshare sync` pass to the
# real `clinshare-server` over loopback TLS (pinned key, signed requests,
# 4 MiB chunks). The pass includes the send-time gate (each photo re-read
# from the encrypted store and verified again) and the server's own checks.
# Prints MB/s and the client's peak resident memory. Release build.
# Needs a Secret Service session (scripts/bench.sh provides one),
# ImageMagick and GNU time. Targets: >= 150 MB/s, client peak < 250 MB.
#
# Usage: bench/sync/run.sh [WORKDIR] [N]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=${1:-/tmp/clinshare-sync-bench}
n=${2:-200}
per_referral=10
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
(cd "$root" && cargo build -q --release --locked -p clinshare-cli -p clinshare-server)
bin=$CARGO_TARGET_DIR/release/clinshare
server=$CARGO_TARGET_DIR/release/clinshare-server

rm -rf "$work"
mkdir -p "$work/photos"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

# Random noise compresses badly, so the JPEG is ~4 MB at a plausible size;
# distinct copies differ in one quantisation table entry (valid JPEGs with
# different hashes, so none is skipped as a duplicate).
convert -size 2800x1900 xc: +noise Random -quality 87 "$work/base.jpg"
python3 - "$work/base.jpg" "$work/photos" "$n" <<'PY'
import sys
src, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = bytearray(open(src, 'rb').read())
i = 2
while data[i + 1] != 0xDB:
    i += 2 + int.from_bytes(data[i + 2:i + 4], 'big')
entry = i + 5 + 63
for k in range(n):
    d = bytearray(data)
    d[entry] = 1 + (d[entry] + k) % 255
    open(f"{out}/photo_{k:03d}.jpg", 'wb').write(d)
PY

srv=$work/server
export SRV_PW="benchmark server password"
"$server" --data-dir "$srv" admin team add "District Nurses" --org Bench >/dev/null
"$server" --data-dir "$srv" admin team add "Tissue Viability" --org Bench --accepts-referrals >/dev/null
"$server" --data-dir "$srv" admin user add Bench --team "District Nurses" --password-env SRV_PW >/dev/null
code=$("$server" --data-dir "$srv" admin enrol-code)
"$server" --data-dir "$srv" --json serve --listen 127.0.0.1:0 > "$work/ready" 2> "$work/server.log" &
server_pid=$!
for _ in $(seq 100); do [ -s "$work/ready" ] && break; sleep 0.1; done
addr=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["listening"])' "$work/ready")
pin=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["spki_sha256_hex"])' "$work/ready")

data=$work/laptop
export CLINSHARE_PASSPHRASE="benchmark passphrase"
export CLINSHARE_SERVER_PASSWORD="$SRV_PW"
cs() { "$bin" --data-dir "$data" --user Bench "$@"; }
"$bin" --data-dir "$data" init --user Bench >/dev/null
cs enrol --server "https://$addr" --code "$code" --pin "$pin" >/dev/null
cs directory --refresh >/dev/null
cs patient add --nhs "943 476 5919" --family Doe --given Jane --dob 1972-04-15 >/dev/null
cs consent record --patient "943 476 5919" --level care --given-by patient --method verbal \
    --recipient "Tissue Viability" >/dev/null
cs import --patient "943 476 5919" "$work/photos" >/dev/null
cs --json media list | python3 -c '
import json, sys
for m in json.load(sys.stdin)["media"]:
    print(m["id"], m["size"])' > "$work/media"
bytes=$(awk '{s += $2} END {print s}' "$work/media")
count=$(wc -l < "$work/media")
cut -d' ' -f1 "$work/media" | xargs -n "$per_referral" | while read -r ids; do
    # shellcheck disable=SC2086
    cs referral create --patient "943 476 5919" --to "Tissue Viability" \
        --question "Benchmark referral" --media $ids >/dev/null
done

# Write back the set-up's ~1.6 GB (generated photos, the imported store)
# first: otherwise the pass's own disk syncs wait for it.
sync
echo "# $count photos, $((bytes / count / 1024)) KiB each after stripping, $per_referral per referral, $(nproc) cores"
/usr/bin/time -f "%e %M" -o "$work/time.txt" "$bin" --data-dir "$data" --user Bench --json sync > "$work/sync.json"
read -r secs kib < "$work/time.txt"
python3 - "$secs" "$kib" "$bytes" "$work/sync.json" <<'PY'
import json, sys
secs, kib, total = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
report = json.load(open(sys.argv[4]))["sync"]
print(f"delivered {len(report['delivered'])} referrals, {total / 1e6:.0f} MB in {secs:.1f} s: "
      f"{total / 1e6 / secs:.0f} MB/s (target >= 150), including sign-in and the directory")
print(f"client peak resident memory {kib / 1024:.0f} MB (target < 250 MB)")
PY
echo "server peak RSS (VmHWM): $(grep VmHWM /proc/$server_pid/status | awk '{print $2, $3}')"
