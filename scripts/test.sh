#!/usr/bin/env bash
# Warren's test command (README "Run the tests"): format and vet checks,
# the whole test suite with the race detector, then a few seconds of every
# fuzz target. Needs only Go; builds the binaries it tests.
set -euo pipefail
cd "$(dirname "$0")/.."

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "not gofmt-formatted:"; echo "$unformatted"; exit 1
fi
go vet ./...

go test -race -count=1 -timeout 20m ./...

# Short fuzz runs; longer ones: FUZZTIME=10m scripts/test.sh (or run one target by hand).
fuzztime="${FUZZTIME:-3s}"
for target in $(go test -list '^Fuzz' ./routing ./fsm ./transport 2>/dev/null | grep '^Fuzz' || true); do
  for pkg in ./routing ./fsm ./transport; do
    if go test -list "^${target}\$" "$pkg" 2>/dev/null | grep -qx "$target"; then
      echo "fuzz $pkg $target ($fuzztime)"
      go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"
    fi
  done
done
echo "all checks passed"
