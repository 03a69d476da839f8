package oci_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/pier-registry/pier/internal/oci"
)

// Media types and digests of the manifests below.
const (
	mtImage        = "application/vnd.oci.image.manifest.v1+json"
	mtIndex        = "application/vnd.oci.image.index.v1+json"
	mtDocker       = "application/vnd.docker.distribution.manifest.v2+json"
	mtDockerList   = "application/vnd.docker.distribution.manifest.list.v2+json"
	mtConfig       = "application/vnd.oci.image.config.v1+json"
	mtDockerConfig = "application/vnd.docker.container.image.v1+json"
	mtLayer        = "application/vnd.oci.image.layer.v1.tar+gzip"
	mtDockerLayer  = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	mtEmpty        = "application/vnd.oci.empty.v1+json"
	mtSBOM         = "application/vnd.example.sbom.v1+json"
)

var (
	tdConfig  = digest.FromString("config")
	tdLayer   = digest.FromString("layer")
	tdLayer2  = digest.FromString("layer2")
	tdImage   = digest.FromString("image")
	tdImage2  = digest.FromString("image2")
	tdSubject = digest.FromString("subject")
	tdEmpty   = digest.FromString("{}") // sha256:44136fa3...
)

// jdesc is the JSON of a descriptor; extra holds more fields ("" for none).
func jdesc(mt string, d digest.Digest, size int64, extra string) string {
	s := fmt.Sprintf(`{"mediaType":%q,"digest":%q,"size":%d`, mt, d, size)
	if extra != "" {
		s += "," + extra
	}
	return s + "}"
}

// jimage is the JSON of an image manifest of media type mt ("" for none)
// whose config is config and layers layers; extra holds more fields.
func jimage(mt, config, layers, extra string) string {
	s := `{"schemaVersion":2`
	if mt != "" {
		s += fmt.Sprintf(`,"mediaType":%q`, mt)
	}
	s += `,"config":` + config
	if layers != "" {
		s += `,"layers":` + layers
	}
	if extra != "" {
		s += "," + extra
	}
	return s + "}"
}

// jindex is the JSON of an index of media type mt ("" for none) whose
// manifests are manifests; extra holds more fields.
func jindex(mt, manifests, extra string) string {
	s := `{"schemaVersion":2`
	if mt != "" {
		s += fmt.Sprintf(`,"mediaType":%q`, mt)
	}
	if manifests != "" {
		s += `,"manifests":` + manifests
	}
	if extra != "" {
		s += "," + extra
	}
	return s + "}"
}

var (
	tjConfig  = jdesc(mtConfig, tdConfig, 1469, "")
	tjLayers  = "[" + jdesc(mtLayer, tdLayer, 3208942, "") + "," + jdesc(mtLayer, tdLayer2, 32, "") + "]"
	tjImage   = jimage(mtImage, tjConfig, tjLayers, "")
	tjEntries = "[" + jdesc(mtImage, tdImage, 528, `"platform":{"architecture":"amd64","os":"linux"}`) + "," +
		jdesc(mtImage, tdImage2, 528, `"platform":{"architecture":"arm64","os":"linux","variant":"v8"}`) + "]"
	tjIndex   = jindex(mtIndex, tjEntries, "")
	tjSubject = `"subject":` + jdesc(mtImage, tdSubject, 1234, "")
	tjEmpty   = jdesc(mtEmpty, tdEmpty, 2, `"data":"e30="`)
)

