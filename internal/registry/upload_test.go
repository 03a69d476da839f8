package registry_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/oci"
	"github.com/pier-registry/pier/internal/registry"
	"github.com/pier-registry/pier/internal/store/local"
)

// newRegistry returns a registry on the local stores in a fresh directory.
func newRegistry(t *testing.T, opts registry.Options) *registry.Registry {
	t.Helper()
	dir := t.TempDir()
	blobs, err := local.OpenBlobs(dir)
	if err != nil {
		t.Fatal(err)
	}
	meta, err := local.OpenMetadata(filepath.Join(dir, "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
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
