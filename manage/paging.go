package manage

import (
	"cmp"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Lists are paged as RabbitMQ's management API pages them: page (from 1),
// page_size (at most maxPageSize), sort (a field name), sort_reverse, and
// a name filter (a case-insensitive substring, or with use_regex=true an
// RE2 regular expression). Every list answers a page object, even
// without page (RabbitMQ answers a bare array then): a list's cost is
// bounded by its page.
const (
	defaultPageSize = 100
	maxPageSize     = 500
	maxFilterBytes  = 255
)

// listParams are a list call's query.
type listParams struct {
	page, pageSize int
	sort           string
	reverse        bool
	filter         func(string) bool
}

// pageOf is the answer of a list call.
type pageOf[T any] struct {
	Items         []T `json:"items"`
	Page          int `json:"page"`
	PageSize      int `json:"page_size"`
	PageCount     int `json:"page_count"`
	ItemCount     int `json:"item_count"`
	FilteredCount int `json:"filtered_count"`
	TotalCount    int `json:"total_count"`
}

// parseList reads a list call's query; sorts lists the sort fields the
// list accepts (the first is the default).
func parseList(r *http.Request, sorts []string) (listParams, error) {
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "page", "page_size", "sort", "sort_reverse", "name", "use_regex":
		default:
			// RabbitMQ's columns, disable_stats and the like are not
			// built: refused by name rather than ignored.
			return listParams{}, badRequest("unknown query parameter %q; lists take page, page_size, sort, sort_reverse, name and use_regex", k)
		}
	}
	p := listParams{page: 1, pageSize: defaultPageSize, sort: sorts[0]}
	var err error
	if v := q.Get("page"); v != "" {
		if p.page, err = strconv.Atoi(v); err != nil || p.page < 1 {
			return p, badRequest("page %q: a number from 1", v)
		}
	}
	if v := q.Get("page_size"); v != "" {
		if p.pageSize, err = strconv.Atoi(v); err != nil || p.pageSize < 1 || p.pageSize > maxPageSize {
			return p, badRequest("page_size %q: a number from 1 to %d", v, maxPageSize)
		}
	}
	if v := q.Get("sort"); v != "" {
		if !slices.Contains(sorts, v) {
			return p, badRequest("sort %q: this list sorts by %s", v, strings.Join(sorts, ", "))
		}
		p.sort = v
	}
	if v := q.Get("sort_reverse"); v != "" {
		if p.reverse, err = strconv.ParseBool(v); err != nil {
			return p, badRequest("sort_reverse %q: true or false", v)
		}
	}
	name := q.Get("name")
	if len(name) > maxFilterBytes {
		return p, badRequest("name filter is %d bytes long; the limit is %d", len(name), maxFilterBytes)
	}
	regex := false
	if v := q.Get("use_regex"); v != "" {
		if regex, err = strconv.ParseBool(v); err != nil {
			return p, badRequest("use_regex %q: true or false", v)
		}
	}
	switch {
	case name == "":
	case regex:
		re, err := regexp.Compile(name)
		if err != nil {
			return p, badRequest("name filter: %v", err)
		}
		p.filter = re.MatchString
	default:
		lower := strings.ToLower(name)
		p.filter = func(s string) bool { return strings.Contains(strings.ToLower(s), lower) }
	}
	return p, nil
}

// bounds returns the [start, end) of the page within n items.
func (p listParams) bounds(n int) (int, int) {
	start := min((p.page-1)*p.pageSize, n)
	return start, min(start+p.pageSize, n)
}

// pageCount is how many pages n items fill.
func (p listParams) pageCount(n int) int { return (n + p.pageSize - 1) / p.pageSize }

// answer builds the page object of items (already the page), filtered of
// total.
func answer[T any](p listParams, items []T, filtered, total int) pageOf[T] {
	if items == nil {
		items = []T{}
	}
	return pageOf[T]{
		Items: items, Page: p.page, PageSize: p.pageSize, PageCount: p.pageCount(filtered),
		ItemCount: len(items), FilteredCount: filtered, TotalCount: total,
	}
}

// pageList filters, sorts and pages a whole list held in memory (for
// lists the broker keeps in memory anyway: exchanges, bindings, users,
// vhosts, permissions). key is the sort field's value of an item.
func pageList[T any](p listParams, all []T, name func(T) string, key func(T, string) string) pageOf[T] {
	kept := all
	if p.filter != nil {
		kept = make([]T, 0, len(all))
		for _, x := range all {
			if p.filter(name(x)) {
				kept = append(kept, x)
			}
		}
	}
	sorted := slices.Clone(kept)
	slices.SortStableFunc(sorted, func(a, b T) int {
		c := cmp.Compare(key(a, p.sort), key(b, p.sort))
		if p.reverse {
			return -c
		}
		return c
	})
	start, end := p.bounds(len(sorted))
	return answer(p, sorted[start:end], len(sorted), len(all))
}
