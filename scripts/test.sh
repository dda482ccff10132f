#!/usr/bin/env bash
# Warren's test command (README "Run the tests"): gofmt, vet and staticcheck,
# the whole test suite with the race detector, then a few seconds of every
# fuzz target. Needs only Go; builds the binaries it tests.
set -euo pipefail
cd "$(dirname "$0")/.."

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "not gofmt-formatted:"; echo "$unformatted"; exit 1
fi
go vet ./...
# staticcheck at a pinned version, fetched through the module proxy.
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

go test -race -count=1 -timeout 20m ./...

# Short fuzz runs; longer ones: FUZZTIME=10m scripts/test.sh (or run one target by hand).
fuzztime="${FUZZTIME:-3s}"
fuzzed=0
for pkg in ./routing ./fsm ./broker ./transport; do
  targets=$(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true)
  for target in $targets; do
    echo "fuzz $pkg $target ($fuzztime)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"
    fuzzed=$((fuzzed + 1))
  done
done
if [ "$fuzzed" -eq 0 ]; then
  echo "no fuzz target found"; exit 1
fi
echo "all checks passed ($fuzzed fuzz targets)"
