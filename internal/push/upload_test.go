package push

import (
	"net/http"
	"testing"
)

// The chunks of a standard upload keep within the registry's limits.
func TestChunkSize(t *testing.T) {
	for _, tc := range []struct {
		name          string
		min, max      string // OCI-Chunk-Min-Length, OCI-Chunk-Max-Length ("": none)
		size, capSize int64
		want          int64
	}{
		{"no limit: one request", "", "", 100 << 20, 0, 100 << 20},
		{"fits under the maximum", "1048576", "4194304", 3 << 20, 0, 3 << 20},
		{"the maximum", "1048576", "4194304", 10 << 20, 0, 4 << 20},
		{"--chunk-size below the maximum", "", "4194304", 10 << 20, 1 << 20, 1 << 20},
		{"--chunk-size above the maximum", "", "4194304", 10 << 20, 8 << 20, 4 << 20},
		{"--chunk-size raised to the minimum", "1048576", "", 10 << 20, 1000, 1 << 20},
		{"the minimum, but never past the blob", "1048576", "", 1000, 10, 1000},
		{"an empty blob", "", "", 0, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.min != "" {
				h.Set("OCI-Chunk-Min-Length", tc.min)
			}
			if tc.max != "" {
				h.Set("OCI-Chunk-Max-Length", tc.max)
			}
			if got := chunkLimits(h).chunkSize(tc.size, tc.capSize); got != tc.want {
				t.Errorf("chunk of a %d-byte blob, cap %d, limits %q-%q: %d, want %d", tc.size, tc.capSize, tc.min, tc.max, got, tc.want)
			}
		})
	}
}

func TestWithQuery(t *testing.T) {
	for _, tc := range []struct{ loc, want string }{
		{"/v2/a/blobs/uploads/1", "/v2/a/blobs/uploads/1?digest=sha256%3Aab"},
		{"/v2/a/blobs/uploads/1?_state=x", "/v2/a/blobs/uploads/1?_state=x&digest=sha256%3Aab"},
	} {
		if got := withQuery(tc.loc, "digest", "sha256:ab"); got != tc.want {
			t.Errorf("withQuery(%q): %q, want %q", tc.loc, got, tc.want)
		}
	}
}
