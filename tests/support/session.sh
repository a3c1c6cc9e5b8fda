#!/usr/bin/env bash
# Runs a command the way the tests need the desktop: a private D-Bus session with its own
# unlocked gnome-keyring (a real Secret Service), private XDG folders (so nothing touches the
# user's keyring or app-data folder), and a virtual X display (Xvfb).
#   tests/support/session.sh CMD [ARGS...]
set -euo pipefail

if [ -z "${TOLLGATE_SESSION_INNER:-}" ]; then
  root=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-session.XXXXXX")
  export TOLLGATE_SESSION_ROOT="$root"
  export XDG_DATA_HOME="$root/data" XDG_CONFIG_HOME="$root/config" XDG_CACHE_HOME="$root/cache"
  export XDG_RUNTIME_DIR="$root/run"
  mkdir -p "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" "$XDG_CACHE_HOME" "$XDG_RUNTIME_DIR"
  chmod 700 "$XDG_RUNTIME_DIR"
  export TOLLGATE_SESSION_INNER=1
  status=0
  xvfb-run -a -s "-screen 0 1440x900x24" dbus-run-session -- "$0" "$@" || status=$?
  # A document portal the webview woke can outlive the session bus by a moment, its FUSE mount
  # still in the private runtime folder: unmount it, and let cleanup never decide the status.
  if mountpoint -q "$XDG_RUNTIME_DIR/doc" 2>/dev/null; then
    fusermount3 -uz "$XDG_RUNTIME_DIR/doc" 2>/dev/null || umount -l "$XDG_RUNTIME_DIR/doc" 2>/dev/null || true
  fi
  for _ in 1 2 3 4 5; do
    rm -rf "$root" 2>/dev/null && break
    sleep 1
  done
  [ -e "$root" ] && echo "session: could not remove $root" >&2
  exit "$status"
fi

# Inside the private session: a throwaway login keyring, created and unlocked. (gnome-keyring
# makes no default collection for an empty password, hence a fixed one.)
printf 'tollgate-test-session' | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1
gnome-keyring-daemon --start --components=secrets >/dev/null 2>&1
exec "$@"
