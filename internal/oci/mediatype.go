package oci

import (
	"strings"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Manifest media types of Docker's schema 2, still pushed by many clients.
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	// MediaTypeDockerForeignLayer is Docker's non-distributable layer.
	MediaTypeDockerForeignLayer = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
)

// IsIndex reports whether mt is the media type of an index (OCI image index
// or Docker manifest list).
func IsIndex(mt string) bool {
	return mt == v1.MediaTypeImageIndex || mt == MediaTypeDockerManifestList
}

// IsImageManifest reports whether mt is the media type of an image manifest
// (OCI or Docker schema 2).
func IsImageManifest(mt string) bool {
	return mt == v1.MediaTypeImageManifest || mt == MediaTypeDockerManifest
}

// IsNonDistributable reports whether a layer of media type mt may be
// referenced without its blob being in the registry: the OCI
// non-distributable layer types (deprecated in image-spec 1.1, still
// accepted) and Docker's foreign layers.
func IsNonDistributable(mt string) bool {
	//nolint:staticcheck // the deprecated constant is the point here
	return strings.HasPrefix(mt, "application/vnd.oci.image.layer.nondistributable.v1.tar") ||
		mt == MediaTypeDockerForeignLayer
}

// ValidMediaType reports whether mt has the form type "/" subtype of
// RFC 6838 that image-spec requires of media types in descriptors.
func ValidMediaType(mt string) bool {
	typ, sub, ok := strings.Cut(mt, "/")
	return ok && restrictedName(typ) && restrictedName(sub)
}

// restrictedName reports whether s is an RFC 6838 restricted-name.
func restrictedName(s string) bool {
	if len(s) == 0 || len(s) > 127 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && strings.IndexByte("!#$&-^_.+", c) >= 0:
		default:
			return false
		}
	}
	return true
}
