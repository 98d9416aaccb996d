#!/usr/bin/env bash
# Makes docs/img/report-canary-bad-errors.png: builds the release binary, runs
# scenarios/canary-bad-errors.yaml into a temporary directory and takes a headless-Chromium
# screenshot of its report.html. Needs ../shared beside the repository, as every run does.
# Installs Debian's chromium package when /usr/bin/chromium is missing.
#
#   scripts/screenshot-report.sh [HEIGHT]    (window height in pixels; default 3800, the
#                                            whole page of this scenario)
set -euo pipefail
cd "$(dirname "$0")/.."

height="${1:-3800}"
png=docs/img/report-canary-bad-errors.png

if [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

cargo build --locked --release --quiet
meshsim="${CARGO_TARGET_DIR:-target}/release/meshsim"

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# Exit 1 would mean an expectation failed; the screenshot shows that too, so it is taken.
status=0
"$meshsim" run scenarios/canary-bad-errors.yaml --quiet --out "$out" >"$out/run.log" 2>&1 || status=$?
if [ "$status" -gt 1 ] || [ ! -f "$out/report.html" ]; then
  cat "$out/run.log"
  echo "screenshot-report: the run failed (exit $status)" >&2
  exit 1
fi

mkdir -p "$(dirname "$png")"
# A profile of its own, so an open browser or a previous run cannot interfere.
/usr/bin/chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --user-data-dir="$out/profile" --window-size="1280,$height" \
  --screenshot="$PWD/$png" "file://$out/report.html" >"$out/chromium.log" 2>&1 || {
  cat "$out/chromium.log"
  exit 1
}
echo "screenshot-report: wrote $png ($(wc -c <"$png") bytes)"
