#!/usr/bin/env bash
# Warren's test command (README "Run the tests"). Needs only Go; builds the
# binaries it tests.
#
#   scripts/test.sh           the full tier, as CI runs it: gofmt, vet,
#                             staticcheck, every test with the race detector
#                             (chaos runs and process clusters under faults
#                             included), then a few seconds of every fuzz
#                             target
#   scripts/test.sh --quick   the quick tier, for local work: gofmt, vet and
#                             go test -short (no race detector; slow tests
#                             skip themselves with -short)
#
# go test's output goes through internal/testprogress: a line as each
# package starts and ends, the output of failed tests, and every 30 s what
# still runs (go test alone is silent for minutes while e2e runs).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=false
case "${1:-}" in
--quick) quick=true ;;
"") ;;
*)
  echo "usage: scripts/test.sh [--quick]" >&2
  exit 2
  ;;
esac

start=$SECONDS
step() { echo "== $* ($((SECONDS - start))s)"; }

step gofmt
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "not gofmt-formatted:"; echo "$unformatted"; exit 1
fi
step go vet
go vet ./...

# The formatter is built first, so that its build does not count against
# the tests or mix its output with theirs.
progress=$(mktemp -d)/testprogress
trap 'rm -rf "$(dirname "$progress")"' EXIT
go build -o "$progress" ./internal/testprogress

if $quick; then
  step "go test -short ./..."
  go test -short -count=1 -timeout 10m -json ./... | "$progress"
  step "quick tier passed"
  exit 0
fi

step staticcheck
# staticcheck at a pinned version, fetched through the module proxy.
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

step "go test -race ./..."
# e2e first: it is the long pole (most of the tier's time, its tests one
# after another), so it starts while the other packages share the second
# core, not after a slot frees. go test streams every package's events as
# they come, whatever the order.
go test -race -count=1 -timeout 20m -json ./e2e ./... | "$progress"

# Short fuzz runs; longer ones: FUZZTIME=10m scripts/test.sh (or run one target by hand).
fuzztime="${FUZZTIME:-3s}"
fuzzed=0
for pkg in ./routing ./fsm ./broker ./transport; do
  # From the sources: go test -list would build a test binary per package
  # that the fuzzing then builds again, instrumented.
  targets=$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$pkg"/*_test.go)
  for target in $targets; do
    step "fuzz $pkg $target ($fuzztime)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"
    fuzzed=$((fuzzed + 1))
  done
done
if [ "$fuzzed" -eq 0 ]; then
  echo "no fuzz target found"; exit 1
fi
step "all checks passed ($fuzzed fuzz targets)"
