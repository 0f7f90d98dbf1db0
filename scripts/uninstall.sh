#!/usr/bin/env bash
# Removes what scripts/install.sh added: stops and disables vegkiosk.service, removes the unit (and
# its install.sh drop-in), /opt/vegkiosk and the /usr/local/bin/vegkiosk command.
# Kept unless --purge, like a Debian package's remove and purge: /etc/vegkiosk (your configuration,
# possibly secrets), /var/lib/vegkiosk (users, audit log, results, generated secrets, certificate)
# and the vegkiosk user, which still owns that data.
#
# Usage: sudo scripts/uninstall.sh [--root DIR] [--purge]
#   --root DIR  act on the root filesystem at DIR, as install.sh --root does
#   --purge     also delete /etc/vegkiosk, /var/lib/vegkiosk, your drop-ins in
#               /etc/systemd/system/vegkiosk.service.d, and the vegkiosk user and group
# Running it again is safe.
set -euo pipefail

readonly APP_USER=vegkiosk
readonly SERVICE=vegkiosk.service

die() { echo "uninstall.sh: $*" >&2; exit 1; }
say() { echo "uninstall.sh: $*"; }

ROOT=/
PURGE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --root) [ $# -ge 2 ] || die "--root needs a directory"; ROOT=$2; shift 2 ;;
    --root=*) ROOT=${1#--root=}; shift ;;
    --purge) PURGE=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

[ "$(id -u)" = 0 ] || die "must run as root; try: sudo $0"
[ -d "$ROOT" ] || die "--root $ROOT is not a directory"
ROOT=$(cd "$ROOT" && pwd)
LIVE=0
if [ "$ROOT" = / ]; then LIVE=1; fi
R=${ROOT%/}
ACCOUNT_ARGS=()
if [ "$LIVE" = 0 ]; then ACCOUNT_ARGS=(--root "$ROOT"); fi
UNIT_DIR=$R/etc/systemd/system

# --- Service -----------------------------------------------------------------------------------------
if [ "$LIVE" = 1 ]; then
  if systemctl cat "$SERVICE" >/dev/null 2>&1; then
    systemctl disable --now "$SERVICE" || say "warning: could not stop or disable $SERVICE; removing it anyway"
  fi
elif [ -e "$UNIT_DIR/$SERVICE" ] && command -v systemctl >/dev/null; then
  systemctl --root "$ROOT" disable "$SERVICE" 2>/dev/null || true
fi
# Whatever systemctl could not do (no systemctl, a half-removed install) is done by hand.
rm -f "$UNIT_DIR/multi-user.target.wants/$SERVICE" "$UNIT_DIR/$SERVICE"
rm -f "$UNIT_DIR/$SERVICE.d/10-node-path.conf"
rmdir "$UNIT_DIR/$SERVICE.d" 2>/dev/null || true
# install.sh --root may have created these for an empty root; on a real system they hold other units.
rmdir "$UNIT_DIR/multi-user.target.wants" 2>/dev/null || true
if [ "$LIVE" = 1 ]; then
  systemctl daemon-reload
  systemctl reset-failed "$SERVICE" 2>/dev/null || true
else
  say "skipped (--root): systemctl daemon-reload"
fi
say "removed $SERVICE"

# --- Application -------------------------------------------------------------------------------------
rm -rf "$R/opt/vegkiosk" "$R/opt/vegkiosk.new" "$R/opt/vegkiosk.old"
say "removed $R/opt/vegkiosk"
if grep -q "written by vegkiosk scripts/install.sh" "$R/usr/local/bin/vegkiosk" 2>/dev/null; then
  rm -f "$R/usr/local/bin/vegkiosk"
  say "removed $R/usr/local/bin/vegkiosk"
fi

# --- Configuration, data, account --------------------------------------------------------------------
if [ "$PURGE" = 1 ]; then
  rm -rf "$R/etc/vegkiosk" "$R/var/lib/vegkiosk" "$UNIT_DIR/$SERVICE.d"
  # StateDirectory= with DynamicUser= would use /var/lib/private; remove it too should a drop-in have set that.
  rm -rf "$R/var/lib/private/vegkiosk"
  if awk -F: -v u="$APP_USER" '$1 == u { found = 1 } END { exit !found }' "$R/etc/passwd" 2>/dev/null; then
    userdel "${ACCOUNT_ARGS[@]}" "$APP_USER"
  fi
  if awk -F: -v g="$APP_USER" '$1 == g { found = 1 } END { exit !found }' "$R/etc/group" 2>/dev/null; then
    groupdel "${ACCOUNT_ARGS[@]}" "$APP_USER"
  fi
  say "purged $R/etc/vegkiosk, $R/var/lib/vegkiosk and user $APP_USER"
else
  kept=()
  for p in "$R/etc/vegkiosk" "$R/var/lib/vegkiosk"; do
    if [ -e "$p" ]; then kept+=("$p"); fi
  done
  if [ ${#kept[@]} -gt 0 ]; then say "kept ${kept[*]} and user $APP_USER; --purge deletes them"; fi
fi
