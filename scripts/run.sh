#!/usr/bin/env bash
# Builds the desktop app with the Tauri CLI and runs it with a local encrypted
# store (CLINSHARE_DATA_DIR, default: the platform data directory), beside a
# local approved server for the demo (clinshare-server on https://127.0.0.1:8443,
# its data in CLINSHARE_DEMO_SERVER_DIR, default ~/.local/share/clinshare-demo-server,
# with two teams and a one-time enrolment code printed). Installs what is
# missing first.
#
# On a machine without a desktop session it still runs: a virtual display
# (Xvfb) and a private keyring are started for it, and it says so.
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$ROOT"

apt_install "${APT_BUILD[@]}" "${APT_RUN[@]}" xvfb
need_node
need_rust
ui_install

say "Building the app (Tauri CLI; the UI is built by its beforeBuildCommand)"
TAURI_APP_PATH=src-tauri TAURI_FRONTEND_PATH=ui \
    ui/node_modules/.bin/tauri build --debug --no-bundle --ci

TARGET="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
APP="$TARGET/debug/clinshare-app"
[ -x "$APP" ] || die "the build did not produce $APP"

say "Building the approved server, the command line and the HEIF decoding helper"
cargo build --locked -p clinshare-server -p clinshare-cli -p clinshare-core --bins
SERVER="$TARGET/debug/clinshare-server"
SERVER_DIR="${CLINSHARE_DEMO_SERVER_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/clinshare-demo-server}"
# The app signs in to the server with the clinician's own name and
# passphrase, so the demo accounts' passwords are the passphrases to choose
# when setting up ClinShare.
export CLINSHARE_DEMO_PASSWORD="${CLINSHARE_DEMO_PASSWORD:-demo passphrase for the nurse}"
export CLINSHARE_DEMO_RECIPIENT_PASSWORD="${CLINSHARE_DEMO_RECIPIENT_PASSWORD:-demo passphrase for the consultant}"
if [ ! -d "$SERVER_DIR" ]; then
    say "Setting up the demo server in $SERVER_DIR"
    "$SERVER" --data-dir "$SERVER_DIR" admin team add "District Nurses" --org "Demo Health Board"
    "$SERVER" --data-dir "$SERVER_DIR" admin team add "Tissue Viability" --org "Demo Health Board" --accepts-referrals
    "$SERVER" --data-dir "$SERVER_DIR" admin user add "Demo Nurse" --team "District Nurses" --password-env CLINSHARE_DEMO_PASSWORD
    "$SERVER" --data-dir "$SERVER_DIR" admin user add "Demo Consultant" --team "Tissue Viability" --password-env CLINSHARE_DEMO_RECIPIENT_PASSWORD
fi
"$SERVER" --data-dir "$SERVER_DIR" serve --listen 127.0.0.1:8443 >"$SERVER_DIR/serve.out" 2>"$SERVER_DIR/serve.log" &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q "TLS pin" "$SERVER_DIR/serve.out" 2>/dev/null && break; sleep 0.2; done
say "Demo approved server: $(head -1 "$SERVER_DIR/serve.out")"
say "$(grep "TLS pin" "$SERVER_DIR/serve.out" || echo "the server did not start: see $SERVER_DIR/serve.log")"
say "One-time enrolment code: $("$SERVER" --data-dir "$SERVER_DIR" admin enrol-code --expires-in 24h 2>/dev/null | tail -1)"
say "In ClinShare, set up as \"Demo Nurse\" with the passphrase \"$CLINSHARE_DEMO_PASSWORD\","
say "then Settings > Approved server: address https://127.0.0.1:8443, the code and the pin above."
say "(The recipient's account is \"Demo Consultant\" / \"$CLINSHARE_DEMO_RECIPIENT_PASSWORD\", on a second data directory: CLINSHARE_DATA_DIR=DIR.)"

launch=("$APP")
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
    say "No desktop session: running in a virtual display (Xvfb); nothing will appear on screen"
    launch=(xvfb-run -a -s "-screen 0 1280x800x24" "${launch[@]}")
fi
if [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ]; then
    # No session keyring: keep a private one beside the demo data so the
    # store key survives between runs. A real desktop uses the user's keyring.
    KEYRING_HOME="${XDG_DATA_HOME:-$HOME/.local/share}/clinshare-demo-keyring"
    say "No session keyring: using a private GNOME Keyring in $KEYRING_HOME"
    say "Starting ClinShare ($APP)"
    with_keyring "$KEYRING_HOME" "${launch[@]}"
else
    say "Starting ClinShare ($APP)"
    "${launch[@]}"
fi
