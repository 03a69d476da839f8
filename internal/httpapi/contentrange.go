package httpapi

import (
	"fmt"
	"strconv"
	"strings"
)

// parseContentRange parses the Content-Range of an upload chunk:
// "<start>-<end>", both inclusive byte offsets, as the distribution spec
// writes it; "bytes <start>-<end>" and "bytes=<start>-<end>" (what some
// clients send) and a trailing "/<size>" or "/*" are accepted too.
func parseContentRange(s string) (start, end int64, err error) {
	v := strings.TrimSpace(s)
	if after, ok := strings.CutPrefix(v, "bytes"); ok {
		v = strings.TrimLeft(after, " =")
	}
	if i := strings.IndexByte(v, '/'); i >= 0 {
		v = v[:i]
	}
	a, b, ok := strings.Cut(v, "-")
	if !ok {
		return 0, 0, fmt.Errorf("Content-Range %q is not <start>-<end>", s)
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, fmt.Errorf("Content-Range %q is not <start>-<end>", s)
	}
	return start, end, nil
}
