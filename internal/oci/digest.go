package oci

import (
	_ "crypto/sha256" // registers sha256 with go-digest
	_ "crypto/sha512" // registers sha512 with go-digest

	"github.com/opencontainers/go-digest"
)

// Algorithms are the digest algorithms Pier accepts, canonical first.
var Algorithms = []digest.Algorithm{digest.SHA256, digest.SHA512}

// ParseDigest parses s as a digest of an algorithm Pier accepts (sha256 or
// sha512) with an encoded part of the right length and alphabet. It returns a
// DIGEST_INVALID error otherwise.
func ParseDigest(s string) (digest.Digest, error) {
	d, err := digest.Parse(s)
	if err != nil {
		return "", Errorf(CodeDigestInvalid, "invalid digest %q: %v", truncate(s), err)
	}
	if !SupportedAlgorithm(d.Algorithm()) {
		return "", Errorf(CodeDigestInvalid, "unsupported digest algorithm %q: use sha256 or sha512", truncate(string(d.Algorithm())))
	}
	return d, nil
}

// SupportedAlgorithm reports whether a is one of Algorithms.
func SupportedAlgorithm(a digest.Algorithm) bool {
	for _, b := range Algorithms {
		if a == b {
			return true
		}
	}
	return false
}

// Reference is the <reference> of a manifest URL: a tag or a digest.
type Reference struct {
	Tag    string
	Digest digest.Digest
}

// String returns the tag or the digest.
func (r Reference) String() string {
	if r.Tag != "" {
		return r.Tag
	}
	return r.Digest.String()
}

// ParseReference parses s as a tag or, when it holds a ':', a digest.
func ParseReference(s string) (Reference, error) {
	if ValidTag(s) {
		return Reference{Tag: s}, nil
	}
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			d, err := ParseDigest(s)
			if err != nil {
				return Reference{}, err
			}
			return Reference{Digest: d}, nil
		}
	}
	return Reference{}, Errorf(CodeManifestInvalid, "invalid reference %q: not a tag or a digest", truncate(s)).WithStatus(400)
}
