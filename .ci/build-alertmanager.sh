#!/usr/bin/env bash
# Build Prometheus Alertmanager from the Go module proxy into a cache, once.
#   .ci/build-alertmanager.sh VERSION DEST_BINARY
# `go install github.com/prometheus/alertmanager/cmd/alertmanager@vX` does not build from
# the module alone: the web UI's built assets (ui/app/dist) are not in the module, and
# ui/web.go embeds them. The integration tests use only the HTTP API, so the module's
# source is copied and built with a placeholder page where the UI would be.
set -euo pipefail
version="$1"
dest="$2"
if ! command -v go >/dev/null; then
  echo "Go is needed once to build Alertmanager $version for the integration tests" \
       "(or set SKIP_ALERTMANAGER=1: its tests then skip)" >&2
  exit 1
fi
echo "building Alertmanager $version from the Go module proxy into $(dirname "$dest") (once)" >&2
src=$(go mod download -json "github.com/prometheus/alertmanager@v$version" |
      python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
cp -r "$src"/. "$work"/
chmod -R u+w "$work"
for ui in elm mantine; do
  mkdir -p "$work/ui/app/dist/$ui"
  echo '<html><body>Alertmanager UI not built (API only)</body></html>' \
    > "$work/ui/app/dist/$ui/index.html"
done
mkdir -p "$(dirname "$dest")"
(cd "$work" && go build -o "$dest.tmp" ./cmd/alertmanager)
mv "$dest.tmp" "$dest"
"$dest" --version >&2
