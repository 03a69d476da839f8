package registry

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/oci"
	"github.com/pier-registry/pier/internal/store/local/localtest"
)

// On a registry without access control, the public key that signs the
// states of direct uploads in one request signs nothing else: a chunked
// upload's state signed with it (made up by a caller: here, bytes it
// never sent, claimed hashed) is refused as unknown, and is no capability.
func TestOpenPutKeySignsNoChunkedState(t *testing.T) {
	ctx := context.Background()
	_, blobs, meta := localtest.Open(t)
	r := New(blobs, meta, Options{})
	const repo = "open/app"
	u, err := r.StartUpload(ctx, repo, "")
	if err != nil {
		t.Fatal(err)
	}
	if u, err = r.WriteChunk(ctx, UploadRef{Repo: repo, ID: u.ID}, 0, bytes.NewReader([]byte("sent"))); err != nil {
		t.Fatal(err)
	}
	if s := r.State(u); s != "" {
		t.Fatalf("an open registry gave a chunked upload a state: %q", s)
	}
	claimed := []byte("never sent")
	h := newHashes()
	h.writer().Write(claimed)
	u.Hash, u.Offset = h.marshal(), int64(len(claimed))
	forged := signState(openPutKey, u)
	ref := UploadRef{Repo: repo, ID: u.ID, State: forged}
	var oe *oci.Error
	if err := r.FinishUpload(ctx, ref, digest.FromBytes(claimed), -1, nil); !errors.As(err, &oe) || oe.Code != oci.CodeBlobUploadUnknown {
		t.Errorf("finish on a forged state: %v, want BLOB_UPLOAD_UNKNOWN", err)
	}
	if _, err := r.Upload(ctx, ref); !errors.As(err, &oe) || oe.Code != oci.CodeBlobUploadUnknown {
		t.Errorf("status on a forged state: %v, want BLOB_UPLOAD_UNKNOWN", err)
	}
	if _, ok := r.Capability(repo, u.ID, forged); ok {
		t.Error("a forged state is a capability")
	}
}
