#!/usr/bin/env bash
# install-nats-server.sh installs the nats-server binary that `sluice bench`
# compares Sluice against. It builds the pinned release from the Go module
# proxy with `go install`, so a machine with only Go can run it; nats-server
# never becomes a dependency in go.mod.
#
# Usage: bench/install-nats-server.sh [DIR]
#
# DIR defaults to ${XDG_CACHE_HOME:-$HOME/.cache}/sluice/nats-server-v2.15.2,
# which is where localnats.FindBinary looks. The build is skipped when the
# binary is already there. The last line of stdout is the binary's absolute
# path, so callers can run: export SLUICE_NATS_SERVER=$(bench/install-nats-server.sh | tail -n 1)
set -euo pipefail

version="v2.15.2"
dir="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice/nats-server-${version}}"

if ! command -v go >/dev/null 2>&1; then
	echo "install-nats-server.sh: go is not on PATH" >&2
	exit 1
fi

mkdir -p "$dir"
dir="$(cd "$dir" && pwd -P)"
bin="$dir/nats-server"

if [[ -x "$bin" ]]; then
	echo "nats-server ${version} already installed in $dir" >&2
else
	echo "building nats-server ${version} into $dir (takes a minute or two)" >&2
	# Run outside any module so the project's go.mod is neither read nor
	# changed, and build a release binary (no race detector, no debug flags).
	(cd "$dir" && GOBIN="$dir" GOFLAGS= GOWORK=off GO111MODULE=on \
		go install "github.com/nats-io/nats-server/v2@${version}")
fi

"$bin" --version >&2
echo "$bin"
