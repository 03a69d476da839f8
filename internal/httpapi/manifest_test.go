package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/pier-registry/pier/internal/oci"
	"github.com/pier-registry/pier/internal/registry"
)

// TestManifestBlobSizes: a manifest whose descriptors give the wrong size
// of blobs the repository holds is refused with MANIFEST_INVALID naming
// the blob and both sizes, and stores nothing; sparse or not.
func TestManifestBlobSizes(t *testing.T) {
	for _, sparse := range []bool{false, true} {
		t.Run(fmt.Sprint("allow sparse ", sparse), func(t *testing.T) {
			s := newServer(t, registry.Options{AllowSparse: sparse})
			const repo = "sizes/app"
			config := s.pushBlob(t, repo, v1.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux"}`))
			layer := s.pushBlob(t, repo, v1.MediaTypeImageLayerGzip, []byte("twelve bytes"))
			off := func(d v1.Descriptor, by int64) v1.Descriptor { d.Size += by; return d }
			for _, tc := range []struct {
				name  string
				body  []byte
				wrong v1.Descriptor
				size  int64
			}{
				{"layer too large", imageManifest(t, config, off(layer, 1)), layer, layer.Size + 1},
				{"layer too small", imageManifest(t, config, off(layer, -2)), layer, layer.Size - 2},
				{"config", imageManifest(t, off(config, 100), layer), config, config.Size + 100},
			} {
				t.Run(tc.name, func(t *testing.T) {
					before := takeSnapshot(t, s.dir)
					d := digest.FromBytes(tc.body)
					resp, body := s.do(t, request{method: http.MethodPut, path: "/v2/" + repo + "/manifests/" + d.String(),
						header: map[string]string{"Content-Type": v1.MediaTypeImageManifest}, body: tc.body})
					expectError(t, resp, body, http.StatusBadRequest, oci.CodeManifestInvalid)
					for _, w := range []string{tc.wrong.Digest.String(), fmt.Sprint(tc.size), fmt.Sprint(tc.wrong.Size)} {
						if !strings.Contains(string(body), w) {
							t.Errorf("error %s does not say %s", body, w)
						}
					}
					expectUnchanged(t, before, takeSnapshot(t, s.dir))
				})
			}
			s.pushManifest(t, repo, "v1", imageManifest(t, config, layer))
		})
	}
}
