package registry

import (
	"context"
	"errors"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/oci"
	"github.com/pier-registry/pier/internal/store"
)

// Direct uploads in one request (docs/direct-upload.md, "One PUT"): the
// client gave the blob's digest and size at the start, and the blob store
// made the upload one request of the whole blob straight to its place,
// checked by the store against the digest (store.DirectInfo.Digest). Such
// an upload has no session (sessionless, State): its finish reads and
// hashes nothing.

// finishPut finishes direct upload u in one request (info.Digest: the
// blob store checked its bytes against that digest as they arrived, and
// put them in the blob's place) as blob d: Assemble checks that they are
// there, put by u, and the blob is linked. The bytes are neither read nor
// moved. u has no session (sessionless): a repeated finish does the same
// again, and finds the same. A finish as another blob than u's is
// DIGEST_INVALID; bytes not there (not sent yet, or put again by another
// upload of the same blob since) are BLOB_UPLOAD_INVALID, for the client
// to send them (again) and finish again.
func (r *Registry) finishPut(ctx context.Context, du store.DirectUploader, u store.Upload, info store.DirectInfo, d digest.Digest) error {
	if d != info.Digest {
		return oci.Errorf(oci.CodeDigestInvalid,
			"upload %s was started for blob %s, and the object store took only bytes of that digest: it cannot make blob %s", u.ID, info.Digest, d)
	}
	state, size, err := du.Assemble(ctx, u.ID, u.State)
	switch {
	case errors.Is(err, store.ErrBadParts):
		return oci.Errorf(oci.CodeBlobUploadInvalid, "upload %s: %v", u.ID, err)
	case err != nil:
		return notFound(err, oci.CodeBlobUploadUnknown, "upload %s", u.ID)
	}
	u.State = state
	return r.commitDirect(ctx, du, u, size, d)
}
