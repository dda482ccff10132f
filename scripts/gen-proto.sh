#!/usr/bin/env bash
# Regenerates the committed protobuf code (transport/warrenpb, fsm/fsmpb)
# from proto/. Builds need none of this: run it only after editing a .proto.
# Needs protoc 3.21 (Debian: apt-get install protobuf-compiler); the Go
# plugins are installed at the versions the committed code names.
set -euo pipefail
cd "$(dirname "$0")/.."

bin="$(mktemp -d)"
trap 'rm -rf "$bin" "$out"' EXIT
GOBIN="$bin" go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
GOBIN="$bin" go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2

out="$(mktemp -d)"
PATH="$bin:$PATH" protoc -I proto \
	--go_out="$out" --go_opt=paths=source_relative \
	--go-grpc_out="$out" --go-grpc_opt=paths=source_relative \
	proto/warren/v1/*.proto proto/warren/fsm/v1/*.proto
cp "$out"/warren/v1/*.go transport/warrenpb/
cp "$out"/warren/fsm/v1/*.go fsm/fsmpb/
echo "generated: $(cd "$out" && find . -name '*.go' | sort | tr '\n' ' ')"
