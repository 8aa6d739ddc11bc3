#!/usr/bin/env bash
# Builds the desktop app with the Tauri CLI and runs it with a local encrypted
# store (CLINSHARE_DATA_DIR, default: the platform data directory). Installs
# what is missing first.
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

APP="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/clinshare-app"
[ -x "$APP" ] || die "the build did not produce $APP"

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
    exec "${launch[@]}"
fi
