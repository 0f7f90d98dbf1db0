#!/usr/bin/env bash
# Installs (or upgrades) vegkiosk as a systemd service from this checkout:
#   - system user `vegkiosk` (no login, home = the data directory, in `video`, and `render` where it exists)
#   - the application under /opt/vegkiosk, owned by root so the service cannot change its own code
#   - /etc/vegkiosk/env (0640 root:vegkiosk) from .env.example, never overwriting an existing one
#   - /etc/systemd/system/vegkiosk.service, enabled, and (re)started
#   - /usr/local/bin/vegkiosk, the command line run as the service user (`sudo vegkiosk enroll alice`)
# Data lives in /var/lib/vegkiosk (StateDirectory=): created here if missing, otherwise never touched.
#
# Usage: sudo scripts/install.sh [--root DIR] [--deps ci|copy|none] [--no-start]
#   --root DIR  install into the root filesystem at DIR (an SD-card image being built, or a test):
#               the account is created in DIR/etc/passwd and DIR/etc/group (useradd --root), the unit
#               is enabled with `systemctl --root`, and nothing is asked of the running system; the
#               steps that need a running systemd are printed as "skipped (--root)".
#   --deps ci   (default) `npm ci --omit=dev --prefer-offline` in the new /opt/vegkiosk: exactly the
#               lockfile's runtime packages, from npm's cache when this checkout already ran `npm ci`.
#   --deps copy copy this checkout's node_modules and `npm prune --omit=dev` it: no network at all.
#   --deps none install no packages (you provide /opt/vegkiosk/node_modules yourself).
#   --no-start  enable the unit but do not (re)start it.
# Running it again is safe: it upgrades the application in place and restarts the service.
set -euo pipefail
umask 022

readonly APP_USER=vegkiosk
readonly SERVICE=vegkiosk.service
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "install.sh: $*"; }

ROOT=/
DEPS=ci
START=1
while [ $# -gt 0 ]; do
  case "$1" in
    --root) [ $# -ge 2 ] || die "--root needs a directory"; ROOT=$2; shift 2 ;;
    --root=*) ROOT=${1#--root=}; shift ;;
    --deps) [ $# -ge 2 ] || die "--deps needs ci, copy or none"; DEPS=$2; shift 2 ;;
    --deps=*) DEPS=${1#--deps=}; shift ;;
    --no-start) START=0; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
case "$DEPS" in ci|copy|none) ;; *) die "--deps must be ci, copy or none, got '$DEPS'" ;; esac

[ "$(id -u)" = 0 ] || die "must run as root (it creates a system user and root-owned files); try: sudo $0"
[ -d "$ROOT" ] || die "--root $ROOT is not a directory"
ROOT=$(cd "$ROOT" && pwd)
LIVE=0
if [ "$ROOT" = / ]; then LIVE=1; fi
R=${ROOT%/}                       # prefix for every path: empty on the live system
ACCOUNT_ARGS=()
if [ "$LIVE" = 0 ]; then ACCOUNT_ARGS=(--root "$ROOT"); fi

APP=$R/opt/vegkiosk
CONF_DIR=$R/etc/vegkiosk
UNIT_DIR=$R/etc/systemd/system

# --- Preflight: fail before changing anything --------------------------------------------------------
for f in bin/vegkiosk.js device config models package.json package-lock.json .env.example systemd/vegkiosk.service; do
  [ -e "$SRC/$f" ] || die "$SRC/$f is missing; run this script from a complete vegkiosk checkout"
done
[ -f "$R/etc/passwd" ] && [ -f "$R/etc/group" ] \
  || die "$R/etc/passwd or $R/etc/group is missing; --root must name a root filesystem"
for tool in useradd usermod groupadd; do
  command -v "$tool" >/dev/null || die "$tool not found (Debian package 'passwd')"
done
if [ "$DEPS" != none ]; then
  command -v npm >/dev/null || die "npm not found; install Node.js 20.19+ with npm, or use --deps none"
fi

