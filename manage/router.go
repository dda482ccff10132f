package manage

import (
	"net/http"
	"net/url"
	"strings"
)

// router matches API paths segment by segment on the escaped path, each
// segment unescaped on its own, so that a virtual host named "/" travels
// as %2F (RabbitMQ's convention). net/http's ServeMux does not match a
// segment that is exactly %2F to a wildcard, hence this.
type router struct {
	routes []compiledRoute
}

type compiledRoute struct {
	segments []string // a literal, or {name}
	h        http.Handler
	pattern  string
}

func (rt *router) add(pattern string, h http.Handler) {
	rt.routes = append(rt.routes, compiledRoute{segments: strings.Split(strings.TrimPrefix(pattern, "/"), "/"), h: h, pattern: pattern})
}

// match finds the route of r and sets its path values and Pattern; ok
// false when none matches (or a segment does not unescape).
func (rt *router) match(r *http.Request) (http.Handler, bool) {
	raw := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	segs := make([]string, len(raw))
	for i, s := range raw {
		u, err := url.PathUnescape(s)
		if err != nil {
			return nil, false
		}
		segs[i] = u
	}
next:
	for _, c := range rt.routes {
		if len(c.segments) != len(segs) {
			continue
		}
		for i, p := range c.segments {
			if strings.HasPrefix(p, "{") {
				if segs[i] == "" {
					continue next
				}
			} else if p != segs[i] {
				continue next
			}
		}
		for i, p := range c.segments {
			if strings.HasPrefix(p, "{") {
				r.SetPathValue(strings.Trim(p, "{}"), segs[i])
			}
		}
		r.Pattern = c.pattern
		return c.h, true
	}
	return nil, false
}
