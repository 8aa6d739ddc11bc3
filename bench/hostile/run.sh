#!/usr/bin/env bash
# run.sh — what crafted hostile inputs cost ClinShare: for each (a PNG of
# 14142² RGBA16, a JPEG claiming 65500², a progressive JPEG with 10,000
# scans, a HEIC grid of 4,096 tiles, a WebP of 16383², an MP4 listing 20
# million samples, and a folder of 8 PNG bombs imported at once) the
# outcome of `clinshare import` and `clinshare strip --verify full` (refused
# with its code, or kept), their wall time and peak resident memory. Then
# the shared corpus is imported, to show nothing legitimate is refused.
# Goal: every bomb refused or handled in under 3 s, peak RSS under 400 MB.
#
# Then, for each bomb, the approved server's intake: a real laptop refuses
# a bomb before sending it, so `upload_load --hostile` acts as a modified
# client that sends the file as it is, as the one photo of a referral, in
# 4 MiB chunks, to a fresh `clinshare-server` (its own data folder and
# process per file) on 127.0.0.1. The row gives the server's answer (HTTP
# status and the verifier's code), the time from the first chunk to that
# answer, and the server's peak resident memory (VmHWM) after it. The
# recipient's `inbox open` is not measured: the last lines say whether the
# server refused every bomb (then no inbox can hold one) or which it
# accepted and delivered (a finding).
#
# Usage: bench/hostile/run.sh [WORKDIR]   (default /tmp/clinshare-hostile)
# Needs a Secret Service session (scripts/bench.sh provides one; without
# one this script starts its own), GNU time and python3. Release build.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ] && [ -z "${CLINSHARE_HOSTILE_IN_KEYRING:-}" ]; then
    source "$root/scripts/lib/common.sh"
    d=$(mktemp -d)
    trap 'remove_private_dir "$d"' EXIT
    CLINSHARE_HOSTILE_IN_KEYRING=1 with_keyring "$d" bash "$0" "$@"
    exit $?
fi
work=${1:-/tmp/clinshare-hostile}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
(cd "$root" && cargo build -q --release --locked -p clinshare-cli \
    && cargo build -q --release --locked -p clinshare-media --example make_bombs \
    && cargo build -q --release --locked -p clinshare-server --bin clinshare-server \
        --example upload_load)
bin=$CARGO_TARGET_DIR/release/clinshare
server_bin=$CARGO_TARGET_DIR/release/clinshare-server
load=$CARGO_TARGET_DIR/release/examples/upload_load
rm -rf "$work"
mkdir -p "$work/bombs" "$work/eight"
"$CARGO_TARGET_DIR/release/examples/make_bombs" "$work/bombs" >/dev/null
for i in $(seq 8); do cp "$work/bombs/png-14142-rgba16.png" "$work/eight/bomb-$i.png"; done

export CLINSHARE_PASSPHRASE="hostile benchmark passphrase"
data=$work/laptop
"$bin" --data-dir "$data" init --user Bench >/dev/null
# An array, not a function: GNU time runs programs, not shell functions.
cs=("$bin" --data-dir "$data" --user Bench)

# measure LABEL CMD...: outcome (the first error code, or "kept"), seconds
# and peak RSS of one run.
measure() {
    local label=$1; shift
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" > "$work/out" 2> "$work/err" || true
    local secs kib outcome
    # GNU time puts "Command exited with non-zero status N" first.
    read -r secs kib < <(tail -1 "$work/time")
    # (grep finds nothing when the file was kept: not a failure here.)
    outcome=$({ grep -o '\[media\.[a-z_]*\]\|media\.[a-z_]*' "$work/err" "$work/out" 2>/dev/null \
        || true; } | head -1 | tr -d '[]' | sed 's/.*://')
    # Without a code, a failure is not "kept".
    [ -n "$outcome" ] || outcome=$(grep -o 'non-zero status [0-9]*\|terminated by signal [0-9]*' \
        "$work/time" | sed 's/^/failed, /') || true
    [ -n "$outcome" ] || outcome=kept
    printf "%-26s %-22s %-31s %7.2f %8.0f\n" "$(basename "${@: -1}")" "$label" "$outcome" "$secs" "$((kib / 1024))"
}