# The unit runs /usr/bin/node. A node elsewhere gets a drop-in; one under /home or /root (nvm) would be
# hidden from the service by ProtectHome=, so it is refused rather than failing at every start.
NODE_DROPIN=""
if [ "$LIVE" = 1 ]; then
  command -v systemctl >/dev/null || die "systemctl not found; this installer needs systemd"
  node_bin=/usr/bin/node
  if [ ! -x "$node_bin" ]; then
    node_bin=$(command -v node || true)
    [ -n "$node_bin" ] || die "node not found; install Node.js 20.19 or newer (e.g. NodeSource's nodejs package)"
    node_bin=$(readlink -f "$node_bin")
    case "$node_bin" in
      /home/*|/root/*) die "node is $node_bin, which the sandboxed service cannot see (ProtectHome=); install a system-wide Node.js 20.19+ at /usr/bin/node" ;;
    esac
    NODE_DROPIN=$node_bin
  fi
  node_version=$("$node_bin" -p 'process.versions.node')
  "$node_bin" -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
    || die "$node_bin is Node.js $node_version; vegkiosk needs 20.19 or newer"
elif [ ! -x "$R/usr/bin/node" ]; then
  say "warning: $R/usr/bin/node does not exist; install Node.js 20.19+ there before booting"
fi

# --- Account -----------------------------------------------------------------------------------------
group_gid() { awk -F: -v g="$1" '$1 == g { print $3 }' "$R/etc/group"; }
user_uid() { awk -F: -v u="$1" '$1 == u { print $3 }' "$R/etc/passwd"; }

# Cameras (/dev/video*, /dev/media*, Jetson nvhost/nvmap) belong to `video`; /dev/dri/renderD* to `render`.
if [ -z "$(group_gid video)" ]; then
  groupadd "${ACCOUNT_ARGS[@]}" --system video
  say "created group video"
fi
groups=video
if [ -n "$(group_gid render)" ]; then groups=video,render; fi

nologin=/usr/sbin/nologin
if [ ! -x "$R/usr/sbin/nologin" ] && [ -x "$R/sbin/nologin" ]; then nologin=/sbin/nologin; fi
if [ -z "$(user_uid "$APP_USER")" ]; then
  useradd "${ACCOUNT_ARGS[@]}" --system --user-group --groups "$groups" \
    --home-dir /var/lib/vegkiosk --no-create-home --shell "$nologin" \
    --comment "vegkiosk kiosk service" "$APP_USER" 2> >(grep -v "missing or non-executable shell" >&2)
  say "created system user $APP_USER (groups: $groups)"
else
  usermod "${ACCOUNT_ARGS[@]}" --append --groups "$groups" "$APP_USER"
fi
APP_GID=$(group_gid "$APP_USER")
[ -n "$APP_GID" ] || die "user $APP_USER exists but group $APP_USER does not; fix $R/etc/group"

# --- Application -------------------------------------------------------------------------------------
# Built beside the old one and swapped in with two renames, so a failed copy or npm run leaves the
# running installation untouched.
STAGE=$APP.new
rm -rf "$STAGE" "$APP.old"
mkdir -p "$STAGE"
for f in bin device dashboard models config scripts systemd package.json package-lock.json .npmrc \
         .env.example tsconfig.json README.md SECURITY.md LICENSE; do
  if [ -e "$SRC/$f" ]; then cp -R "$SRC/$f" "$STAGE/"; fi
done
case "$DEPS" in
  ci)
    say "installing runtime packages (npm ci --omit=dev) ..."
    (cd "$STAGE" && npm ci --omit=dev --prefer-offline --no-audit --no-fund --loglevel=error) \
      || die "npm ci failed in $STAGE (offline? try --deps copy after 'npm ci' in the checkout)"
    ;;
  copy)
    [ -d "$SRC/node_modules" ] || die "--deps copy: $SRC/node_modules is missing; run 'npm ci' in the checkout first"
    cp -R "$SRC/node_modules" "$STAGE/"
    (cd "$STAGE" && npm prune --omit=dev --no-audit --no-fund --loglevel=error) \
      || die "npm prune --omit=dev failed in $STAGE"
    ;;
  none)
    say "warning: --deps none: $APP/node_modules must be provided before the service can start"
    ;;
esac
# Owned by root and not writable by the service; scripts keep their execute bits.
chown -R 0:0 "$STAGE"
chmod -R u=rwX,go=rX "$STAGE"
chmod 0755 "$STAGE/bin/vegkiosk.js"
find "$STAGE/scripts" -name '*.sh' -exec chmod 0755 {} +
if [ -d "$APP" ]; then mv "$APP" "$APP.old"; fi
mv "$STAGE" "$APP"
rm -rf "$APP.old"
say "installed application in $APP"

# --- Data --------------------------------------------------------------------------------------------
# systemd's StateDirectory= would create it at first start; creating it now lets `sudo vegkiosk enroll`
# run before that. An existing one is left as it is (systemd corrects its owner at every start).
APP_UID=$(user_uid "$APP_USER")
if [ ! -d "$R/var/lib/vegkiosk" ]; then
  install -d -m 0700 -o "$APP_UID" -g "$APP_GID" "$R/var/lib/vegkiosk"
fi

# --- Configuration -----------------------------------------------------------------------------------
install -d -m 0750 -o 0 -g "$APP_GID" "$CONF_DIR"
# The unit sets VEGKIOSK_DATA_DIR=/var/lib/vegkiosk, and EnvironmentFile= overrides Environment=, so
# every assignment is written commented out: the file documents the defaults without pinning them,
# and later releases' defaults still apply.
render_env() {
  echo "# /etc/vegkiosk/env: read by systemd for vegkiosk.service. Uncomment and change what you need,"
  echo "# then: systemctl restart vegkiosk. /etc/vegkiosk/env.example (replaced on every upgrade) lists"
  echo "# the installed release's variables."
  echo
  sed -E -e 's|^VEGKIOSK_DATA_DIR=.*|# VEGKIOSK_DATA_DIR=/var/lib/vegkiosk  (set by vegkiosk.service; a value here overrides it)|' \
    -e 's/^([A-Z][A-Z0-9_]*=)/# \1/' "$SRC/.env.example"
}
if [ -e "$CONF_DIR/env" ]; then
  say "kept existing $CONF_DIR/env"
else
  render_env > "$CONF_DIR/env.tmp"
  mv "$CONF_DIR/env.tmp" "$CONF_DIR/env"
  say "wrote $CONF_DIR/env"
fi
# Re-asserted on every run: the file may hold VEGKIOSK_JWT_SECRET.
chown "0:$APP_GID" "$CONF_DIR/env"
chmod 0640 "$CONF_DIR/env"
install -m 0640 -o 0 -g "$APP_GID" "$SRC/.env.example" "$CONF_DIR/env.example"

# --- Command line ------------------------------------------------------------------------------------
# `sudo vegkiosk enroll alice --role admin` must act on the service's data and configuration, as the
# service user (the data directory is 0700 vegkiosk), from the directory relative model paths assume.
CLI=$R/usr/local/bin/vegkiosk
readonly CLI_MARK="written by vegkiosk scripts/install.sh"
if [ -e "$CLI" ] && ! grep -q "$CLI_MARK" "$CLI" 2>/dev/null; then
  say "warning: $CLI exists and is not ours; left alone (run /opt/vegkiosk/bin/vegkiosk.js directly)"
else
  install -d -m 0755 "$R/usr/local/bin"
  cat > "$CLI.tmp" <<WRAPPER
#!/bin/sh
# vegkiosk command line on an installed kiosk ($CLI_MARK).
# Runs as the vegkiosk user with /etc/vegkiosk/env and the service's data directory.
set -eu
if [ "\$(id -u)" = 0 ]; then exec runuser -u $APP_USER -- "\$0" "\$@"; fi
if [ "\$(id -un)" != $APP_USER ]; then
  echo "vegkiosk: run it as root (sudo vegkiosk ...) so it can act as the $APP_USER service user" >&2
  exit 2
fi
cd /opt/vegkiosk
export HOME=/var/lib/vegkiosk
grep -q '^[[:space:]]*VEGKIOSK_DATA_DIR=' /etc/vegkiosk/env 2>/dev/null || export VEGKIOSK_DATA_DIR=/var/lib/vegkiosk
if [ -r /etc/vegkiosk/env ]; then
  exec ${NODE_DROPIN:-/usr/bin/node} --env-file=/etc/vegkiosk/env /opt/vegkiosk/bin/vegkiosk.js "\$@"
fi
exec ${NODE_DROPIN:-/usr/bin/node} /opt/vegkiosk/bin/vegkiosk.js "\$@"
WRAPPER
  chmod 0755 "$CLI.tmp"
  chown 0:0 "$CLI.tmp"
  mv "$CLI.tmp" "$CLI"
fi

# --- Unit --------------------------------------------------------------------------------------------
install -d -m 0755 "$UNIT_DIR"
install -m 0644 -o 0 -g 0 "$SRC/systemd/vegkiosk.service" "$UNIT_DIR/$SERVICE"
if [ -n "$NODE_DROPIN" ]; then
  install -d -m 0755 "$UNIT_DIR/$SERVICE.d"
  printf '# Written by scripts/install.sh: Node.js is not at /usr/bin/node on this machine.\n[Service]\nExecStart=\nExecStart=%s /opt/vegkiosk/bin/vegkiosk.js serve\n' \
    "$NODE_DROPIN" > "$UNIT_DIR/$SERVICE.d/10-node-path.conf"
  chmod 0644 "$UNIT_DIR/$SERVICE.d/10-node-path.conf"
  say "node is $NODE_DROPIN: wrote $UNIT_DIR/$SERVICE.d/10-node-path.conf"
else
  rm -f "$UNIT_DIR/$SERVICE.d/10-node-path.conf"
  rmdir "$UNIT_DIR/$SERVICE.d" 2>/dev/null || true
fi

if [ "$LIVE" = 1 ]; then
  systemctl daemon-reload
  systemctl enable "$SERVICE"
  if [ "$START" = 1 ]; then
    # restart, not start: after an upgrade the new code must run. --no-block because READY comes
    # only after the first inference, which on a Jetson's first start includes a TensorRT build.
    systemctl restart --no-block "$SERVICE"
    say "vegkiosk is starting; follow it with: journalctl -u vegkiosk -f"
  fi
else
  if command -v systemctl >/dev/null; then
    systemctl --root "$ROOT" enable "$SERVICE" 2>/dev/null
  else
    mkdir -p "$UNIT_DIR/multi-user.target.wants"
    ln -sfn "/etc/systemd/system/$SERVICE" "$UNIT_DIR/multi-user.target.wants/$SERVICE"
  fi
  say "enabled $SERVICE in $ROOT"
  say "skipped (--root): systemctl daemon-reload"
  if [ "$START" = 1 ]; then say "skipped (--root): systemctl restart $SERVICE"; fi
fi
say "done. Configuration: /etc/vegkiosk/env; data: /var/lib/vegkiosk; logs: journalctl -u vegkiosk"
