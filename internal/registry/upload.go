package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/oci"
	"github.com/pier-registry/pier/internal/store"
)

// StartUpload opens an upload session in repo for owner ("" without auth).
func (r *Registry) StartUpload(ctx context.Context, repo, owner string) (store.Upload, error) {
	if err := checkName(repo); err != nil {
		return store.Upload{}, err
	}
	u := store.Upload{
		ID:         store.NewUploadID(),
		Repository: repo,
		Hash:       newHashes().marshal(),
		Version:    1,
		Expires:    r.opts.Now().Add(r.opts.UploadTTL),
		Owner:      owner,
	}
	if err := r.meta.CreateUpload(ctx, u); err != nil {
		return store.Upload{}, fmt.Errorf("create upload: %w", err)
	}
	return u, nil
}

// UploadRef names an upload and who continues it.
type UploadRef struct {
	// Repo is the repository and ID the id of the upload.
	Repo, ID string
	// Owner is the identity that continues the upload ("" anonymous, as on
	// a registry without access control): only the identity that started
	// an upload may continue it.
	Owner string
	// State is the signed state that the upload's Location carries (see
	// State), "" when it carries none: the upload then stands where its
	// session says.
	State string
}

// Upload returns where the upload ref names stands, when ref.Owner
// started it and it is neither finished nor canceled (its session is
// there).
func (r *Registry) Upload(ctx context.Context, ref UploadRef) (store.Upload, error) {
	u, err := r.open(ctx, ref)
	if err != nil || ref.State == "" || r.sessionless(u) {
		return u, err
	}
	if _, err := r.session(ctx, ref); err != nil {
		return store.Upload{}, err
	}
	return u, nil
}

// open returns the upload ref names: from its signed state when it has
// one (no request), else from its session.
func (r *Registry) open(ctx context.Context, ref UploadRef) (store.Upload, error) {
	if err := checkName(ref.Repo); err != nil {
		return store.Upload{}, err
	}
	if ref.State != "" {
		return r.stateUpload(ref)
	}
	return r.session(ctx, ref)
}

// session returns the session of the upload ref names, when ref.Owner
// started it.
func (r *Registry) session(ctx context.Context, ref UploadRef) (store.Upload, error) {
	unknown := uploadUnknown(ref)
	if store.CheckUploadID(ref.ID) != nil {
		return store.Upload{}, unknown
	}
	u, err := r.meta.Upload(ctx, ref.ID)
	if errors.Is(err, store.ErrNotFound) || err == nil && (u.Repository != ref.Repo || u.Owner != ref.Owner) {
		return store.Upload{}, unknown
	}
	if err != nil {
		return store.Upload{}, fmt.Errorf("read upload %s: %w", ref.ID, err)
	}
	return u, nil
}

// uploadUnknown is the error of an upload that ref does not name.
func uploadUnknown(ref UploadRef) error {
	return oci.Errorf(oci.CodeBlobUploadUnknown, "upload %s not found in %s", ref.ID, ref.Repo)
}

// RangeError is the error of a chunk that does not continue its upload
// (416). Upload is the session as it stands, for the client to resume.
type RangeError struct {
	Err    *oci.Error
	Upload store.Upload
}

func (e *RangeError) Error() string { return e.Err.Error() }

// Unwrap returns the *oci.Error.
func (e *RangeError) Unwrap() error { return e.Err }

func rangeError(u store.Upload, format string, args ...any) *RangeError {
	return &RangeError{
		Err:    oci.Errorf(oci.CodeBlobUploadInvalid, format, args...).WithStatus(http.StatusRequestedRangeNotSatisfiable),
		Upload: u,
	}
}

// WriteChunk adds the bytes of body to the upload ref names. start is where
// the client says the chunk starts (Content-Range), or -1 when it did not
// say. A chunk that does not start at the upload's end is refused with a
// *RangeError.
func (r *Registry) WriteChunk(ctx context.Context, ref UploadRef, start int64, body io.Reader) (store.Upload, error) {
	u, err := r.open(ctx, ref)
	if err != nil {
		return store.Upload{}, err
	}
	return r.writeChunk(ctx, u, start, body, "", ref.State == "")
}

