#!/usr/bin/env bash
# The browser test drives Debian's chromium (through playwright-core, which downloads no browser).
# Installs it (with the fonts pages are drawn in) when it is missing; on machines without apt it says what to install instead.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then exit 0; fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "== installing chromium (for the web UI's browser test)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
  exit 0
fi
echo "chromium is missing: install Debian's 'chromium' package (as root: apt-get install -y chromium)" >&2
echo "so that /usr/bin/chromium exists; the web UI's browser test needs it." >&2
exit 3
