#!/bin/sh
# Installs what the test suite needs beyond node_modules: Debian's chromium,
# which test/server/ui.test.ts drives through playwright-core (nothing is
# downloaded by playwright itself). Idempotent: does nothing when present.
set -eu
CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "test-deps: $CHROMIUM is missing and apt-get is not available; install Chromium so that $CHROMIUM exists" >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
  AS_ROOT=""
elif command -v sudo >/dev/null 2>&1; then
  AS_ROOT="sudo"
else
  echo "test-deps: $CHROMIUM is missing and installing it needs root (no sudo found)" >&2
  exit 1
fi
echo "test-deps: installing chromium (for the playground's browser test)" >&2
$AS_ROOT apt-get update
# env inside sudo: sudo resets the environment, so a prefix assignment would not reach apt-get.
$AS_ROOT env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
if [ ! -x "$CHROMIUM" ]; then
  echo "test-deps: chromium was installed but $CHROMIUM does not exist" >&2
  exit 1
fi