// writeChunk adds body to upload u. When final is not "", body is the last
// chunk of blob final: unless the upload's bytes then hash to final, the
// chunk is refused (DIGEST_INVALID) before anything of it is kept, and the
// session stays as it was. With save, the new state is saved in the
// upload's session; otherwise only returned (for a signed state).
func (r *Registry) writeChunk(ctx context.Context, u store.Upload, start int64, body io.Reader, final digest.Digest, save bool) (store.Upload, error) {
	if _, _, ok := r.direct(u); ok {
		return store.Upload{}, notDirect(u)
	}
	if start >= 0 && start != u.Offset {
		return store.Upload{}, rangeError(u, "chunk starts at byte %d, but the upload has %d bytes", start, u.Offset)
	}
	h, err := restoreHashes(u.Hash)
	if err != nil {
		return store.Upload{}, err
	}
	if h.short {
		var one [1]byte
		if n, _ := io.ReadFull(body, one[:]); n > 0 {
			return store.Upload{}, r.chunkAfterShort(u)
		}
	}
	body, tooLong := r.capChunk(body)
	src := io.TeeReader(body, h.writer())
	var fr *finalReader
	if final != "" {
		fr = &finalReader{r: src, h: h, want: final}
		src = fr
	}
	state, n, err := r.blobs.WriteChunk(ctx, u.ID, u.State, u.Offset, src)
	if *tooLong {
		return store.Upload{}, r.chunkTooLarge()
	}
	if fr != nil && fr.mismatch {
		return store.Upload{}, digestInvalid(u.Offset+fr.n, fr.got, final)
	}
	if errors.Is(err, store.ErrConflict) {
		return store.Upload{}, uploadChanged(u.ID)
	}
	if errors.Is(err, store.ErrTooLarge) {
		return store.Upload{}, oci.Errorf(oci.CodeSizeInvalid,
			"upload %s cannot grow past its %d bytes in chunks (%v): push the blob with `pier push`, which uploads it straight to storage, or in larger chunks",
			u.ID, u.Offset, err)
	}
	if err != nil {
		return store.Upload{}, fmt.Errorf("write upload %s chunk: %w", u.ID, err)
	}
	next := u
	next.Offset += n
	if n > 0 {
		h.short = final == "" && n < r.opts.ChunkMinLength
	}
	next.Hash = h.marshal()
	next.State = state
	next.Version++
	if !save {
		return next, nil
	}
	switch err := r.meta.UpdateUpload(ctx, next); {
	case errors.Is(err, store.ErrConflict):
		// Another request added a chunk first: this one does not continue
		// the upload any more.
		cur, rerr := r.meta.Upload(ctx, u.ID)
		if rerr != nil {
			cur = u
		}
		return store.Upload{}, rangeError(cur, "another chunk was written at byte %d first", u.Offset)
	case errors.Is(err, store.ErrNotFound):
		return store.Upload{}, oci.Errorf(oci.CodeBlobUploadUnknown, "upload %s ended while the chunk was written", u.ID)
	case err != nil:
		return store.Upload{}, fmt.Errorf("save upload %s: %w", u.ID, err)
	}
	return next, nil
}

