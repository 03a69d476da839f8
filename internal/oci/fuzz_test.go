package oci_test

import (
	"testing"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/pier-registry/pier/internal/oci"
)

func FuzzParseManifest(f *testing.F) {
	dockerImage := jimage(mtDocker, jdesc(mtDockerConfig, tdConfig, 7023, ""),
		"["+jdesc(mtDockerLayer, tdLayer, 32654, "")+","+
			jdesc(oci.MediaTypeDockerForeignLayer, tdLayer2, 5, `"urls":["https://example.com/l"]`)+"]", "")
	artifact := jimage(mtImage, tjEmpty, "["+jdesc(mtSBOM, tdLayer, 8192, `"annotations":{"org.opencontainers.image.title":"sbom.json"}`)+"]",
		`"artifactType":"`+mtSBOM+`",`+tjSubject+`,"annotations":{"a":"b"}`)
	seeds := []struct{ contentType, body string }{
		// Valid.
		{mtImage, tjImage},
		{"", tjImage},
		{mtImage + "; charset=utf-8", jimage("", tjConfig, tjLayers, "")},
		{mtIndex, tjIndex},
		{mtIndex, jindex(mtIndex, tjEntries, `"artifactType":"`+mtSBOM+`",`+tjSubject)},
		{mtDocker, dockerImage},
		{mtDockerList, jindex(mtDockerList, "["+jdesc(mtDocker, tdImage, 7143, `"platform":{"architecture":"amd64","os":"linux"}`)+"]", "")},
		{mtImage, artifact},
		{mtImage, jimage(mtImage, jdesc("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", tdConfig, 1, ""), "["+tjEmpty+"]", "")},
		// Invalid.
		{mtImage, ""},
		{mtImage, "null"},
		{mtImage, "{}"},
		{mtImage, tjImage + "}"},
		{mtImage, tjImage + "{}"},
		{mtIndex, tjImage},
		{"", jimage("", tjConfig, tjLayers, "")},
		{mtImage, jimage(mtImage, tjConfig, tjLayers, `"manifests":[]`)},
		{mtIndex, jindex(mtIndex, tjEntries, `"layers":[]`)},
		{mtImage, jimage(mtImage, jdesc(mtEmpty, tdEmpty, 3, `"data":"e30="`), "[]", "")},
		{mtImage, jimage(mtImage, jdesc(mtEmpty, tdEmpty, 2, `"data":"e31="`), "[]", "")},
		{mtImage, jimage(mtImage, jdesc(mtConfig, digest.SHA384.FromString("c"), 1, ""), "[]", "")},
		{mtImage, jimage(mtImage, jdesc(mtConfig, tdConfig, -1, ""), "[]", "")},
		{mtImage, jimage(mtImage, jdesc("bad", tdConfig, 1, ""), "[]", "")},
		{"application/vnd.docker.distribution.manifest.v1+prettyjws", `{"schemaVersion":1,"fsLayers":[{"blobSum":"` + tdLayer.String() + `"}]}`},
		{"", `{"schemaVersion":2,"mediaType":"` + mtImage + `","MediaType":"` + mtIndex + `","config":` + tjConfig + `}`},
		{mtImage, "\xff\xfe{"},
	}
	for _, s := range seeds {
		f.Add(s.contentType, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		m, err := oci.ParseManifest(contentType, body)
		if err != nil {
			if m != nil {
				t.Errorf("manifest %+v returned with error %v", m, err)
			}
			e, ok := oci.AsError(err)
			if !ok {
				t.Fatalf("error %v (%T) is not an *oci.Error", err, err)
			}
			if e.Code != oci.CodeManifestInvalid {
				t.Fatalf("error code %s, want MANIFEST_INVALID: %v", e.Code, err)
			}
			return
		}
		if m == nil {
			t.Fatal("nil manifest without an error")
		}
		if !oci.IsIndex(m.MediaType) && !oci.IsImageManifest(m.MediaType) {
			t.Fatalf("accepted media type %q", m.MediaType)
		}
		if m.ArtifactType != "" && !oci.ValidMediaType(m.ArtifactType) {
			t.Errorf("accepted artifactType %q", m.ArtifactType)
		}
		check := func(where string, d v1.Descriptor) {
			t.Helper()
			if err := d.Digest.Validate(); err != nil {
				t.Errorf("%s: accepted digest %q: %v", where, d.Digest, err)
			}
			if !oci.ValidMediaType(d.MediaType) {
				t.Errorf("%s: accepted mediaType %q", where, d.MediaType)
			}
			if d.Size < 0 {
				t.Errorf("%s: accepted size %d", where, d.Size)
			}
			if d.Data != nil && int64(len(d.Data)) != d.Size {
				t.Errorf("%s: accepted %d bytes of data for size %d", where, len(d.Data), d.Size)
			}
		}
		blobs, manifests, skipped := m.References()
		if m.IsIndex() {
			if m.Config != nil || m.Layers != nil {
				t.Errorf("index has config %v, layers %v", m.Config, m.Layers)
			}
			if m.Manifests == nil {
				t.Errorf("index has nil manifests")
			}
			if len(blobs) != 0 || len(skipped) != 0 || len(manifests) != len(m.Manifests) {
				t.Errorf("index References() = %d blobs, %d manifests, %d skipped; has %d manifests",
					len(blobs), len(manifests), len(skipped), len(m.Manifests))
			}
		} else {
			if m.Config == nil {
				t.Fatalf("image manifest without config")
			}
			if m.Manifests != nil {
				t.Errorf("image manifest has manifests %v", m.Manifests)
			}
			if m.ArtifactType == "" {
				t.Errorf("image manifest without artifactType (config mediaType %q)", m.Config.MediaType)
			}
			check("config", *m.Config)
			if len(manifests) != 0 || len(blobs)+len(skipped) != 1+len(m.Layers) || blobs[0].Digest != m.Config.Digest {
				t.Errorf("image References() = %d blobs, %d manifests, %d skipped; has %d layers",
					len(blobs), len(manifests), len(skipped), len(m.Layers))
			}
			for _, d := range skipped {
				if !oci.IsNonDistributable(d.MediaType) {
					t.Errorf("skipped distributable layer %s", d.MediaType)
				}
			}
		}
		for _, d := range m.Layers {
			check("layer", d)
		}
		for _, d := range m.Manifests {
			check("manifest", d)
		}
		if m.Subject != nil {
			check("subject", *m.Subject)
		}
	})
}
