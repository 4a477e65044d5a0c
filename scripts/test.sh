#!/usr/bin/env bash
# The one test command (README): install the project with its test extras, fetch the Kafka
# jars into the user cache (Maven Central), lint, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '==> %s\n' "$*"; }
# Headless Chromium for the report and dashboard page tests (Debian's package; never a download
# of its own). Installed once, when missing and we are root (CI runs as root on a clean machine).
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ]; then
  step "installing chromium for the page tests (apt-get, once)…"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
# A CJK font (Debian's Noto CJK), so that the Chinese names in reports and evidence packs render
# as glyphs, not boxes; the page tests check it. Same rule: once, when missing and root.
if ! dpkg -s fonts-noto-cjk >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  step "installing the CJK font for reports (apt-get, once)…"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk >/dev/null
fi
step "installing the project and its test extras (pip install -e '.[test]')…"
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
step "fetching the Kafka jars (Maven Central, once; then cached)…"
python3 -c 'from engine.dev.local_broker import ensure_kafka_libs; print("kafka jars:", ensure_kafka_libs())'
# Sloth, pinned, for the OpenSLO tests: built into the user cache when Go is here and it is not
# (tests/openslo skip with the reason where Go is absent).
SLOTH_BIN="${XDG_CACHE_HOME:-$HOME/.cache}/csla/go/bin"
GO="$(command -v go || { [ -x /usr/local/go/bin/go ] && echo /usr/local/go/bin/go; } || true)"
if [ -n "$GO" ] && [ ! -x "$SLOTH_BIN/sloth" ]; then
  step "building sloth v0.16.0 into $SLOTH_BIN (go install, once; a few minutes)…"
  GOBIN="$SLOTH_BIN" "$GO" install github.com/slok/sloth/cmd/sloth@v0.16.0 \
    || echo "sloth not built: the tests that run it will skip"
fi
step "lint: ruff, mypy, schema check…"
python3 -m ruff check engine tests benchmarks
python3 -m mypy
python3 -m engine schema check
step "pytest…"
python3 -m pytest -q --durations=15 "$@"
