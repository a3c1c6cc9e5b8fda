#!/usr/bin/env bash
# Installs what `make run` (deps.sh run) or `make test` (deps.sh test) needs and is missing, on
# Debian 12: apt packages, the UI's npm packages, cargo tools, and a Postgres for the store tests.
# Idempotent and quiet when everything is there.
set -euo pipefail
mode=${1:-test}
cd "$(dirname "$0")/../.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi

build_pkgs="build-essential pkg-config curl file libwebkit2gtk-4.1-dev libssl-dev libxdo-dev libayatana-appindicator3-dev librsvg2-dev libdbus-1-dev"
run_pkgs="gnome-keyring dbus-x11"
# sqlite3: make bench compares the commission report with the sqlite3 tool on the same file.
test_pkgs="xvfb xauth webkit2gtk-driver gnome-keyring dbus dbus-x11 imagemagick sqlite3"

want="$build_pkgs $run_pkgs"
if [ "$mode" = test ] || [ "$mode" = bench ]; then want="$want $test_pkgs"; fi
missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if ! command -v npm >/dev/null 2>&1; then missing="$missing nodejs npm"; fi
if [ -n "$missing" ]; then
  echo "deps: installing Debian packages:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

# UI packages, from the lockfile; reinstalled only when the lockfile changed.
if [ ! -f ui/node_modules/.package-lock.json ] || ! cmp -s ui/package-lock.json ui/node_modules/.tollgate-lock; then
  echo "deps: installing the UI's npm packages"
  (cd ui && npm ci --no-audit --no-fund --loglevel=error)
  cp ui/package-lock.json ui/node_modules/.tollgate-lock
fi

if [ "$mode" = run ]; then exit 0; fi

if ! command -v cargo-nextest >/dev/null 2>&1; then
  echo "deps: installing cargo-nextest"
  cargo install cargo-nextest --locked --quiet
fi
if ! command -v tauri-driver >/dev/null 2>&1; then
  echo "deps: installing tauri-driver"
  cargo install tauri-driver --version 2.1.0 --locked --quiet
fi

# Postgres at 127.0.0.1:5432, database `test`, trust auth (as on these machines).
pg_url=${TOLLGATE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
if ! command -v pg_isready >/dev/null 2>&1 || ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    echo "deps: installing PostgreSQL"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
  fi
  ver=$(ls /etc/postgresql | sort -V | tail -1)
  hba=/etc/postgresql/$ver/main/pg_hba.conf
  if ! $SUDO grep -q "tollgate-test trust" "$hba"; then
    printf 'host all all 127.0.0.1/32 trust # tollgate-test trust\nhost all all ::1/128 trust # tollgate-test trust\n' | $SUDO tee -a "$hba" >/dev/null
    $SUDO sed -i '0,/^host/s//# tollgate: trust rules appended below\nhost/' "$hba"
  fi
  echo "deps: starting PostgreSQL $ver"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$ver" main start || $SUDO pg_ctlcluster --skip-systemctl-redirect "$ver" main restart
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
if ! psql "$pg_url" -tAc "select 1" >/dev/null 2>&1; then
  psql "${pg_url%/*}/postgres" -tAc "CREATE DATABASE test" >/dev/null 2>&1 || \
    $SUDO -u postgres psql -tAc "CREATE DATABASE test" >/dev/null 2>&1 || true
fi
psql "$pg_url" -tAc "select 1" >/dev/null || { echo "deps: Postgres at $pg_url does not answer" >&2; exit 1; }
