// Package storetest is the contract test suite of the store interfaces:
// every backend must pass TestBlobs, TestMetadata, TestIdentities,
// TestPolicies, TestSiteIndexes, TestGCMetadata and TestGCBlobs, run from
// the backend's own tests:
//
//	func TestBlobs(t *testing.T) {
//		storetest.TestBlobs(t, func(t *testing.T) store.Blobs { ... })
//	}
//
// Each subtest calls open for a store of its own, which must be empty (no
// blobs, repositories, uploads or identities) and is the backend's to clean
// up, for example with t.Cleanup. The tests use context.Background and take
// no longer than a few seconds against a local backend.
package storetest

import (
	"bytes"
	"context"
	_ "crypto/sha256" // registers sha256 with go-digest
	_ "crypto/sha512" // registers sha512 with go-digest
	"errors"
	mrand "math/rand/v2"
	"reflect"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/store"
)

// subtest is one contract test of a store S.
type subtest[S any] struct {
	name string
	fn   func(t *testing.T, s S)
}

// runSubtests runs each of tests as a subtest of t, on a store of its own
// that open returns.
func runSubtests[S any](t *testing.T, open func(t *testing.T) S, tests []subtest[S]) {
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

// as returns s as a T, failing t when it is not one.
func as[T any](t *testing.T, s any) T {
	t.Helper()
	v, ok := s.(T)
	if !ok {
		t.Fatalf("%T is not a %s", s, reflect.TypeFor[T]())
	}
	return v
}

// newID returns a fresh upload id.
func newID() string { return store.NewUploadID() }

// randomBytes returns n bytes that depend only on n and seed.
func randomBytes(n int, seed uint64) []byte {
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	s[2] = byte(n)
	s[3] = byte(n >> 8)
	s[4] = byte(n >> 16)
	b := make([]byte, n)
	mrand.NewChaCha8(s).Read(b)
	return b
}

// failingReader returns data and then err.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

var errRead = errors.New("storetest: read failed")

// wantErr fails t unless err is target (nil for no error).
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	switch {
	case target == nil && err != nil:
		t.Fatalf("%s: unexpected error: %v", what, err)
	case target != nil && !errors.Is(err, target):
		t.Fatalf("%s: error %v, want %v", what, err, target)
	}
}

var ctx = context.Background()

// digestOf returns the digest of b by algorithm alg.
func digestOf(alg digest.Algorithm, b []byte) digest.Digest {
	return alg.FromBytes(b)
}

// concat returns the concatenation of bs.
func concat(bs ...[]byte) []byte {
	return bytes.Join(bs, nil)
}
