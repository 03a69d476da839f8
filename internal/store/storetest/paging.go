package storetest

import (
	"slices"
	"testing"
)

// allPages reads a listing from its start, n items a page, until a page
// comes back empty, and returns the items of all pages. list returns the
// page of up to n items after the cursor after ("" for the start); cursor
// returns the cursor of an item, the after of the next page. It fails t
// when a page holds more than n items or the listing takes more than
// maxPages pages.
func allPages[T any](t *testing.T, what string, n, maxPages int, list func(after string, n int) ([]T, error), cursor func(T) string) []T {
	t.Helper()
	var got []T
	after := ""
	for pages := 0; ; pages++ {
		if pages > maxPages {
			t.Fatalf("%s: n=%d: more than %d pages", what, n, pages)
		}
		page, err := list(after, n)
		if err != nil {
			t.Fatalf("%s: n=%d: %v", what, n, err)
		}
		if len(page) > n {
			t.Fatalf("%s: n=%d: page of %d", what, n, len(page))
		}
		if len(page) == 0 {
			return got
		}
		got = append(got, page...)
		after = cursor(page[len(page)-1])
	}
}

// wantPage fails t unless page, a page of names listed after last, n at
// most, holds the first n names of all (sorted) that are after last.
func wantPage(t *testing.T, what string, page, all []string, last string, n int) {
	t.Helper()
	var want []string
	for _, name := range all {
		if name > last && len(want) < n {
			want = append(want, name)
		}
	}
	if len(page) != 0 || len(want) != 0 {
		if !slices.Equal(page, want) {
			t.Errorf("%s(last=%q, n=%d) = %q, want %q", what, last, n, page, want)
		}
	}
}

// itself returns s: the cursor of a listing of names is the last name.
func itself(s string) string { return s }
