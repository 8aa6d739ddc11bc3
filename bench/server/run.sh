#!/usr/bin/env bash
# Server upload benchmark over loopback TLS: CLIENTS (default 200) concurrent
# clients, each enrolled and signed in first, then all at once send one
# referral with one ~4 MB photo in 4 MiB chunks (as the app sends) through
# their own pinned TLS connection. Prints throughput, latency (manifest → signed receipt, per
# client) and the server's peak resident memory (VmHWM). Release build.
#
#   bench/server/run.sh            # 200 clients
#   CLIENTS=50 bench/server/run.sh
#   S3=1 bench/server/run.sh       # media in an S3 bucket (s3s-fs on
#                                  # loopback, installed by scripts/test.sh)
#   VIDEO_MB=400 bench/server/run.sh
#       # each client sends one generated ~400 MB MP4 instead (4 MiB chunks;
#       # 50 clients unless CLIENTS says otherwise). Needs about twice the
#       # files' total on the data folder's disk (chunks, then the joined
#       # file); stops after LOAD_TIMEOUT_SECONDS (default 1800).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
VIDEO_MB="${VIDEO_MB:-}"
if [ -n "$VIDEO_MB" ]; then CLIENTS="${CLIENTS:-50}"; else CLIENTS="${CLIENTS:-200}"; fi
PASSWORD="benchmark password 1234"

cargo build --release --locked -p clinshare-server --bin clinshare-server --example upload_load
# SERVER_BIN: another build of the server, to compare two of them in turn.
BIN="${SERVER_BIN:-$ROOT/target/release/clinshare-server}"
LOAD="$ROOT/target/release/examples/upload_load"

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
DATA="$WORK/data"

if [ -n "$VIDEO_MB" ]; then
    # Chunks and the joined copy of every file at once, and the stored files.
    NEED_MB=$((CLIENTS * VIDEO_MB * 2 + 1024))
    FREE_MB="$(df -Pm "$WORK" | awk 'NR == 2 {print $4}')"
    if [ "$FREE_MB" -lt "$NEED_MB" ]; then
        echo "video mode needs ${NEED_MB} MB free under $WORK, there are ${FREE_MB}" >&2
        exit 1
    fi
    MEDIA="video:$VIDEO_MB"
    # The last chunk's request waits for the file's turn to be joined and
    # verified (one per core), behind up to CLIENTS others.
    SERVE_ARGS=(--request-timeout 1200s)
else
    # Random noise compresses badly, so the JPEG is ~4 MB at a plausible size.
    convert -size 2800x1900 xc: +noise Random -quality 87 "$WORK/photo.jpg"
    MEDIA="$WORK/photo.jpg"
    SERVE_ARGS=()
fi

TEAM_ID="$("$BIN" --data-dir "$DATA" --json admin team add "Tissue Viability" --org Bench --accepts-referrals \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["team_id"])')"
"$BIN" --data-dir "$DATA" admin team add "District Nurses" --org Bench >/dev/null
BENCH_PASSWORD="$PASSWORD" "$BIN" --data-dir "$DATA" admin user add bench --team "District Nurses" \
    --password-env BENCH_PASSWORD >/dev/null
for _ in $(seq "$CLIENTS"); do "$BIN" --data-dir "$DATA" admin enrol-code; done > "$WORK/codes"

BLOB_ARGS=()
S3_PID=""
if [ -n "${S3:-}" ]; then
    S3S="${CLINSHARE_S3S_FS:-$ROOT/target/tools/s3s-fs/bin/s3s-fs}"
    mkdir -p "$WORK/s3/bench"
    S3_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    "$S3S" --host 127.0.0.1 --port "$S3_PORT" --access-key bench --secret-key bench-secret "$WORK/s3" >/dev/null 2>&1 &
    S3_PID=$!
    trap '[ -n "$S3_PID" ] && kill "$S3_PID" 2>/dev/null; cleanup' EXIT
    export AWS_ENDPOINT="http://127.0.0.1:$S3_PORT" AWS_ALLOW_HTTP=true AWS_REGION=us-east-1 \
        AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret
    BLOB_ARGS=(--blob-store s3://bench/media)
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$S3_PORT") 2>/dev/null && break; sleep 0.1; done
fi
# The disk's own ceiling for the same work, measured just before: CLIENTS
# files of the photo's size written at once on the data folder's file
# system, each fsynced (no TLS, hashing or checks). A durable server cannot
# beat it; this machine's disk varies from minute to minute.
disk_baseline() {
    python3 - "$WORK/disk" "$CLIENTS" "$(stat -c %s "$WORK/photo.jpg")" <<'PY'
import os, sys, threading, time
d, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(d, exist_ok=True)
data = os.urandom(size)
def one(i):
    with open(os.path.join(d, str(i)), "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
t = time.monotonic()
threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
for th in threads: th.start()
for th in threads: th.join()
print(f"{n * size / 1e6 / (time.monotonic() - t):.0f}")
PY
    rm -rf "$WORK/disk"
}
# (Not for videos: it would write all of them once more.)
[ -z "${S3:-}" ] && [ -z "$VIDEO_MB" ] && DISK_MBS="$(disk_baseline)"
"$BIN" --data-dir "$DATA" "${BLOB_ARGS[@]}" --json serve --listen 127.0.0.1:0 "${SERVE_ARGS[@]}" > "$WORK/ready" 2> "$WORK/server.log" &
SERVER_PID=$!
for _ in $(seq 100); do [ -s "$WORK/ready" ] && break; sleep 0.1; done
ADDR="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["listening"])' "$WORK/ready")"
PIN="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["spki_sha256_hex"])' "$WORK/ready")"

if [ -n "$VIDEO_MB" ]; then
    echo "clients: $CLIENTS, video: ${VIDEO_MB} MB of media data each, cores: $(nproc)"
else
    echo "clients: $CLIENTS, photo: $(stat -c %s "$WORK/photo.jpg") bytes before stripping, cores: $(nproc)"
fi
SERVER_PID="$SERVER_PID" CLK_TCK="$(getconf CLK_TCK)" \
    "$LOAD" "$ADDR" "$PIN" "$MEDIA" "$WORK/codes" bench "$PASSWORD" "$TEAM_ID" | tee "$WORK/result.json"
echo "server peak RSS (VmHWM): $(grep VmHWM /proc/$SERVER_PID/status | awk '{print $2, $3}')"
# Both processes share the cores: what the server alone costs per MB in the
# timed phase, and what that would sustain on cores of its own.
python3 - "$WORK/result.json" "$(nproc)" "${DISK_MBS:-}" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
cores = int(sys.argv[2])
if sys.argv[3]:
    disk = float(sys.argv[3])
    print(f"disk alone, same files written and fsynced at once: {disk:.0f} MB/s; "
          f"server {r['throughput_mb_per_s']:.0f} MB/s = {r['throughput_mb_per_s'] / disk:.2f}x that")
mb = r["clients"] * r["photo_bytes"] / 1e6
s, l = r.get("server_cpu_seconds"), r.get("load_cpu_seconds")
if s and l:
    print(f"timed phase CPU seconds: server {s:.2f}, load generator {l:.2f} "
          f"(of {r['wall_seconds'] * cores:.2f} available)")
    print(f"server CPU per MB: {s * 1000 / mb:.2f} ms, i.e. {mb * cores / s:.0f} MB/s "
          f"on {cores} cores of its own")
PY
if [ -n "$S3_PID" ]; then
    echo "s3s-fs peak RSS (VmHWM): $(grep VmHWM /proc/$S3_PID/status | awk '{print $2, $3}')"
fi
