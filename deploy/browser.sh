#!/usr/bin/env bash
# The browser tests drive Debian's Chromium headless (Playwright never downloads a browser here).
# Installs it when missing; needs root (or sudo) the first time.
set -euo pipefail
CHROMIUM=${VIGIA_CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] && exit 0
echo "Installing Debian's chromium for the browser tests"
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
$sudo apt-get update -qq || true
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
[ -x "$CHROMIUM" ] || { echo "chromium is still missing at $CHROMIUM" >&2; exit 1; }