func TestParseManifest(t *testing.T) {
	type want struct {
		mediaType    string
		artifactType string
		config       digest.Digest // "" for an index
		layers       int
		manifests    int
		subject      digest.Digest
		annotations  map[string]string
	}
	image := want{mediaType: mtImage, artifactType: mtConfig, config: tdConfig, layers: 2}
	index := want{mediaType: mtIndex, manifests: 2}
	tests := []struct {
		name        string
		contentType string
		body        string
		want        want
	}{
		{"OCI image", mtImage, tjImage, image},
		{"OCI image, no Content-Type", "", tjImage, image},
		{"OCI image, Content-Type with parameters", mtImage + "; charset=utf-8", tjImage, image},
		{"OCI image, Content-Type with spaces", " " + mtImage + " ", tjImage, image},
		{"OCI image, whitespace around the JSON", mtImage, "\n\t " + tjImage + " \r\n", image},
		{"OCI image, mediaType from Content-Type", mtImage, jimage("", tjConfig, tjLayers, ""), image},
		{"OCI image, no layers", mtImage, jimage(mtImage, tjConfig, "", ""),
			want{mediaType: mtImage, artifactType: mtConfig, config: tdConfig}},
		{"OCI image, empty layers", mtImage, jimage(mtImage, tjConfig, "[]", ""),
			want{mediaType: mtImage, artifactType: mtConfig, config: tdConfig}},
		{"OCI image, null manifests", mtImage, jimage(mtImage, tjConfig, tjLayers, `"manifests":null`), image},
		{"OCI image, annotations", mtImage,
			jimage(mtImage, tjConfig, tjLayers, `"annotations":{"org.opencontainers.image.created":"2024-01-01T00:00:00Z"}`),
			want{mediaType: mtImage, artifactType: mtConfig, config: tdConfig, layers: 2,
				annotations: map[string]string{"org.opencontainers.image.created": "2024-01-01T00:00:00Z"}}},
		{"OCI image, unknown fields ignored", mtImage, jimage(mtImage, tjConfig, tjLayers, `"x-extra":[1,{"a":null}]`), image},
		{"OCI index", mtIndex, tjIndex, index},
		{"OCI index, no Content-Type", "", tjIndex, index},
		{"OCI index, mediaType from Content-Type", mtIndex, jindex("", tjEntries, ""), index},
		{"OCI index, empty manifests", mtIndex, jindex(mtIndex, "[]", ""), want{mediaType: mtIndex}},
		{"OCI index, artifactType and subject", mtIndex,
			jindex(mtIndex, tjEntries, `"artifactType":"`+mtSBOM+`",`+tjSubject),
			want{mediaType: mtIndex, artifactType: mtSBOM, manifests: 2, subject: tdSubject}},
		{"OCI index, nested index entry", mtIndex, jindex(mtIndex, "["+jdesc(mtIndex, tdImage, 300, "")+"]", ""),
			want{mediaType: mtIndex, manifests: 1}},
		{"Docker manifest", mtDocker,
			jimage(mtDocker, jdesc(mtDockerConfig, tdConfig, 7023, ""), "["+jdesc(mtDockerLayer, tdLayer, 32654, "")+"]", ""),
			want{mediaType: mtDocker, artifactType: mtDockerConfig, config: tdConfig, layers: 1}},
		{"Docker manifest list", mtDockerList,
			jindex(mtDockerList, "["+jdesc(mtDocker, tdImage, 7143, `"platform":{"architecture":"ppc64le","os":"linux"}`)+"]", ""),
			want{mediaType: mtDockerList, manifests: 1}},
		{"artifact with artifactType", mtImage,
			jimage(mtImage, tjEmpty, "["+jdesc(mtSBOM, tdLayer, 8192, "")+"]", `"artifactType":"`+mtSBOM+`"`),
			want{mediaType: mtImage, artifactType: mtSBOM, config: tdEmpty, layers: 1}},
		{"artifactType defaults to config mediaType", mtImage,
			jimage(mtImage, jdesc(mtSBOM, tdConfig, 10, ""), "["+tjEmpty+"]", ""),
			want{mediaType: mtImage, artifactType: mtSBOM, config: tdConfig, layers: 1}},
		{"image with subject", mtImage,
			jimage(mtImage, tjEmpty, "["+tjEmpty+"]", `"artifactType":"application/vnd.example.signature",`+tjSubject),
			want{mediaType: mtImage, artifactType: "application/vnd.example.signature", config: tdEmpty, layers: 1, subject: tdSubject}},
		{"data field, empty", mtImage,
			jimage(mtImage, tjConfig, "["+jdesc(mtLayer, digest.FromString(""), 0, `"data":""`)+"]", ""),
			want{mediaType: mtImage, artifactType: mtConfig, config: tdConfig, layers: 1}},
		{"data field, sha512", mtImage,
			jimage(mtImage, jdesc(mtEmpty, digest.SHA512.FromString("{}"), 2, `"data":"e30="`), "[]", ""),
			want{mediaType: mtImage, artifactType: mtEmpty, config: digest.SHA512.FromString("{}")}},
		{"descriptor with sha512 digest and urls", mtImage,
			jimage(mtImage, tjConfig, "["+jdesc(mtLayer, digest.SHA512.FromString("l"), 1, `"urls":["https://example.com/l"]`)+"]", ""),
			want{mediaType: mtImage, artifactType: mtConfig, config: tdConfig, layers: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := oci.ParseManifest(tt.contentType, []byte(tt.body))
			if err != nil {
				t.Fatalf("ParseManifest: %v\nbody: %s", err, tt.body)
			}
			w := tt.want
			if m.MediaType != w.mediaType {
				t.Errorf("MediaType = %q, want %q", m.MediaType, w.mediaType)
			}
			if m.ArtifactType != w.artifactType {
				t.Errorf("ArtifactType = %q, want %q", m.ArtifactType, w.artifactType)
			}
			wantIndex := w.config == ""
			if m.IsIndex() != wantIndex {
				t.Errorf("IsIndex() = %v, want %v", m.IsIndex(), wantIndex)
			}
			switch {
			case wantIndex && m.Config != nil:
				t.Errorf("index has Config %+v", m.Config)
			case !wantIndex && m.Config == nil:
				t.Errorf("image has no Config")
			case !wantIndex && m.Config.Digest != w.config:
				t.Errorf("Config.Digest = %s, want %s", m.Config.Digest, w.config)
			}
			if wantIndex && m.Manifests == nil {
				t.Errorf("index has nil Manifests")
			}
			if len(m.Layers) != w.layers {
				t.Errorf("%d layers, want %d", len(m.Layers), w.layers)
			}
			if len(m.Manifests) != w.manifests {
				t.Errorf("%d manifests, want %d", len(m.Manifests), w.manifests)
			}
			switch {
			case w.subject == "" && m.Subject != nil:
				t.Errorf("Subject = %+v, want none", m.Subject)
			case w.subject != "" && (m.Subject == nil || m.Subject.Digest != w.subject):
				t.Errorf("Subject = %+v, want digest %s", m.Subject, w.subject)
			}
			if len(m.Annotations) != len(w.annotations) {
				t.Errorf("Annotations = %v, want %v", m.Annotations, w.annotations)
			}
			for k, v := range w.annotations {
				if m.Annotations[k] != v {
					t.Errorf("Annotations[%q] = %q, want %q", k, m.Annotations[k], v)
				}
			}
		})
	}
}

