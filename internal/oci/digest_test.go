package oci_test

import (
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/oci"
)

func TestParseDigest(t *testing.T) {
	sha256Hex := digest.SHA256.FromString("pier").Encoded()
	sha512Hex := digest.SHA512.FromString("pier").Encoded()
	sha384Hex := digest.SHA384.FromString("pier").Encoded()
	tests := []struct {
		in string
		ok bool
	}{
		{"sha256:" + sha256Hex, true},
		{"sha512:" + sha512Hex, true},
		{"sha256:" + strings.Repeat("0", 64), true},

		// Algorithms Pier does not accept, even when go-digest knows them.
		{"sha384:" + sha384Hex, false},
		{"md5:d41d8cd98f00b204e9800998ecf8427e", false},
		{"sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709", false},
		{"blake3:" + sha256Hex, false},
		{"SHA256:" + sha256Hex, false},

		// Encoded part of the wrong length or alphabet.
		{"sha256:" + sha256Hex[:63], false},
		{"sha256:" + sha256Hex + "0", false},
		{"sha256:" + sha512Hex, false},
		{"sha512:" + sha256Hex, false},
		{"sha256:" + strings.ToUpper(sha256Hex), false},
		{"sha256:" + strings.Repeat("g", 64), false},
		{"sha256:" + sha256Hex[:62] + "+/", false},
		{"sha256:" + sha256Hex + "\n", false},
		{" sha256:" + sha256Hex, false},

		// Not of the form algorithm:encoded.
		{"", false},
		{"sha256", false},
		{"sha256:", false},
		{":" + sha256Hex, false},
		{sha256Hex, false},
		{"sha256::" + sha256Hex, false},
		{"sha256@" + sha256Hex, false},
	}
	for _, tt := range tests {
		d, err := oci.ParseDigest(tt.in)
		if tt.ok {
			if err != nil {
				t.Errorf("ParseDigest(%q) = %v, want ok", tt.in, err)
			} else if d.String() != tt.in {
				t.Errorf("ParseDigest(%q) = %q, want the input back", tt.in, d)
			}
			continue
		}
		if err == nil {
			t.Errorf("ParseDigest(%q) = %q, want an error", tt.in, d)
			continue
		}
		if d != "" {
			t.Errorf("ParseDigest(%q) returned digest %q with its error", tt.in, d)
		}
		e, ok := oci.AsError(err)
		if !ok {
			t.Errorf("ParseDigest(%q) error %v is not an *oci.Error", tt.in, err)
			continue
		}
		if e.Code != oci.CodeDigestInvalid || e.Status() != 400 {
			t.Errorf("ParseDigest(%q): code %s status %d, want DIGEST_INVALID 400", tt.in, e.Code, e.Status())
		}
	}
}

func TestParseDigestTruncatesMessage(t *testing.T) {
	for _, in := range []string{
		"sha256:" + strings.Repeat("x", 100000),
		strings.Repeat("a", 100000) + ":" + strings.Repeat("0", 64),
	} {
		_, err := oci.ParseDigest(in)
		if err == nil {
			t.Fatalf("ParseDigest accepted a %d-character digest", len(in))
		}
		if n := len(err.Error()); n > 1000 {
			t.Errorf("error message is %d characters long, want the digest truncated", n)
		}
	}
}

func TestParseReference(t *testing.T) {
	d256 := digest.SHA256.FromString("pier")
	d512 := digest.SHA512.FromString("pier")
	tests := []struct {
		in         string
		wantTag    string
		wantDigest digest.Digest
		wantCode   oci.Code // "" when the reference is valid
	}{
		{in: "latest", wantTag: "latest"},
		{in: "v1.2.3-rc.1", wantTag: "v1.2.3-rc.1"},
		{in: "_", wantTag: "_"},
		{in: "sha256", wantTag: "sha256"},
		{in: strings.Repeat("t", 128), wantTag: strings.Repeat("t", 128)},
		{in: d256.String(), wantDigest: d256},
		{in: d512.String(), wantDigest: d512},

		// With a ':' it can only be a digest.
		{in: "sha256:abc", wantCode: oci.CodeDigestInvalid},
		{in: "sha256:" + strings.ToUpper(d256.Encoded()), wantCode: oci.CodeDigestInvalid},
		{in: "sha384:" + digest.SHA384.FromString("pier").Encoded(), wantCode: oci.CodeDigestInvalid},
		{in: "latest:1", wantCode: oci.CodeDigestInvalid},
		{in: ":", wantCode: oci.CodeDigestInvalid},

		// Neither a tag nor a digest.
		{in: "", wantCode: oci.CodeManifestInvalid},
		{in: ".hidden", wantCode: oci.CodeManifestInvalid},
		{in: "-rc", wantCode: oci.CodeManifestInvalid},
		{in: strings.Repeat("t", 129), wantCode: oci.CodeManifestInvalid},
		{in: "a/b", wantCode: oci.CodeManifestInvalid},
		{in: "a b", wantCode: oci.CodeManifestInvalid},
		{in: "a@b", wantCode: oci.CodeManifestInvalid},
	}
	for _, tt := range tests {
		ref, err := oci.ParseReference(tt.in)
		if tt.wantCode == "" {
			if err != nil {
				t.Errorf("ParseReference(%q) = %v, want ok", tt.in, err)
				continue
			}
			if ref.Tag != tt.wantTag || ref.Digest != tt.wantDigest {
				t.Errorf("ParseReference(%q) = {Tag: %q, Digest: %q}, want {Tag: %q, Digest: %q}",
					tt.in, ref.Tag, ref.Digest, tt.wantTag, tt.wantDigest)
			}
			if ref.String() != tt.in {
				t.Errorf("ParseReference(%q).String() = %q, want the input back", tt.in, ref.String())
			}
			continue
		}
		if err == nil {
			t.Errorf("ParseReference(%q) = %+v, want a %s error", tt.in, ref, tt.wantCode)
			continue
		}
		e, ok := oci.AsError(err)
		if !ok {
			t.Errorf("ParseReference(%q) error %v is not an *oci.Error", tt.in, err)
			continue
		}
		if e.Code != tt.wantCode || e.Status() != 400 {
			t.Errorf("ParseReference(%q): code %s status %d, want %s 400", tt.in, e.Code, e.Status(), tt.wantCode)
		}
	}
}
