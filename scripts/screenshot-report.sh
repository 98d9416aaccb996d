#!/usr/bin/env bash
# Takes a headless-Chromium screenshot of a report.html, as a person would see it.
#
# By default makes docs/img/report-canary-bad-errors.png: builds the release binary, runs
# scenarios/canary-bad-errors.yaml into a temporary directory and shoots its report.html.
# Needs ../shared beside the repository, as every run does. Installs Debian's chromium
# package when /usr/bin/chromium is missing.
#
#   scripts/screenshot-report.sh [HEIGHT]    (window height in pixels; default 3800, the
#                                            whole page of this scenario)
#
# With REPORT=path/to/report.html it shoots that page instead (no build, no run), into
# PNG=path (default: report.png beside the page); tests/report_html.rs does this.
set -euo pipefail
cd "$(dirname "$0")/.."

height="${1:-3800}"

if [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if [ -n "${REPORT:-}" ]; then
  page="$(realpath "$REPORT")"
  png="${PNG:-$(dirname "$page")/report.png}"
else
  png="${PNG:-docs/img/report-canary-bad-errors.png}"
  cargo build --locked --release --quiet
  meshsim="${CARGO_TARGET_DIR:-target}/release/meshsim"
  # Exit 1 would mean an expectation failed; the screenshot shows that too, so it is taken.
  status=0
  "$meshsim" run scenarios/canary-bad-errors.yaml --quiet --out "$work/out" >"$work/run.log" 2>&1 || status=$?
  if [ "$status" -gt 1 ] || [ ! -f "$work/out/report.html" ]; then
    cat "$work/run.log"
    echo "screenshot-report: the run failed (exit $status)" >&2
    exit 1
  fi
  page="$work/out/report.html"
fi

mkdir -p "$(dirname "$png")"
png="$(realpath "$png")"
# A profile of its own, so an open browser or a previous run cannot interfere; nothing
# fetched in the background (the page needs no network).
/usr/bin/chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --disable-background-networking --disable-component-update --disable-sync \
  --no-first-run --user-data-dir="$work/profile" --window-size="1280,$height" \
  --screenshot="$png" "file://$page" >"$work/chromium.log" 2>&1 || {
  cat "$work/chromium.log"
  exit 1
}
echo "screenshot-report: wrote $png ($(wc -c <"$png") bytes)"