# server_intake FILE: a fresh server (its own data folder, team, user and
# enrolment code) on loopback; the modified client sends FILE to it once.
# One row: the server's answer, seconds from the first chunk to it, and
# the server's VmHWM after it. Bounded: 60 s for the upload, then killed.
server_pid=""
trap '[ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true' EXIT
server_intake() {
    local f=$1 srv=$work/server
    rm -rf "$srv"
    mkdir -p "$srv"
    local sd=(--data-dir "$srv/data") team addr pin row
    team=$("$server_bin" "${sd[@]}" --json admin team add "Tissue Viability" --org Bench \
        --accepts-referrals | python3 -c 'import json,sys; print(json.load(sys.stdin)["team_id"])')
    "$server_bin" "${sd[@]}" admin team add "District Nurses" --org Bench >/dev/null
    HOSTILE_PASSWORD="hostile benchmark password" "$server_bin" "${sd[@]}" admin user add bench \
        --team "District Nurses" --password-env HOSTILE_PASSWORD >/dev/null
    "$server_bin" "${sd[@]}" admin enrol-code > "$srv/codes"
    "$server_bin" "${sd[@]}" --json serve --listen 127.0.0.1:0 > "$srv/ready" 2> "$srv/log" &
    server_pid=$!
    for _ in $(seq 100); do [ -s "$srv/ready" ] && break; sleep 0.1; done
    if [ ! -s "$srv/ready" ]; then
        echo "the server did not start for $(basename "$f"): $(tail -1 "$srv/log")" >&2
        exit 1
    fi
    addr=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["listening"])' "$srv/ready")
    pin=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["spki_sha256_hex"])' "$srv/ready")
    SERVER_PID=$server_pid LOAD_TIMEOUT_SECONDS=60 timeout 90 "$load" --hostile "$addr" "$pin" \
        "$srv/codes" bench "hostile benchmark password" "$team" "$f" \
        > "$srv/answer.json" 2> "$srv/load.err" || true
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
    # "422 media.x" (body code upload.media_rejected), "STATUS code" for
    # any other refusal, "200 accepted, delivered" when a receipt came back.
    row=$(python3 - "$srv/answer.json" "$srv/load.err" "$work/intake.txt" "$(basename "$f")" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().split("\n")
lines = [l for l in lines if l.strip()]
r = json.loads(lines[-1]) if lines else {}
if not r or "error" in r:
    err = r.get("error") or (open(sys.argv[2]).read().strip().splitlines() or ["?"])[-1]
    outcome, verdict = f"no answer: {err[:40]}", "unanswered"
elif r["accepted"]:
    outcome, verdict = f"{r['status']} accepted, delivered", "accepted"
elif r["code"] == "upload.media_rejected" and r["media_code"]:
    outcome, verdict = f"{r['status']} {r['media_code']}", "refused"
else:
    outcome, verdict = f"{r['status']} {r['code']}", "refused"
with open(sys.argv[3], "a") as out:
    print(f"{verdict}\t{sys.argv[4]}\t{r.get('server_vmhwm_kib_before') or 0}", file=out)
print(f"{outcome}\t{r.get('seconds', 0)}\t{r.get('server_vmhwm_kib_after') or 0}")
PY
)
    local outcome secs kib
    IFS=$'\t' read -r outcome secs kib <<< "$row"
    printf "%-26s %-22s %-31s %7.2f %8.0f\n" "$(basename "$f")" "server intake" "$outcome" "$secs" "$((kib / 1024))"
}

echo "# $(nproc) cores; goal: each refused or handled in < 3 s with peak RSS < 400 MB"
echo "# server intake: the file sent as it is by a modified client to a fresh server on"
echo "# loopback; outcome = HTTP status and the verifier's code (body code"
echo "# upload.media_rejected), seconds = first 4 MiB chunk to the answer, RSS = server VmHWM"
printf "%-26s %-22s %-31s %7s %8s\n" input command outcome seconds "RSS MB"
rm -f "$work/intake.txt"
for f in "$work"/bombs/*; do
    printf "# %s: %s bytes\n" "$(basename "$f")" "$(stat -c %s "$f")"
    measure "import" "${cs[@]}" import "$f"
    rm -rf "$work/stripped"
    measure "strip --verify full" "$bin" strip --verify full --out "$work/stripped" "$f"
    server_intake "$f"
done
measure "import (8 at once)" "${cs[@]}" import "$work/eight"

python3 - "$work/intake.txt" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
before = [int(kib) // 1024 for _, _, kib in rows if int(kib)]
if before:
    span = f"{min(before)}" if min(before) == max(before) else f"{min(before)}-{max(before)}"
    print(f"# server VmHWM just before each manifest (enrolled, signed in): {span} MB")
accepted = [name for verdict, name, _ in rows if verdict == "accepted"]
unanswered = [name for verdict, name, _ in rows if verdict == "unanswered"]
if accepted:
    print(f"# FINDING: the server ACCEPTED and delivered {', '.join(accepted)} "
          f"(HTTP 200, signed receipt): sent by a modified client, each reaches the "
          f"recipient team's inbox. `inbox open` of these is not measured here.")
if unanswered:
    print(f"# the server gave no answer for {', '.join(unanswered)}: its intake "
          f"of these is not established")
if not accepted and not unanswered:
    print("# inbox open: not measurable for these files: the server refused every one "
          "at intake, so no recipient's inbox ever holds one")
PY

corpus=$root/../shared/corpus
if [ -d "$corpus" ]; then
    /usr/bin/time -f "%e %M" -o "$work/time" "$bin" --data-dir "$data" --user Bench --json \
        import "$corpus" > "$work/corpus.json" 2>/dev/null || true
    read -r secs kib < <(tail -1 "$work/time")
    python3 - "$work/corpus.json" "$secs" "$kib" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
print(f"# shared corpus: {doc['imported']} imported, {doc['duplicate']} duplicate, "
      f"{doc['rejected']} rejected (damaged or unsupported) in {float(sys.argv[2]):.1f} s, "
      f"peak RSS {int(sys.argv[3]) // 1024} MB")
PY
fi
