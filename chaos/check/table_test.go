package check

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestWriteTable(t *testing.T) {
	b := new(builder).ordered("o").
		pub("zq", "a", 1, OK).pub("o", "1", 1, OK).pub("o", "2", 2, OK).
		del("o", "2", false).del("o", "1", false).del("zq", "x", false)
	r := Check(b.h)
	var out bytes.Buffer
	if err := r.WriteTable(&out); err != nil {
		t.Fatalf("WriteTable: %v", err)
	}
	s := out.String()
	t.Logf("\n%s", s)
	for _, want := range []string{"FAIL", "lost (examples): zq/a", "unexpected (examples): zq/x", "out of order (examples): o/1", "order o:"} {
		if !strings.Contains(s, want) {
			t.Errorf("table lacks %q", want)
		}
	}
	if strings.Index(s, "\n     o ") > strings.Index(s, "\n    zq ") {
		t.Errorf("queues not sorted by name")
	}
	var again bytes.Buffer
	_ = r.WriteTable(&again)
	if again.String() != s {
		t.Error("WriteTable is not deterministic")
	}
	if err := r.WriteTable(failWriter{}); err == nil {
		t.Error("WriteTable hid a write error")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }
