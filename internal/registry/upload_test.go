package registry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/oci"
	"github.com/pier-registry/pier/internal/registry"
	"github.com/pier-registry/pier/internal/store/local/localtest"
)

// newRegistry returns a registry on the local stores in a fresh directory.
func newRegistry(t *testing.T, opts registry.Options) *registry.Registry {
	t.Helper()
	_, blobs, meta := localtest.Open(t)
	return registry.New(blobs, meta, opts)
}

// wantCode fails t unless err is an *oci.Error of code.
func wantCode(t *testing.T, what string, err error, code oci.Code) {
	t.Helper()
	var oe *oci.Error
	if !errors.As(err, &oe) || oe.Code != code {
		t.Errorf("%s: %v, want %s", what, err, code)
	}
}

// Only the identity that started an upload continues it: the owner is a
// parameter of every upload call, and no missing value means "anyone".
func TestUploadOwner(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t, registry.Options{})
	const repo = "owned/app"
	for _, c := range []struct {
		name, owner, caller string
		ok                  bool
	}{
		{"the owner", "alice", "alice", true},
		{"another identity", "alice", "bob", false},
		{"anonymous on an upload of alice", "alice", "", false},
		{"alice on an anonymous upload", "", "alice", false},
		{"anonymous on an anonymous upload", "", "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			u, err := reg.StartUpload(ctx, repo, c.owner)
			if err != nil {
				t.Fatal(err)
			}
			ref := registry.UploadRef{Repo: repo, ID: u.ID, Owner: c.caller}
			chunk := []byte("chunk of " + c.name)
			_, serr := reg.Upload(ctx, ref)
			_, werr := reg.WriteChunk(ctx, ref, 0, bytes.NewReader(chunk))
			if !c.ok {
				wantCode(t, "status", serr, oci.CodeBlobUploadUnknown)
				wantCode(t, "chunk", werr, oci.CodeBlobUploadUnknown)
				wantCode(t, "finish", reg.FinishUpload(ctx, ref, digest.FromBytes(chunk), -1, nil), oci.CodeBlobUploadUnknown)
				wantCode(t, "cancel", reg.CancelUpload(ctx, ref), oci.CodeBlobUploadUnknown)
				// The owner's upload is untouched.
				got, err := reg.Upload(ctx, registry.UploadRef{Repo: repo, ID: u.ID, Owner: c.owner})
				if err != nil || got.Offset != 0 {
					t.Errorf("the owner's upload after the others: offset %d, %v", got.Offset, err)
				}
				return
			}
			if serr != nil || werr != nil {
				t.Fatalf("status: %v, chunk: %v", serr, werr)
			}
			if err := reg.FinishUpload(ctx, ref, digest.FromBytes(chunk), -1, nil); err != nil {
				t.Errorf("finish: %v", err)
			}
		})
	}
}

// signed returns a registry that carries upload states in their
// Locations, with a clock that the test moves.
func signed(t *testing.T) (*registry.Registry, *time.Time) {
	now := time.Now()
	key := bytes.Repeat([]byte{7}, 32)
	return newRegistry(t, registry.Options{UploadKey: key, UploadTTL: time.Hour, Now: func() time.Time { return now }}), &now
}

// A signed state continues its upload until the upload expires; then it
// is BLOB_UPLOAD_UNKNOWN saying so. A state is only its own upload's, and
// its owner's.
func TestUploadStateExpires(t *testing.T) {
	ctx := context.Background()
	reg, now := signed(t)
	u, err := reg.StartUpload(ctx, "cap/app", "alice")
	if err != nil {
		t.Fatal(err)
	}
	other, err := reg.StartUpload(ctx, "cap/app", "alice")
	if err != nil {
		t.Fatal(err)
	}
	ref := registry.UploadRef{Repo: "cap/app", ID: u.ID, Owner: "alice", State: reg.State(u)}
	next, err := reg.WriteChunk(ctx, ref, 0, strings.NewReader("abc"))
	if err != nil || next.Offset != 3 {
		t.Fatalf("WriteChunk through the state: %d, %v", next.Offset, err)
	}
	for _, c := range []struct {
		name string
		ref  registry.UploadRef
	}{
		{"another upload", registry.UploadRef{Repo: "cap/app", ID: other.ID, Owner: "alice", State: ref.State}},
		{"another repository", registry.UploadRef{Repo: "cap/lib", ID: u.ID, Owner: "alice", State: ref.State}},
		{"another owner", registry.UploadRef{Repo: "cap/app", ID: u.ID, Owner: "bob", State: ref.State}},
		{"a state of another key", registry.UploadRef{Repo: "cap/app", ID: u.ID, Owner: "alice",
			State: newRegistry(t, registry.Options{UploadKey: bytes.Repeat([]byte{8}, 32)}).State(u)}},
	} {
		_, err := reg.WriteChunk(ctx, c.ref, -1, strings.NewReader("x"))
		wantCode(t, c.name, err, oci.CodeBlobUploadUnknown)
	}
	*now = now.Add(time.Hour)
	ref.State = reg.State(next)
	_, err = reg.WriteChunk(ctx, ref, 3, strings.NewReader("def"))
	wantCode(t, "a chunk after the upload expired", err, oci.CodeBlobUploadUnknown)
	if err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("a chunk after the upload expired: %v, want an error that says so", err)
	}
	_, err = reg.Upload(ctx, ref)
	wantCode(t, "status after the upload expired", err, oci.CodeBlobUploadUnknown)
}

