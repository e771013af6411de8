#!/usr/bin/env bash
# Fails when a live Stripe key or a webhook signing secret is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
pattern='([sr]k_live_[A-Za-z0-9]{10,}|whsec_[A-Za-z0-9]{24,})'
if git grep -nIE "$pattern" -- . ':!scripts/check-secrets.sh'; then
  echo "a live Stripe key or webhook secret is committed (above): remove it and rotate it" >&2
  exit 1
fi
echo "secrets: no live key committed"
