package broker

import (
	"os"
	"strings"
	"testing"
)

// TestSupportedArgsInREADME: every argument Warren accepts is in the
// README's "Queue and exchange arguments" tables (with or without its
// "x-" prefix), so the list users read is the one the broker applies.
func TestSupportedArgsInREADME(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	start := strings.Index(readme, "### Queue and exchange arguments")
	end := strings.Index(readme[start:], "\n### ")
	if start < 0 || end < 0 {
		t.Fatal("README has no section \"Queue and exchange arguments\"")
	}
	section := readme[start : start+end]
	for _, name := range append(append([]string{}, SupportedQueueArgs...), SupportedExchangeArgs...) {
		bare := strings.TrimPrefix(name, "x-")
		if !strings.Contains(section, "| `"+name+"`") && !strings.Contains(section, "`"+bare+"` |") &&
			!strings.Contains(section, "| `"+bare+"`") && !strings.Contains(section, "`"+name+"` |") {
			t.Errorf("argument %s is supported but not in the README's table", name)
		}
	}
}
