package client

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportsStayInLayer checks that the SDK imports only the standard
// library, grpc, protobuf and the generated API (STYLE.md §1).
func TestImportsStayInLayer(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	allowed := func(path string) bool {
		first, _, _ := strings.Cut(path, "/")
		switch {
		case !strings.Contains(first, "."): // standard library
			return true
		case path == "google.golang.org/grpc" || strings.HasPrefix(path, "google.golang.org/grpc/"):
			return true
		case strings.HasPrefix(path, "google.golang.org/protobuf/"):
			return true
		case path == "github.com/warrenmq/warren/transport/warrenpb":
			return true
		}
		return false
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if !allowed(path) {
				t.Errorf("%s imports %s; the client may import only the standard library, grpc, protobuf and transport/warrenpb", name, path)
			}
		}
	}
}