// A PUT ?digest= of an upload that is gone answers 201 only to the caller
// whose signed state proves that it finished that upload as that blob:
// nobody else learns through it whether a repository has a blob.
func TestFinishedUploadAnswersOnlyItsOwner(t *testing.T) {
	ctx := context.Background()
	blob := []byte("a blob that the repository has")
	d := digest.FromBytes(blob)
	for _, c := range []struct {
		name   string
		signed bool
	}{{"signed states", true}, {"sessions (no access control)", false}} {
		t.Run(c.name, func(t *testing.T) {
			reg := newRegistry(t, registry.Options{})
			if c.signed {
				reg, _ = signed(t)
			}
			u, err := reg.StartUpload(ctx, "cap/app", "alice")
			if err != nil {
				t.Fatal(err)
			}
			ref := registry.UploadRef{Repo: "cap/app", ID: u.ID, Owner: "alice", State: reg.State(u)}
			next, err := reg.WriteChunk(ctx, ref, 0, bytes.NewReader(blob))
			if err != nil {
				t.Fatal(err)
			}
			ref.State = reg.State(next)
			if err := reg.FinishUpload(ctx, ref, d, -1, nil); err != nil {
				t.Fatal(err)
			}
			// The same finish again.
			if err := reg.FinishUpload(ctx, ref, d, -1, nil); err != nil {
				t.Errorf("repeated finish: %v, want the answer of the first", err)
			}
			// Another caller, on a random upload id, or on an upload of
			// its own that holds other bytes.
			eve, err := reg.StartUpload(ctx, "cap/app", "eve")
			if err != nil {
				t.Fatal(err)
			}
			probe := registry.UploadRef{Repo: "cap/app", ID: "0123456789abcdef0123456789abcdef", Owner: "eve"}
			err = reg.FinishUpload(ctx, probe, d, -1, nil)
			if !c.signed {
				if err != nil {
					t.Errorf("without access control, a finish of an unknown upload of a blob the repository has: %v, want 201", err)
				}
				return
			}
			wantCode(t, "a finish of an unknown upload", err, oci.CodeBlobUploadUnknown)
			probe.State = reg.State(eve)
			wantCode(t, "a finish of an unknown upload with another upload's state", reg.FinishUpload(ctx, probe, d, -1, nil), oci.CodeBlobUploadUnknown)
			probe = registry.UploadRef{Repo: "cap/app", ID: u.ID, Owner: "eve"}
			wantCode(t, "a finish of alice's upload by eve", reg.FinishUpload(ctx, probe, d, -1, nil), oci.CodeBlobUploadUnknown)
		})
	}
}

// A chunk shorter than OCI-Chunk-Min-Length is taken only as the last: a
// chunk after it is refused (BLOB_UPLOAD_INVALID, the upload unchanged),
// so 1-byte chunks cannot pile up; the upload still finishes, in a PUT
// with or without a last chunk.
func TestShortChunkIsTheLast(t *testing.T) {
	ctx := context.Background()
	const min = 8
	for _, c := range []struct {
		name   string
		chunks []string // PATCHes
		put    string   // the chunk of the PUT
		refuse int      // the index of the refused PATCH, -1 none; len(chunks): the PUT
	}{
		{"chunks of the minimum, then a short one", []string{"01234567", "89abcdef", "xyz"}, "", -1},
		{"a chunk of the minimum, then a short one in the PUT", []string{"01234567"}, "xyz", -1},
		{"1-byte chunks", []string{"a", "b", "c"}, "", 1},
		{"a short chunk, then one of the minimum", []string{"0123", "456789ab"}, "", 1},
		{"a short chunk, then more in the PUT", []string{"01234567", "xyz"}, "more", 2},
		{"an empty chunk after a short one", []string{"0123", ""}, "", -1},
	} {
		for _, signedState := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, signed %v", c.name, signedState), func(t *testing.T) {
				opts := registry.Options{ChunkMinLength: min}
				if signedState {
					opts.UploadKey = bytes.Repeat([]byte{7}, 32)
				}
				reg := newRegistry(t, opts)
				u, err := reg.StartUpload(ctx, "short/app", "")
				if err != nil {
					t.Fatal(err)
				}
				var content string
				for i, chunk := range c.chunks {
					ref := registry.UploadRef{Repo: "short/app", ID: u.ID, State: reg.State(u)}
					next, err := reg.WriteChunk(ctx, ref, u.Offset, strings.NewReader(chunk))
					if i == c.refuse {
						wantCode(t, fmt.Sprintf("chunk %d after a short one", i), err, oci.CodeBlobUploadInvalid)
						if err == nil || !strings.Contains(err.Error(), "OCI-Chunk-Min-Length") {
							t.Errorf("chunk %d: %v, want an error that names OCI-Chunk-Min-Length", i, err)
						}
						break
					}
					if err != nil {
						t.Fatalf("chunk %d: %v", i, err)
					}
					u, content = next, content+chunk
				}
				ref := registry.UploadRef{Repo: "short/app", ID: u.ID, State: reg.State(u)}
				var body io.Reader
				if c.put != "" {
					body, content = strings.NewReader(c.put), content+c.put
				}
				err = reg.FinishUpload(ctx, ref, digest.FromString(content), u.Offset, body)
				if c.refuse == len(c.chunks) {
					wantCode(t, "a PUT with a chunk after a short one", err, oci.CodeBlobUploadInvalid)
					return
				}
				if err != nil {
					t.Errorf("finish with %q: %v", content, err)
				}
			})
		}
	}
}
