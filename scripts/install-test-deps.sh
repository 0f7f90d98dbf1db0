#!/usr/bin/env bash
# Installs the Debian packages the test suite drives for real: ffmpeg and fswebcam (camera sources),
# openssl (self-signed certificate), chromium (dashboard tests), systemd (unit verification), python3-numpy
# (the training recipe's data-rule tests), python3-torch, -torchvision, -onnx and -flatbuffers (the
# training recipe's model tests), mosquitto and mosquitto-clients (the fleet publisher's real broker; its
# service is stopped and disabled again, the tests start their own on loopback) and bookworm-backports' Mesa (lavapipe software Vulkan, so
# onnxruntime's webgpu provider really runs). test/support/test-programs.ts lists the same programs:
# `npm test` runs this script itself when one is missing and it may (root or passwordless sudo).
# Idempotent and non-interactive; needs root (or sudo).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# Backports is not in the default sources; derive its entry from the main Debian entry so we never
# hard-code a mirror. Works for deb822 (.sources) and one-line (.list) formats.
backports_list=/etc/apt/sources.list.d/vegkiosk-backports.sources
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
if [ ! -f "$backports_list" ]; then
  uri=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    keyring=$(awk '/^Signed-By:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1=="deb" && $3 ~ /^'"$codename"'$/ {print $2; exit}' /etc/apt/sources.list)
  fi
  if [ -n "$uri" ]; then
    {
      echo "Types: deb"
      echo "URIs: $uri"
      echo "Suites: ${codename}-backports"
      echo "Components: main"
      [ -n "${keyring:-}" ] && echo "Signed-By: $keyring"
    } | $SUDO tee "$backports_list" >/dev/null
  else
    echo "install-test-deps: no Debian source entry found; skipping backports (webgpu tests will skip)" >&2
  fi
fi

$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  ffmpeg fswebcam openssl chromium fonts-dejavu-core systemd python3-numpy \
  python3-torch python3-torchvision python3-onnx python3-flatbuffers mosquitto mosquitto-clients >/dev/null
# Debian enables mosquitto's service on install; the tests need no broker on port 1883.
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now mosquitto >/dev/null 2>&1 || true
fi
if [ -f "$backports_list" ]; then
  $SUDO apt-get install -y -qq --no-install-recommends -t "${codename}-backports" \
    mesa-vulkan-drivers libvulkan1 >/dev/null || echo "install-test-deps: backports Mesa unavailable; webgpu tests will skip" >&2
fi
