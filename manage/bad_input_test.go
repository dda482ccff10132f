package manage_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/warrenmq/warren/manage"
)

// TestBadInputIsNeverA500 sends every route, with every method it
// serves, hostile path segments and bodies: each answer is a 4xx with the
// JSON error shape (or a success), never a 5xx.
func TestBadInputIsNeverA500(t *testing.T) {
	nd := startNode(t, true, false)
	segments := []string{"%2F", "%FF%FE", strings.Repeat("x", 300), "%00", "amq.default", "~", "..", "<img src=x onerror=alert(1)>"}
	bodies := []string{"", "{", "[]", "null", `{"unknown":1}`, `{"arguments":{"x-max-length":"ten"}}`, `{"count":1e99,"ackmode":"x"}`,
		`{"payload":"%%%","payload_encoding":"base64"}`, `{"tags":[1,2]}`, `{"configure":"(","write":"","read":""}`, `{"type":null}`,
		`{"arguments":{"a":[1,2]}}`, `{"properties":{"priority":-1}}`, `{"routing_key":"` + strings.Repeat("k", 300) + `"}`}
	checked := 0
	for pattern, methods := range manage.Routes() {
		for _, seg := range segments {
			path := pattern
			for _, w := range []string{"{vhost}", "{name}", "{source}", "{destination}", "{props}", "{user}"} {
				path = strings.ReplaceAll(path, w, seg)
			}
			path = strings.ReplaceAll(path, "{kind}", "q")
			for _, m := range methods {
				for _, body := range bodies {
					if m == http.MethodGet && body != "" {
						continue
					}
					var b any
					if body != "" {
						b = body
					}
					for _, user := range []string{"guest", "nobody"} {
						got, out := nd.call(t, user, m, path, b)
						checked++
						if got >= 500 {
							t.Errorf("%s %s as %s with %.60q: %d %s", m, path, user, body, got, out)
						}
					}
				}
			}
		}
	}
	t.Logf("%d calls", checked)
}