func TestParseManifestKeepsDescriptors(t *testing.T) {
	m, err := oci.ParseManifest("", []byte(tjIndex))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 2 {
		t.Fatalf("%d manifests, want 2", len(m.Manifests))
	}
	e := m.Manifests[1]
	if e.MediaType != mtImage || e.Digest != tdImage2 || e.Size != 528 {
		t.Errorf("manifests[1] = %s %s %d, want %s %s 528", e.MediaType, e.Digest, e.Size, mtImage, tdImage2)
	}
	if e.Platform == nil || e.Platform.Architecture != "arm64" || e.Platform.Variant != "v8" {
		t.Errorf("manifests[1].Platform = %+v, want arm64 v8", e.Platform)
	}
}

func TestParseManifestInvalid(t *testing.T) {
	badData := base64.StdEncoding.EncodeToString([]byte("{]"))
	tests := []struct {
		name        string
		contentType string
		body        string
		// inMessage is a piece of the message that says what is wrong.
		inMessage string
	}{
		// Not one JSON document.
		{"empty body", mtImage, "", "not JSON"},
		{"not JSON", mtImage, "hello", "not JSON"},
		{"truncated JSON", mtImage, tjImage[:len(tjImage)-1], "not JSON"},
		{"JSON array", mtImage, "[" + tjImage + "]", "not JSON"},
		{"JSON string", mtImage, `"manifest"`, "not JSON"},
		{"JSON null", mtImage, "null", "schemaVersion"},
		{"trailing garbage", mtImage, tjImage + "garbage", "trailing data"},
		{"trailing second document", mtImage, tjImage + "{}", "trailing data"},
		{"trailing same document", mtImage, tjImage + "\n" + tjImage, "trailing data"},
		{"trailing closing brace", mtImage, tjImage + "}", "trailing data"},
		{"trailing closing bracket", mtImage, tjImage + "]", "trailing data"},
		{"trailing comma", mtImage, tjImage + ",", "trailing data"},
		{"trailing NUL", mtImage, tjImage + "\x00", "trailing data"},
		{"trailing non-breaking space", mtImage, tjImage + "\u00a0", "trailing data"},
		{"wrong type of field", mtImage, `{"schemaVersion":2,"mediaType":"` + mtImage + `","config":[]}`, "not JSON"},
		{"schemaVersion as string", mtImage, strings.Replace(tjImage, `"schemaVersion":2`, `"schemaVersion":"2"`, 1), "not JSON"},

		// schemaVersion.
		{"schemaVersion missing", mtImage, strings.Replace(tjImage, `"schemaVersion":2,`, "", 1), "schemaVersion"},
		{"schemaVersion 1", mtImage, strings.Replace(tjImage, `"schemaVersion":2`, `"schemaVersion":1`, 1), "schemaVersion"},
		{"schemaVersion 3", mtImage, strings.Replace(tjImage, `"schemaVersion":2`, `"schemaVersion":3`, 1), "schemaVersion"},
		{"schemaVersion null", mtImage, strings.Replace(tjImage, `"schemaVersion":2`, `"schemaVersion":null`, 1), "schemaVersion"},
		{"Docker schema 1", "application/vnd.docker.distribution.manifest.v1+prettyjws",
			`{"schemaVersion":1,"name":"library/hello","tag":"latest","architecture":"amd64",` +
				`"fsLayers":[{"blobSum":"` + tdLayer.String() + `"}],"history":[{"v1Compatibility":"{}"}]}`, "schema 1"},
		{"fsLayers with schemaVersion 2", mtImage, jimage(mtImage, tjConfig, tjLayers, `"fsLayers":[]`), "schema 1"},

		// Media type of the manifest.
		{"no mediaType, no Content-Type", "", jimage("", tjConfig, tjLayers, ""), "no mediaType"},
		{"no mediaType, Content-Type application/json", "application/json", jimage("", tjConfig, tjLayers, ""), "unsupported manifest media type"},
		{"no mediaType, Content-Type with only parameters", "; charset=utf-8", jimage("", tjConfig, tjLayers, ""), "no mediaType"},
		{"Content-Type mismatch", mtIndex, tjImage, "does not match"},
		{"Content-Type Docker, mediaType OCI", mtDocker, tjImage, "does not match"},
		{"Content-Type in another case", strings.ToUpper(mtImage), tjImage, "does not match"},
		{"unsupported mediaType", "", jimage("application/vnd.example+json", tjConfig, tjLayers, ""), "unsupported manifest media type"},
		{"mediaType without subtype", "", jimage("application", tjConfig, tjLayers, ""), "unsupported manifest media type"},
		{"mediaType with parameters", "", jimage(mtImage+"; charset=utf-8", tjConfig, tjLayers, ""), "unsupported manifest media type"},
		{"mediaType of a layer", "", jimage(mtLayer, tjConfig, tjLayers, ""), "unsupported manifest media type"},

		// Fields of the wrong kind of manifest.
		{"image with manifests", mtImage, jimage(mtImage, tjConfig, tjLayers, `"manifests":`+tjEntries), "no manifests field"},
		{"image with empty manifests", mtImage, jimage(mtImage, tjConfig, tjLayers, `"manifests":[]`), "no manifests field"},
		{"image without config", mtImage, jindex(mtImage, "", `"layers":`+tjLayers), "needs a config"},
		{"image with null config", mtImage, jimage(mtImage, "null", tjLayers, ""), "needs a config"},
		{"Docker manifest without layers", mtDocker, jimage(mtDocker, jdesc(mtDockerConfig, tdConfig, 1, ""), "", ""), "needs layers"},
		{"index with layers", mtIndex, jindex(mtIndex, tjEntries, `"layers":`+tjLayers), "no config or layers"},
		{"index with empty layers", mtIndex, jindex(mtIndex, tjEntries, `"layers":[]`), "no config or layers"},
		{"index with config", mtIndex, jindex(mtIndex, tjEntries, `"config":`+tjConfig), "no config or layers"},
		{"index without manifests", mtIndex, jindex(mtIndex, "", ""), "needs a manifests field"},
		{"index with null manifests", mtIndex, jindex(mtIndex, "null", ""), "needs a manifests field"},
		{"Docker list with layers", mtDockerList, jindex(mtDockerList, "[]", `"layers":[]`), "no config or layers"},

		// Media types in descriptors and artifactType.
		{"config mediaType empty", mtImage, jimage(mtImage, jdesc("", tdConfig, 1, ""), tjLayers, ""), "config: mediaType"},
		{"config mediaType missing", mtImage, jimage(mtImage, `{"digest":"`+tdConfig.String()+`","size":1}`, tjLayers, ""), "config: mediaType"},
		{"layer mediaType without slash", mtImage, jimage(mtImage, tjConfig, "["+jdesc("tar", tdLayer, 1, "")+"]", ""), "layers[0]: mediaType"},
		{"layer mediaType with two slashes", mtImage, jimage(mtImage, tjConfig, "["+jdesc("application/a/b", tdLayer, 1, "")+"]", ""), "layers[0]: mediaType"},
		{"layer mediaType with space", mtImage, jimage(mtImage, tjConfig, "["+jdesc("application/ tar", tdLayer, 1, "")+"]", ""), "layers[0]: mediaType"},
		{"layer mediaType with parameters", mtImage, jimage(mtImage, tjConfig, "["+jdesc(mtLayer+";v=1", tdLayer, 1, "")+"]", ""), "layers[0]: mediaType"},
		{"layer mediaType empty subtype", mtImage, jimage(mtImage, tjConfig, "["+jdesc(mtLayer, tdLayer, 1, "")+","+jdesc("application/", tdLayer2, 1, "")+"]", ""), "layers[1]: mediaType"},
		{"layer mediaType type starts with '.'", mtImage, jimage(mtImage, tjConfig, "["+jdesc(".application/tar", tdLayer, 1, "")+"]", ""), "layers[0]: mediaType"},
		{"layer mediaType too long", mtImage, jimage(mtImage, tjConfig, "["+jdesc("application/"+strings.Repeat("x", 128), tdLayer, 1, "")+"]", ""), "layers[0]: mediaType"},
		{"index entry mediaType empty", mtIndex, jindex(mtIndex, "["+jdesc("", tdImage, 1, "")+"]", ""), "manifests[0]: mediaType"},
		{"subject mediaType bad", mtImage, jimage(mtImage, tjConfig, tjLayers, `"subject":`+jdesc("image", tdSubject, 1, "")), "subject: mediaType"},
		{"artifactType not a media type", mtImage, jimage(mtImage, tjEmpty, tjLayers, `"artifactType":"sbom"`), "artifactType"},
		{"index artifactType not a media type", mtIndex, jindex(mtIndex, tjEntries, `"artifactType":"a b/c"`), "artifactType"},
		{"config mediaType as artifactType invalid", mtImage, jimage(mtImage, jdesc("x/y z", tdConfig, 1, ""), tjLayers, ""), "config: mediaType"},
		{"descriptor artifactType invalid", mtIndex, jindex(mtIndex, "["+jdesc(mtImage, tdImage, 1, `"artifactType":"nope"`)+"]", ""), "manifests[0]: artifactType"},

		// Sizes.
		{"config negative size", mtImage, jimage(mtImage, jdesc(mtConfig, tdConfig, -1, ""), tjLayers, ""), "config: negative size"},
		{"layer negative size", mtImage, jimage(mtImage, tjConfig, "["+jdesc(mtLayer, tdLayer, -9223372036854775808, "")+"]", ""), "layers[0]: negative size"},
		{"index entry negative size", mtIndex, jindex(mtIndex, "["+jdesc(mtImage, tdImage, -5, "")+"]", ""), "manifests[0]: negative size"},
		{"subject negative size", mtImage, jimage(mtImage, tjConfig, tjLayers, `"subject":`+jdesc(mtImage, tdSubject, -1, "")), "subject: negative size"},
		{"size overflows int64", mtImage, jimage(mtImage, tjConfig, `[{"mediaType":"`+mtLayer+`","digest":"`+tdLayer.String()+`","size":9223372036854775808}]`, ""), "not JSON"},
		{"size not an integer", mtImage, jimage(mtImage, tjConfig, `[{"mediaType":"`+mtLayer+`","digest":"`+tdLayer.String()+`","size":1.5}]`, ""), "not JSON"},

		// Digests.
		{"config digest empty", mtImage, jimage(mtImage, jdesc(mtConfig, "", 1, ""), tjLayers, ""), "config: invalid digest"},
		{"config digest missing", mtImage, jimage(mtImage, `{"mediaType":"`+mtConfig+`","size":1}`, tjLayers, ""), "config: invalid digest"},
		{"layer digest sha384", mtImage, jimage(mtImage, tjConfig, "["+jdesc(mtLayer, digest.SHA384.FromString("x"), 1, "")+"]", ""), "layers[0]: digest algorithm \"sha384\" is not supported"},
		{"layer digest short", mtImage, jimage(mtImage, tjConfig, "["+jdesc(mtLayer, "sha256:abc", 1, "")+"]", ""), "layers[0]: invalid digest"},
		{"layer digest uppercase", mtImage, jimage(mtImage, tjConfig, "["+jdesc(mtLayer, digest.Digest("sha256:"+strings.ToUpper(tdLayer.Encoded())), 1, "")+"]", ""), "layers[0]: invalid digest"},
		{"layer digest unknown algorithm", mtImage, jimage(mtImage, tjConfig, "["+jdesc(mtLayer, "md5:d41d8cd98f00b204e9800998ecf8427e", 1, "")+"]", ""), "layers[0]: invalid digest"},
		{"layer digest without algorithm", mtImage, jimage(mtImage, tjConfig, "["+jdesc(mtLayer, digest.Digest(tdLayer.Encoded()), 1, "")+"]", ""), "layers[0]: invalid digest"},
		{"index entry digest invalid", mtIndex, jindex(mtIndex, "["+jdesc(mtImage, "sha256:", 1, "")+"]", ""), "manifests[0]: invalid digest"},
		{"subject digest invalid", mtImage, jimage(mtImage, tjConfig, tjLayers, `"subject":`+jdesc(mtImage, "sha512:"+digest.Digest(tdSubject.Encoded()), 1, "")), "subject: invalid digest"},

		// The data field.
		{"data wrong size", mtImage, jimage(mtImage, jdesc(mtEmpty, tdEmpty, 3, `"data":"e30="`), tjLayers, ""), "config: data holds 2 bytes"},
		{"data larger than size", mtImage, jimage(mtImage, jdesc(mtEmpty, tdEmpty, 1, `"data":"e30="`), tjLayers, ""), "config: data holds 2 bytes"},
		{"data empty, size not zero", mtImage, jimage(mtImage, tjConfig, "["+jdesc(mtLayer, digest.FromString(""), 1, `"data":""`)+"]", ""), "layers[0]: data holds 0 bytes"},
		{"data wrong bytes", mtImage, jimage(mtImage, jdesc(mtEmpty, tdEmpty, 2, `"data":"`+badData+`"`), tjLayers, ""), "config: data does not match"},
		{"data wrong bytes sha512", mtImage, jimage(mtImage, jdesc(mtEmpty, digest.SHA512.FromString("{}"), 2, `"data":"`+badData+`"`), tjLayers, ""), "config: data does not match"},
		{"data in subject wrong", mtImage, jimage(mtImage, tjConfig, tjLayers, `"subject":`+jdesc(mtImage, tdSubject, 2, `"data":"e30="`)), "subject: data does not match"},
		{"data not base64", mtImage, jimage(mtImage, jdesc(mtEmpty, tdEmpty, 2, `"data":"{}"`), tjLayers, ""), "not JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := oci.ParseManifest(tt.contentType, []byte(tt.body))
			if err == nil {
				t.Fatalf("ParseManifest accepted it: %+v\nbody: %s", m, tt.body)
			}
			if m != nil {
				t.Errorf("ParseManifest returned a manifest with its error")
			}
			e, ok := oci.AsError(err)
			if !ok {
				t.Fatalf("error %v is not an *oci.Error", err)
			}
			if e.Code != oci.CodeManifestInvalid || e.Status() != 400 {
				t.Errorf("code %s status %d, want MANIFEST_INVALID 400 (%v)", e.Code, e.Status(), err)
			}
			if !strings.Contains(e.Message, tt.inMessage) {
				t.Errorf("message %q does not say %q", e.Message, tt.inMessage)
			}
		})
	}
}

