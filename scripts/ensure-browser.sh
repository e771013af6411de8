#!/usr/bin/env bash
# The browser tests drive Debian's Chromium (Playwright with its executable path set).
set -euo pipefail
if [ -x /usr/lib/chromium/chromium ] || command -v chromium >/dev/null; then
  echo "chromium: installed"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "chromium: installing from Debian's packages"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