// FinishUpload ends the upload ref names as blob d, after adding body (the
// last chunk, which may be empty). A repeated finish of an upload that
// made blob d answers as the first did when the signed state proves it
// (or the registry signs no states: it has no access control); any other
// finish of an upload that is gone is BLOB_UPLOAD_UNKNOWN, so that a
// caller who may push but not pull learns nothing through it of whether a
// repository has a blob.
func (r *Registry) FinishUpload(ctx context.Context, ref UploadRef, d digest.Digest, start int64, body io.Reader) error {
	u, err := r.open(ctx, ref)
	if ref.State == "" && err != nil && r.stateKey == nil && r.finished(ctx, ref, d, err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ref.State != "" && !r.sessionless(u) {
		if _, err := r.session(ctx, ref); err != nil {
			if r.finishedAs(ctx, u, d, body) {
				return nil
			}
			return err
		}
	}
	if _, _, ok := r.direct(u); ok {
		return r.finishDirect(ctx, u, d, body)
	}
	if body != nil && u.Offset == 0 && start <= 0 {
		// The whole blob comes with the request that ends the upload
		// (POST, then PUT with the bytes, as most clients push): it goes
		// straight into place, as a monolithic push does, with nothing
		// staged or copied.
		if err := r.PutBlob(ctx, u.Repository, d, body); err != nil {
			return err
		}
		if err := r.meta.DeleteUpload(ctx, u.ID); err != nil {
			return fmt.Errorf("end upload %s: %w", u.ID, err)
		}
		return nil
	}
	if body != nil {
		if u, err = r.writeChunk(ctx, u, start, body, d, ref.State == ""); err != nil {
			return err
		}
	}
	h, err := restoreHashes(u.Hash)
	if err != nil {
		return err
	}
	got, _ := h.digest(d.Algorithm())
	if got != d {
		return digestInvalid(u.Offset, got, d)
	}
	loc, err := r.blobs.Commit(ctx, u.ID, u.State, d)
	if errors.Is(err, store.ErrConflict) {
		return uploadChanged(u.ID)
	}
	if err != nil {
		return fmt.Errorf("commit upload %s as %s: %w", u.ID, d, err)
	}
	if err := r.meta.LinkBlob(ctx, u.Repository, d, store.BlobLink{Size: u.Offset, Location: loc}); err != nil {
		return fmt.Errorf("link blob %s: %w", d, err)
	}
	if err := r.meta.DeleteUpload(ctx, u.ID); err != nil {
		return fmt.Errorf("end upload %s: %w", u.ID, err)
	}
	return nil
}

// finished reports whether the upload ref names, which is not there
// (err), may be one that made blob d: its repository has the blob. Only a
// registry without signed states (without access control: anyone may
// pull) answers so; one with them answers through finishedAs.
func (r *Registry) finished(ctx context.Context, ref UploadRef, d digest.Digest, err error) bool {
	var oe *oci.Error
	if !errors.As(err, &oe) || oe.Code != oci.CodeBlobUploadUnknown || store.CheckUploadID(ref.ID) != nil {
		return false
	}
	_, berr := r.meta.Blob(ctx, ref.Repo, d)
	return berr == nil
}

// finishedAs reports whether upload u (a signed state, whose session is
// gone) was finished as blob d: its bytes and body hash to d, and its
// repository has blob d. The state proves that the caller sent those
// bytes in that upload.
func (r *Registry) finishedAs(ctx context.Context, u store.Upload, d digest.Digest, body io.Reader) bool {
	h, err := restoreHashes(u.Hash)
	if err != nil {
		return false
	}
	if body != nil {
		capped, tooLong := r.capChunk(body)
		if _, err := io.Copy(h.writer(), capped); err != nil || *tooLong {
			return false
		}
	}
	if got, ok := h.digest(d.Algorithm()); !ok || got != d {
		return false
	}
	_, err = r.meta.Blob(ctx, u.Repository, d)
	return err == nil
}

// digestInvalid is the error of an upload whose n bytes have digest got,
// closed as blob want.
func digestInvalid(n int64, got, want digest.Digest) error {
	return oci.Errorf(oci.CodeDigestInvalid, "the %d bytes uploaded have digest %s, not %s", n, got, want)
}

// finalReader reads the last chunk of an upload through the upload's
// hashes h. At the chunk's end it fails, setting mismatch and got, when
// the upload's bytes do not hash to want: the blob store then keeps
// nothing of the chunk (Blobs.WriteChunk).
type finalReader struct {
	r        io.Reader
	h        *hashes
	want     digest.Digest
	n        int64 // bytes read
	mismatch bool
	got      digest.Digest // the upload's digest
}

var errDigestMismatch = errors.New("upload digest mismatch")

func (f *finalReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	f.n += int64(n)
	if err == io.EOF {
		if got, _ := f.h.digest(f.want.Algorithm()); got != f.want {
			f.mismatch, f.got = true, got
			return n, errDigestMismatch
		}
	}
	return n, err
}

// uploadChanged is the error of an upload whose staged bytes were changed
// by requests racing on it: what was staged no longer matches what was
// recorded, so the upload cannot be finished.
func uploadChanged(id string) error {
	return oci.Errorf(oci.CodeBlobUploadInvalid,
		"upload %s: its staged bytes were changed by concurrent requests and no longer match what was recorded; cancel it and upload the blob again", id)
}

// CancelUpload ends the upload ref names and drops what it staged.
func (r *Registry) CancelUpload(ctx context.Context, ref UploadRef) error {
	u, err := r.Upload(ctx, ref)
	if err != nil {
		return err
	}
	if err := r.meta.DeleteUpload(ctx, u.ID); err != nil {
		return fmt.Errorf("end upload %s: %w", u.ID, err)
	}
	if err := r.blobs.Abort(ctx, u.ID, u.State); err != nil {
		return fmt.Errorf("abort upload %s: %w", u.ID, err)
	}
	return nil
}

// capChunk limits body to ChunkMaxLength bytes; the flag it returns is set
// when the body had more.
func (r *Registry) capChunk(body io.Reader) (io.Reader, *bool) {
	tooLong := new(bool)
	if r.opts.ChunkMaxLength <= 0 {
		return body, tooLong
	}
	return &cappedReader{r: body, left: r.opts.ChunkMaxLength, over: tooLong}, tooLong
}

// chunkAfterShort is the error of a chunk after a chunk of upload u that
// was shorter than ChunkMinLength, which had to be the last.
func (r *Registry) chunkAfterShort(u store.Upload) error {
	return oci.Errorf(oci.CodeBlobUploadInvalid,
		"upload %s: its last chunk, ending at byte %d, was shorter than the %d bytes of OCI-Chunk-Min-Length, so it had to be the last: finish the upload (PUT ?digest=), or upload the blob again in chunks of at least %d bytes (the last may be shorter)",
		u.ID, u.Offset, r.opts.ChunkMinLength, r.opts.ChunkMinLength)
}

func (r *Registry) chunkTooLarge() error {
	// What to do, in the message: clients (docker, crane, oras, skopeo)
	// print it.
	return oci.Errorf(oci.CodeSizeInvalid,
		"request body is larger than %d bytes, the most this registry takes in one request: push with `pier push`, which sends large layers in chunks (or to the upload endpoint, when PIER_UPLOAD_URL is set), or push the blob in chunks (POST, then PATCH chunks of at most %d bytes with Content-Range, then PUT ?digest=)",
		r.opts.ChunkMaxLength, r.opts.ChunkMaxLength).WithStatus(http.StatusRequestEntityTooLarge)
}

// cappedReader reads at most left bytes of r and sets over, failing, when r
// has more.
type cappedReader struct {
	r    io.Reader
	left int64
	over *bool
}

var errTooLarge = errors.New("request body too large")

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		var one [1]byte
		n, err := c.r.Read(one[:])
		if n > 0 {
			*c.over = true
			return 0, errTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}