func TestManifestReferences(t *testing.T) {
	const (
		mtNDTar     = "application/vnd.oci.image.layer.nondistributable.v1.tar"
		mtNDGzip    = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
		mtNDZstd    = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
		mtForeign   = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
		mtLayerTar  = "application/vnd.oci.image.layer.v1.tar"
		mtLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
	)
	dl := func(s string) digest.Digest { return digest.FromString(s) }
	digests := func(ds []v1.Descriptor) []digest.Digest {
		var out []digest.Digest
		for _, d := range ds {
			out = append(out, d.Digest)
		}
		return out
	}
	tests := []struct {
		name                          string
		contentType, body             string
		wantBlobs, wantMans, wantSkip []digest.Digest
	}{
		{
			name: "OCI image", contentType: mtImage, body: tjImage,
			wantBlobs: []digest.Digest{tdConfig, tdLayer, tdLayer2},
		},
		{
			name: "OCI image without layers", contentType: mtImage, body: jimage(mtImage, tjConfig, "", ""),
			wantBlobs: []digest.Digest{tdConfig},
		},
		{
			name: "OCI non-distributable layers", contentType: mtImage,
			body: jimage(mtImage, tjConfig, "["+
				jdesc(mtNDGzip, dl("nd-gzip"), 100, `"urls":["https://example.com/nd"]`)+","+
				jdesc(mtLayer, dl("l1"), 10, "")+","+
				jdesc(mtNDTar, dl("nd-tar"), 100, "")+","+
				jdesc(mtLayerTar, dl("l2"), 10, "")+","+
				jdesc(mtNDZstd, dl("nd-zstd"), 100, "")+","+
				jdesc(mtLayerZstd, dl("l3"), 10, "")+"]", ""),
			wantBlobs: []digest.Digest{tdConfig, dl("l1"), dl("l2"), dl("l3")},
			wantSkip:  []digest.Digest{dl("nd-gzip"), dl("nd-tar"), dl("nd-zstd")},
		},
		{
			name: "Docker foreign layer", contentType: mtDocker,
			body: jimage(mtDocker, jdesc(mtDockerConfig, tdConfig, 10, ""), "["+
				jdesc(mtForeign, dl("windows-base"), 1000, `"urls":["https://mcr.microsoft.com/l/windows-base"]`)+","+
				jdesc(mtDockerLayer, dl("app"), 10, "")+"]", ""),
			wantBlobs: []digest.Digest{tdConfig, dl("app")},
			wantSkip:  []digest.Digest{dl("windows-base")},
		},
		{
			name: "only non-distributable layers", contentType: mtImage,
			body:      jimage(mtImage, tjConfig, "["+jdesc(mtNDGzip, dl("nd"), 1, "")+"]", ""),
			wantBlobs: []digest.Digest{tdConfig},
			wantSkip:  []digest.Digest{dl("nd")},
		},
		{
			name: "look-alike media types are distributable", contentType: mtImage,
			body: jimage(mtImage, tjConfig, "["+
				jdesc("application/vnd.oci.image.layer.nondistributable.v2.tar", dl("a"), 1, "")+","+
				jdesc("application/vnd.docker.image.rootfs.foreign.diff.tar", dl("b"), 1, "")+"]", ""),
			wantBlobs: []digest.Digest{tdConfig, dl("a"), dl("b")},
		},
		{
			name: "OCI index", contentType: mtIndex, body: tjIndex,
			wantMans: []digest.Digest{tdImage, tdImage2},
		},
		{
			name: "Docker manifest list", contentType: mtDockerList,
			body:     jindex(mtDockerList, "["+jdesc(mtDocker, tdImage, 1, "")+"]", ""),
			wantMans: []digest.Digest{tdImage},
		},
		{
			name: "empty index", contentType: mtIndex, body: jindex(mtIndex, "[]", ""),
		},
		{
			name: "subject is not a reference", contentType: mtImage,
			body:      jimage(mtImage, tjEmpty, "["+tjEmpty+"]", tjSubject),
			wantBlobs: []digest.Digest{tdEmpty, tdEmpty},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := oci.ParseManifest(tt.contentType, []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			blobs, mans, skipped := m.References()
			for _, c := range []struct {
				what      string
				got, want []digest.Digest
			}{
				{"blobs", digests(blobs), tt.wantBlobs},
				{"manifests", digests(mans), tt.wantMans},
				{"skipped", digests(skipped), tt.wantSkip},
			} {
				if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
					t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
				}
			}
		})
	}
}

func TestIsNonDistributable(t *testing.T) {
	for mt, want := range map[string]bool{
		"application/vnd.oci.image.layer.nondistributable.v1.tar":        true,
		"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip":   true,
		"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd":   true,
		"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip":      true,
		"application/vnd.oci.image.layer.v1.tar+gzip":                    false,
		"application/vnd.docker.image.rootfs.diff.tar.gzip":              false,
		"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip+zstd": false,
		"": false,
	} {
		if got := oci.IsNonDistributable(mt); got != want {
			t.Errorf("IsNonDistributable(%q) = %v, want %v", mt, got, want)
		}
	}
}
