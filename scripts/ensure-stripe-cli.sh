#!/usr/bin/env bash
# The Stripe CLI for the tests, pinned, from the npm registry (its Linux binary comes as a
# platform package), in .stripe-cli/ of the checkout: never global, never committed.
set -euo pipefail
VERSION=1.52.0
DIR="$(cd "$(dirname "$0")/.." && pwd)/.stripe-cli"
CLI="$DIR/node_modules/.bin/stripe"

installed() {
  [ -x "$CLI" ] && STRIPE_CLI_TELEMETRY_OPTOUT=1 "$CLI" --version 2>/dev/null \
    | grep -qx "stripe version $VERSION"
}

if installed; then
  echo "stripe-cli: $VERSION installed"
  exit 0
fi
if ! command -v npm >/dev/null; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "stripe-cli: installing node and npm from Debian's packages"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi
echo "stripe-cli: installing @stripe/cli@$VERSION"
mkdir -p "$DIR"
# A package.json of its own keeps npm from looking for one in a parent folder.
[ -f "$DIR/package.json" ] || echo '{"private": true}' >"$DIR/package.json"
# The binary comes only as the platform package: the package's install script would fetch one
# from elsewhere when that is missing, so it is not run (and --version below then fails).
npm install --prefix "$DIR" --no-audit --no-fund --no-save --loglevel=error --include=optional \
  --ignore-scripts "@stripe/cli@$VERSION"
STRIPE_CLI_TELEMETRY_OPTOUT=1 "$CLI" --version
