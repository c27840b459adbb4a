#!/usr/bin/env bash
# `make browser` (a prerequisite of `make test`): Debian's Chromium at /usr/bin/chromium, which the
# browser tests drive through playwright's Python package (tests/projections/browser.py,
# tests/e2e/test_form_browser.py; no browser is downloaded by the test tool). When it is missing
# it is installed if this user can (root, or sudo without a password); otherwise this fails at
# once with the command to run.
set -euo pipefail
CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "make test: the browser tests need Chromium at $CHROMIUM (Debian's chromium package), and this" >&2
  echo "machine has no apt-get: install Chromium so that $CHROMIUM starts it, then run make test again." >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "make test: the browser tests need Debian's chromium ($CHROMIUM), which is not installed," >&2
  echo "and installing it needs root. Run this once, then make test again:" >&2
  echo "" >&2
  echo "    sudo apt-get update && sudo apt-get install -y chromium" >&2
  exit 1
fi
echo "make test: installing Debian's chromium for the browser tests ($CHROMIUM) ..."
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
if [ ! -x "$CHROMIUM" ]; then
  echo "make test: apt-get installed chromium but $CHROMIUM is still missing" >&2
  exit 1
fi
