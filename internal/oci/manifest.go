package oci

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// MaxManifestSize is the largest manifest Pier accepts: the 4 MiB that the
// distribution spec asks every registry to accept.
const MaxManifestSize = 4 << 20

// Manifest is what Pier needs to know of a pushed manifest or index: its
// kind, what it points to, and what a referrers listing shows of it.
type Manifest struct {
	// MediaType is the manifest's media type, from the document or, when
	// the document has none, from the Content-Type it was pushed with.
	MediaType string
	// ArtifactType is the manifest's artifactType or, for an image manifest
	// without one, its config's media type (image-spec's rule for
	// referrers listings).
	ArtifactType string
	// Config is an image manifest's config; nil for an index.
	Config *v1.Descriptor
	// Layers are an image manifest's layers.
	Layers []v1.Descriptor
	// Manifests are an index's entries, in document order.
	Manifests []v1.Descriptor
	// Subject is the manifest this one refers to, if any.
	Subject *v1.Descriptor
	// Annotations are the manifest's annotations.
	Annotations map[string]string
}

// IsIndex reports whether m is an index.
func (m *Manifest) IsIndex() bool { return IsIndex(m.MediaType) }

// document is the union of the fields of an image manifest and an index.
type document struct {
	SchemaVersion *int               `json:"schemaVersion"`
	MediaType     string             `json:"mediaType"`
	ArtifactType  string             `json:"artifactType"`
	Config        *v1.Descriptor     `json:"config"`
	Layers        *[]v1.Descriptor   `json:"layers"`
	Manifests     *[]v1.Descriptor   `json:"manifests"`
	Subject       *v1.Descriptor     `json:"subject"`
	Annotations   map[string]string  `json:"annotations"`
	FSLayers      *[]json.RawMessage `json:"fsLayers"` // Docker schema 1, refused
}

// ParseManifest parses and checks body, pushed with the Content-Type
// contentType. It returns a MANIFEST_INVALID error that says what is wrong
// when the body is not a manifest of a kind Pier stores: an OCI image
// manifest or index, or a Docker schema 2 manifest or manifest list.
func ParseManifest(contentType string, body []byte) (*Manifest, error) {
	ct := contentType
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.TrimSpace(ct)

	var doc document
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&doc); err != nil {
		return nil, invalid("not JSON: %v", err)
	}
	// Not dec.More: it is false for a stray '}' or ']' after the document.
	if len(bytes.TrimLeft(body[dec.InputOffset():], " \t\r\n")) != 0 {
		return nil, invalid("trailing data after the JSON document")
	}
	if doc.FSLayers != nil {
		return nil, invalid("Docker schema 1 manifests are not supported")
	}
	if doc.SchemaVersion == nil || *doc.SchemaVersion != 2 {
		return nil, invalid("schemaVersion must be 2")
	}
	mt := doc.MediaType
	switch {
	case mt == "" && ct == "":
		return nil, invalid("no mediaType in the manifest and no Content-Type")
	case mt == "":
		mt = ct
	case ct != "" && ct != mt:
		return nil, invalid("Content-Type %q does not match the manifest's mediaType %q", truncate(ct), truncate(mt))
	}

	m := &Manifest{MediaType: mt, ArtifactType: doc.ArtifactType, Subject: doc.Subject, Annotations: doc.Annotations}
	switch {
	case IsImageManifest(mt):
		if doc.Manifests != nil {
			return nil, invalid("an image manifest has no manifests field")
		}
		if doc.Config == nil {
			return nil, invalid("an image manifest needs a config")
		}
		if doc.Layers == nil && mt == MediaTypeDockerManifest {
			return nil, invalid("a Docker manifest needs layers")
		}
		m.Config = doc.Config
		if doc.Layers != nil {
			m.Layers = *doc.Layers
		}
		if err := checkDescriptor("config", *m.Config); err != nil {
			return nil, err
		}
		for i, l := range m.Layers {
			if err := checkDescriptor(fmt.Sprintf("layers[%d]", i), l); err != nil {
				return nil, err
			}
		}
		if m.ArtifactType == "" {
			m.ArtifactType = m.Config.MediaType
		}
	case IsIndex(mt):
		if doc.Config != nil || doc.Layers != nil {
			return nil, invalid("an index has no config or layers")
		}
		if doc.Manifests == nil {
			return nil, invalid("an index needs a manifests field")
		}
		m.Manifests = *doc.Manifests
		for i, d := range m.Manifests {
			if err := checkDescriptor(fmt.Sprintf("manifests[%d]", i), d); err != nil {
				return nil, err
			}
		}
	default:
		return nil, invalid("unsupported manifest media type %q", truncate(mt))
	}
	if m.Subject != nil {
		if err := checkDescriptor("subject", *m.Subject); err != nil {
			return nil, err
		}
	}
	if m.ArtifactType != "" && !ValidMediaType(m.ArtifactType) {
		return nil, invalid("artifactType %q is not a media type", truncate(m.ArtifactType))
	}
	return m, nil
}

// checkDescriptor checks the fields of descriptor d, named where in an error.
func checkDescriptor(where string, d v1.Descriptor) error {
	if !ValidMediaType(d.MediaType) {
		return invalid("%s: mediaType %q is not a media type", where, truncate(d.MediaType))
	}
	if err := d.Digest.Validate(); err != nil {
		return invalid("%s: invalid digest %q: %v", where, truncate(string(d.Digest)), err)
	}
	if !SupportedAlgorithm(d.Digest.Algorithm()) {
		return invalid("%s: digest algorithm %q is not supported: use sha256 or sha512", where, d.Digest.Algorithm())
	}
	if d.Size < 0 {
		return invalid("%s: negative size %d", where, d.Size)
	}
	if d.ArtifactType != "" && !ValidMediaType(d.ArtifactType) {
		return invalid("%s: artifactType %q is not a media type", where, truncate(d.ArtifactType))
	}
	if d.Data != nil {
		if int64(len(d.Data)) != d.Size {
			return invalid("%s: data holds %d bytes, size says %d", where, len(d.Data), d.Size)
		}
		if d.Digest.Algorithm().Available() && d.Digest.Algorithm().FromBytes(d.Data) != d.Digest {
			return invalid("%s: data does not match digest %s", where, d.Digest)
		}
	}
	return nil
}

// References lists the descriptors whose content must be in the registry
// for the manifest to be complete: an image's config and distributable
// layers, or an index's manifests. Skipped lists the non-distributable
// layers, which a registry accepts without their blobs.
func (m *Manifest) References() (blobs, manifests, skipped []v1.Descriptor) {
	if m.IsIndex() {
		return nil, m.Manifests, nil
	}
	blobs = append(blobs, *m.Config)
	for _, l := range m.Layers {
		if IsNonDistributable(l.MediaType) {
			skipped = append(skipped, l)
			continue
		}
		blobs = append(blobs, l)
	}
	return blobs, nil, skipped
}

func invalid(format string, args ...any) *Error {
	return Errorf(CodeManifestInvalid, "invalid manifest: "+format, args...)
}
