package manage_test

import (
	"bufio"
	"bytes"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/warrenmq/warren/manage"
)

// TestOpenAPIMatchesRoutes: every path and method of openapi.yaml is
// served, and every served one is in the file.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	raw, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pathLine := regexp.MustCompile(`^  (/api/\S*):$`)
	methodLine := regexp.MustCompile(`^    (get|put|post|delete|patch|head):$`)
	documented := map[string][]string{}
	current := ""
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		if m := pathLine.FindStringSubmatch(sc.Text()); m != nil {
			current = m[1]
			documented[current] = nil
		} else if m := methodLine.FindStringSubmatch(sc.Text()); m != nil && current != "" {
			documented[current] = append(documented[current], strings.ToUpper(m[1]))
		}
	}
	served := manage.Routes()
	for p, ms := range served {
		slices.Sort(ms)
		doc, ok := documented[p]
		slices.Sort(doc)
		if !ok {
			t.Errorf("%s is served but not in openapi.yaml", p)
		} else if !slices.Equal(ms, doc) {
			t.Errorf("%s: served %v, documented %v", p, ms, doc)
		}
	}
	for p := range documented {
		if _, ok := served[p]; !ok {
			t.Errorf("%s is in openapi.yaml but not served", p)
		}
	}
	if len(served) < 25 {
		t.Fatalf("only %d routes: the table was not read", len(served))
	}
}

// TestOpenAPIServed: the node serves the file without a login.
func TestOpenAPIServed(t *testing.T) {
	nd := startNode(t, true, false)
	got, out := nd.call(t, "", http.MethodGet, "/api/openapi.yaml", nil)
	if got != http.StatusOK || !strings.HasPrefix(out, "openapi: 3") {
		t.Fatalf("GET /api/openapi.yaml: %d %.100s", got, out)
	}
}
