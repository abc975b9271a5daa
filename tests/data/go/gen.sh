#!/usr/bin/env bash
# gen.sh - regenerates the real Go profiles in this directory (needs Go >= 1.19, stdlib only).
# The .pb.gz files are committed so unit tests do not need Go; rerun this only to refresh them,
# then check that tests/unit/test_pprof.c still passes (the CPU split is asserted within 3 points).
set -euo pipefail
cd "$(dirname "$0")"
export GO111MODULE=off GOFLAGS= GOCACHE=${GOCACHE:-/tmp/ember-go-cache}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/gen" gen.go
for kind in cpu heap mutex block labels; do
    "$tmp/gen" "$kind" "$kind.pb.gz" 2> >(grep -v 'cannot set cpu profile rate' >&2)
    echo "wrote $kind.pb.gz ($(stat -c %s "$kind.pb.gz") bytes)"
done
