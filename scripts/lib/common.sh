# Shared by scripts/run.sh and scripts/test.sh: installs what a fresh Debian or
# Ubuntu machine lacks, then gets out of the way. Safe to run repeatedly.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '\n==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 2; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "run as root, or install sudo"
    SUDO="sudo"
fi

# System packages: build (WebKitGTK, OpenSSL for SQLCipher, D-Bus for the
# Secret Service) and run (a keyring, a virtual display for tests, the
# WebDriver for the real window) plus the tools the tests compare against.
APT_BUILD=(build-essential pkg-config curl file libssl-dev libdbus-1-dev
    libwebkit2gtk-4.1-dev librsvg2-dev libxdo-dev libheif-dev libturbojpeg0-dev)
# ffmpeg: video poster frames (run as a separate process; without it,
# videos show a placeholder).
APT_RUN=(gnome-keyring dbus dbus-x11 libsecret-tools ffmpeg)
APT_TEST=(xvfb webkit2gtk-driver sqlite3 libimage-exiftool-perl imagemagick ffmpeg
    libjpeg-turbo-progs exiv2 python3 postgresql python3-jsonschema
    orthanc orthanc-dicomweb dcmtk dicom3tools)
# Drives the system file chooser in the real-window tests; a venv for
# schemathesis (PyPI), which tests the server against its OpenAPI document.
APT_TEST+=(xdotool python3-venv)
SCHEMATHESIS_VERSION=4.32.5
# An S3-compatible server (Rust, crates.io) for the server's object-store
# test; 0.14 is the newest release that builds with Rust 1.95.
S3S_FS_VERSION=0.14.1

apt_install() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        say "Installing system packages: ${missing[*]}"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
}

need_node() {
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        apt_install nodejs npm
    fi
    local major
    major="$(node -p 'process.versions.node.split(".")[0]')"
    [ "$major" -ge 20 ] || die "Node.js 20 or newer is needed for the UI build (found $(node --version))"
}

need_rust() {
    command -v cargo >/dev/null || die "Rust (cargo) is needed: install it with rustup (https://rustup.rs)"
}

need_tauri_driver() {
    if ! command -v tauri-driver >/dev/null; then
        say "Installing tauri-driver"
        cargo install tauri-driver --version '^2' --locked
    fi
}

ui_install() {
    say "Installing UI packages from the lockfile"
    (cd "$ROOT/ui" && npm ci --no-audit --no-fund)
}

ui_build() {
    say "Building the UI"
    (cd "$ROOT/ui" && npm run build)
}

# A private Secret Service (gnome-keyring) on a private D-Bus session, with its
# data under $1; runs the rest of the arguments inside it. HOME is left alone
# (rustup lives there); XDG variables isolate the keyring files instead.
with_keyring() {
    local dir="$1"; shift
    mkdir -p "$dir/data/dbus-1/services" "$dir/cache" "$dir/runtime"
    chmod 700 "$dir/runtime"
    # Should the daemon die mid-run (it aborted once in CI: upstream
    # gnome-keyring has a race when short-lived clients connect and go at
    # once, its work items 190/196/199, and our CLI tests start hundreds),
    # D-Bus starts a new one on the next call, and by default that one holds
    # the test keyring locked, so every later test fails. These
    # session-local services (they override /usr/share's) start it
    # unlocked, as the first start below does.
    printf '#!/bin/sh\necho | exec gnome-keyring-daemon --foreground --unlock --components=secrets\n' \
        > "$dir/keyring-up"
    chmod 755 "$dir/keyring-up"
    local name
    for name in org.freedesktop.secrets org.gnome.keyring; do
        printf '[D-BUS Service]\nName=%s\nExec=%s\n' "$name" "$dir/keyring-up" \
            > "$dir/data/dbus-1/services/$name.service"
    done
    XDG_DATA_HOME="$dir/data" XDG_CACHE_HOME="$dir/cache" XDG_RUNTIME_DIR="$dir/runtime" \
        dbus-run-session -- bash -c 'eval "$(echo | gnome-keyring-daemon --unlock --components=secrets)" >/dev/null; export GNOME_KEYRING_CONTROL; exec "$@"' keyring "$@"
}

# Remove a private keyring directory. The desktop portal that WebKit wakes
# mounts a FUSE file system at runtime/doc; unmount it before deleting.
remove_private_dir() {
    local dir="$1" mnt
    for mnt in "$dir/runtime/doc"; do
        if mountpoint -q "$mnt" 2>/dev/null; then
            fusermount3 -uz "$mnt" 2>/dev/null || fusermount -uz "$mnt" 2>/dev/null || $SUDO umount -l "$mnt" 2>/dev/null || true
        fi
    done
    rm -rf "$dir" 2>/dev/null || true
}

# schemathesis in a venv under target/ (rebuilt when missing); exports
# CLINSHARE_SCHEMATHESIS for the server's schemathesis test.
need_schemathesis() {
    local venv="$ROOT/target/tools/schemathesis"
    if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
        say "Installing schemathesis $SCHEMATHESIS_VERSION (PyPI) into $venv"
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
    fi
    export CLINSHARE_SCHEMATHESIS="$venv/bin/schemathesis"
}

# s3s-fs under target/ (built when missing); exports CLINSHARE_S3S_FS for
# the server's object-store test.
need_s3s_fs() {
    local root="$ROOT/target/tools/s3s-fs"
    if ! "$root/bin/s3s-fs" --version 2>/dev/null | grep -q "$S3S_FS_VERSION"; then
        say "Installing s3s-fs $S3S_FS_VERSION (crates.io) into $root"
        cargo install s3s-fs --version "$S3S_FS_VERSION" --features binary --locked --root "$root" --quiet
    fi
    export CLINSHARE_S3S_FS="$root/bin/s3s-fs"
}
