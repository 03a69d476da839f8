package registry

import (
	"context"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/direct"
	"github.com/pier-registry/pier/internal/oci"
	"github.com/pier-registry/pier/internal/store"
)

// Direct uploads (docs/direct-upload.md): the client sends a blob's bytes
// straight to the storage, in parts, to URLs the registry hands out, and
// finishes the upload as any other. Nothing lands among the blobs unless
// the registry has read those bytes back and hashed them: within the
// finish's time budget (Options.DirectBudget), or in the background while
// the client is told to come back.

const (
	// maxPartURLs is the most part URLs one answer gives.
	maxPartURLs = direct.MaxPartURLs
	// streamPartURLs is how many part URLs a direct upload of unknown
	// length starts with.
	streamPartURLs = 16
	// checkpointEvery is how often a finish in progress saves how far it
	// has hashed, so that another request can go on from there.
	checkpointEvery = 5 * time.Second
	// leaseTTL is how long a finish in progress is left alone by other
	// requests after its last checkpoint: past it, the next finish takes
	// the work over (the process that did it died or was frozen).
	leaseTTL = 4 * checkpointEvery
	// hashRate is the rate, in bytes per second, that Retry-After assumes.
	hashRate = 100 << 20
)

// DirectUpload is a direct upload session as its client sees it.
type DirectUpload struct {
	Upload store.Upload
	Layout store.PartLayout
	// Parts are the part URLs asked for.
	Parts []PartURL
	// Uploaded are the parts the storage holds.
	Uploaded []store.Part
	// Digest is the blob of an upload in one request (store.DirectInfo).
	Digest digest.Digest
}

// PartURL is where the client sends the bytes of a part: a PUT to URL
// with the headers of Header.
type PartURL struct {
	Number int32
	store.PartURL
}

// PendingError is the answer to a finish whose hashing goes on in the
// background: the client repeats the finish after RetryAfter.
type PendingError struct {
	Upload     store.Upload
	RetryAfter time.Duration
}

// Error says when to finish again.
func (e *PendingError) Error() string {
	return fmt.Sprintf("upload %s is being verified; finish it again in %s", e.Upload.ID, e.RetryAfter)
}

// DirectUploads reports whether the blob store takes direct uploads.
func (r *Registry) DirectUploads() bool {
	_, ok := r.blobs.(store.DirectUploader)
	return ok
}

// direct returns the blob store as a DirectUploader, and what u's state
// says, when u is a direct upload.
func (r *Registry) direct(u store.Upload) (store.DirectUploader, store.DirectInfo, bool) {
	du, ok := r.blobs.(store.DirectUploader)
	if !ok {
		return nil, store.DirectInfo{}, false
	}
	info, ok := du.Direct(u.State)
	return du, info, ok
}

// notDirect is the error of a chunk sent to a direct upload.
func notDirect(u store.Upload) error {
	return oci.Errorf(oci.CodeBlobUploadInvalid,
		"upload %s is a direct upload: its bytes go to its part URLs, and an empty PUT ?digest= finishes it", u.ID)
}

// StartDirectUpload opens a direct upload session in repo for owner, of a
// blob of length bytes (-1: unknown), with the URLs of its first parts.
// With the blob's digest d ("": unknown) and its length, the blob store
// may make it an upload in one request that it checks against d itself
// (store.DirectInfo.Digest): the upload can then be finished as blob d
// only.
func (r *Registry) StartDirectUpload(ctx context.Context, repo, owner string, length int64, d digest.Digest) (DirectUpload, error) {
	if err := checkName(repo); err != nil {
		return DirectUpload{}, err
	}
	du, ok := r.blobs.(store.DirectUploader)
	if !ok {
		return DirectUpload{}, oci.Errorf(oci.CodeUnsupported, "this registry takes no direct uploads")
	}
	id := store.NewUploadID()
	if d != "" && length < 0 {
		d = "" // a store checks the digest of a known length only
	}
	state, layout, err := du.StartDirect(ctx, id, length, d)
	if errors.Is(err, store.ErrBadParts) {
		return DirectUpload{}, oci.Errorf(oci.CodeSizeInvalid, "%v", err)
	}
	if err != nil {
		return DirectUpload{}, fmt.Errorf("start direct upload: %w", err)
	}
	u := store.Upload{
		ID:         id,
		Repository: repo,
		Hash:       directProgress{}.encode(),
		State:      state,
		Version:    1,
		Expires:    r.opts.Now().Add(r.opts.UploadTTL),
		Owner:      owner,
	}
	if r.sessionless(u) {
		// Its state never changes: its Location carries it, signed
		// (State), and it has no session to write, read or delete.
		u.Hash = nil
	} else if err := r.meta.CreateUpload(ctx, u); err != nil {
		r.blobs.Abort(context.WithoutCancel(ctx), id, state)
		return DirectUpload{}, fmt.Errorf("create upload: %w", err)
	}
	count := int64(streamPartURLs)
	if length >= 0 {
		count = min(max((length+layout.PartSize-1)/layout.PartSize, 1), maxPartURLs)
	}
	parts, err := r.partURLs(ctx, du, u, 1, int32(count))
	if err != nil {
		return DirectUpload{}, err
	}
	info, _ := du.Direct(state)
	return DirectUpload{Upload: u, Layout: layout, Parts: parts, Digest: info.Digest}, nil
}

// DirectParts returns the URLs of parts first to last of the direct
// upload ref names, and the parts the storage holds. Only the upload's
// owner gets them (Upload).
func (r *Registry) DirectParts(ctx context.Context, ref UploadRef, first, last int32) (DirectUpload, error) {
	u, err := r.Upload(ctx, ref)
	if err != nil {
		return DirectUpload{}, err
	}
	du, info, ok := r.direct(u)
	layout := info.Layout
	if !ok {
		return DirectUpload{}, oci.Errorf(oci.CodeBlobUploadInvalid, "upload %s is not a direct upload: it has no part URLs", u.ID)
	}
	if first < 1 || last < first || last > layout.MaxParts || last-first >= maxPartURLs {
		return DirectUpload{}, oci.Errorf(oci.CodeBlobUploadInvalid,
			"parts %d-%d: ask for 1 to %d parts numbered 1 to %d", first, last, maxPartURLs, layout.MaxParts)
	}
	uploaded, err := du.Parts(ctx, u.ID, u.State)
	if err != nil {
		return DirectUpload{}, notFound(err, oci.CodeBlobUploadUnknown, "parts of upload %s", u.ID)
	}
	parts, err := r.partURLs(ctx, du, u, first, last)
	if err != nil {
		return DirectUpload{}, err
	}
	return DirectUpload{Upload: u, Layout: layout, Parts: parts, Uploaded: uploaded, Digest: info.Digest}, nil
}

func (r *Registry) partURLs(ctx context.Context, du store.DirectUploader, u store.Upload, first, last int32) ([]PartURL, error) {
	parts := make([]PartURL, 0, last-first+1)
	for n := first; n <= last; n++ {
		pu, err := du.PartURL(ctx, u.ID, u.State, n, u.Expires)
		if err != nil {
			// Not found: the session expires within the second.
			return nil, notFound(err, oci.CodeBlobUploadUnknown, "upload %s", u.ID)
		}
		parts = append(parts, PartURL{Number: n, PartURL: pu})
	}
	return parts, nil
}

// directProgress is how far the finish of a direct upload has hashed its
// bytes (the session's Hash; Offset is the number of bytes hashed).
type directProgress struct {
	// Alg is the algorithm hashed, and Hash the marshalled state of the
	// hash of the first Offset bytes.
	Alg  digest.Algorithm `json:"alg,omitempty"`
	Hash []byte           `json:"hash,omitempty"`
	// Lease is when the request hashing them stops being waited for.
	Lease time.Time `json:"lease,omitzero"`
}

func (p directProgress) encode() []byte {
	b, err := json.Marshal(p)
	if err != nil {
		panic(err) // a plain struct always marshals
	}
	return b
}

func decodeProgress(u store.Upload) (directProgress, error) {
	var p directProgress
	if err := json.Unmarshal(u.Hash, &p); err != nil {
		return p, fmt.Errorf("upload %s: bad progress record: %w", u.ID, err)
	}
	return p, nil
}

// hasher returns the hash of p for algorithm alg, restored at the first
// offset bytes, or a new one when p is of another algorithm.
func (p directProgress) hasher(alg digest.Algorithm, offset int64) (hash.Hash, int64, error) {
	h := alg.Hash()
	if p.Alg != alg || offset == 0 {
		return h, 0, nil
	}
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(p.Hash); err != nil {
		return nil, 0, fmt.Errorf("restore upload hash: %w", err)
	}
	return h, offset, nil
}

func progressOf(alg digest.Algorithm, h hash.Hash, lease time.Time) directProgress {
	s, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		panic(err) // the standard library's hashes always marshal
	}
	return directProgress{Alg: alg, Hash: s, Lease: lease}
}

// finishDirect finishes direct upload u as blob d: it assembles the parts,
// then hashes the bytes and, when they are blob d, moves them into place
// and links them. Past the time budget it returns a *PendingError and the
// work goes on in the background; a repeated finish answers with its
// result, or takes the work over when nobody has done any for leaseTTL.
func (r *Registry) finishDirect(ctx context.Context, u store.Upload, d digest.Digest, body io.Reader) error {
	if body != nil {
		return notDirect(u)
	}
	if a := d.Algorithm(); a != digest.SHA256 && a != digest.SHA512 {
		return oci.Errorf(oci.CodeDigestInvalid, "digest algorithm %s is not supported", a)
	}
	if du, info, _ := r.direct(u); info.Digest != "" {
		return r.finishPut(ctx, du, u, info, d)
	}
	for range 3 {
		du, info, _ := r.direct(u)
		p, err := decodeProgress(u)
		if err != nil {
			return err
		}
		now := r.opts.Now()
		switch {
		case info.Size >= 0 && p.Alg != "" && u.Offset == info.Size && p.Lease.IsZero():
			// Verified to the end by a finish that answered 202: the
			// bytes are blob d, in place and linked, or they were
			// dropped. This finish answers, and the upload ends.
			h, _, err := p.hasher(p.Alg, info.Size)
			if err != nil {
				return err
			}
			if err := r.meta.DeleteUpload(ctx, u.ID); err != nil {
				return fmt.Errorf("end upload %s: %w", u.ID, err)
			}
			if got := digest.NewDigest(p.Alg, h); got != d {
				return digestInvalid(info.Size, got, d)
			}
			return nil
		case p.Lease.After(now):
			return pending(u, info.Size)
		}
		// Take the lease: only its holder assembles and hashes.
		next := u
		next.Version++
		if p.Alg != d.Algorithm() {
			next.Offset, p = 0, directProgress{Alg: d.Algorithm()}
		}
		p.Lease = now.Add(leaseTTL)
		next.Hash = p.encode()
		switch err := r.meta.UpdateUpload(ctx, next); {
		case errors.Is(err, store.ErrConflict):
			// Another finish came first: see what it did.
			cur, err := r.meta.Upload(ctx, u.ID)
			if errors.Is(err, store.ErrNotFound) {
				// It ended the upload: a repeated finish answers as
				// for any upload that ended (FinishUpload).
				return pending(u, -1)
			}
			if err != nil {
				return fmt.Errorf("read upload %s: %w", u.ID, err)
			}
			u = cur
			continue
		case errors.Is(err, store.ErrNotFound):
			return pending(u, -1) // ended meanwhile, as above
		case err != nil:
			return fmt.Errorf("save upload %s: %w", u.ID, err)
		}
		state, size, err := du.Assemble(ctx, next.ID, next.State)
		switch {
		case errors.Is(err, store.ErrBadParts):
			// The client may send the right parts and finish again at
			// once: the lease goes.
			p.Lease = time.Time{}
			next.Hash, next.Version = p.encode(), next.Version+1
			r.meta.UpdateUpload(ctx, next)
			return oci.Errorf(oci.CodeBlobUploadInvalid, "upload %s: %v", u.ID, err)
		case errors.Is(err, store.ErrConflict):
			// A finish that held the lease before is assembling the
			// parts: it goes on.
			return pending(next, -1)
		case err != nil:
			return notFound(err, oci.CodeBlobUploadUnknown, "upload %s", u.ID)
		}
		// The assembled state is saved with the first checkpoint; until
		// then a finish that takes over finds the parts assembled.
		next.State = state
		return r.verifyWithin(ctx, du, next, size, d)
	}
	return pending(u, -1)
}

// pending is the answer to a finish of upload u, of size bytes (-1: not
// known yet), whose verification goes on.
func pending(u store.Upload, size int64) error {
	secs := min(max((size-u.Offset)/hashRate, 1), 30)
	return &PendingError{Upload: u, RetryAfter: time.Duration(secs) * time.Second}
}

// verifyWithin hashes upload u (size bytes, assembled) as blob d in the
// background, and waits for the result at most DirectBudget.
func (r *Registry) verifyWithin(ctx context.Context, du store.DirectUploader, u store.Upload, size int64, d digest.Digest) error {
	w := &waiter{result: make(chan error, 1)}
	go func() {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Hour)
		defer cancel()
		if err := r.verify(wctx, du, u, size, d, w); err != nil && w.claim() {
			w.result <- err
		}
	}()
	timer := time.NewTimer(max(r.opts.DirectBudget, 0))
	defer timer.Stop()
	select {
	case err := <-w.result:
		return w.answer(err, u, size)
	case <-timer.C:
		if w.leave() {
			return pending(u, size)
		}
		// The verify is ending the upload: its answer comes at once.
		return w.answer(<-w.result, u, size)
	}
}

// waiter is how a verify gives its result to the finish that started it,
// while that finish waits. Once the finish has stopped waiting (it
// answered 202), the result goes to the session, for the next finish.
type waiter struct {
	mu      sync.Mutex
	gone    bool // the finish stopped waiting
	claimed bool // the verify will send its result
	result  chan error
}

// claim reports whether the finish still waits, and if so binds it to
// wait for the result.
func (w *waiter) claim() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.claimed = !w.gone
	return w.claimed
}

// leave stops the waiting, unless the verify has claimed it.
func (w *waiter) leave() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.gone = !w.claimed
	return w.gone
}

// answer is the finish's answer for the verify's result err.
func (w *waiter) answer(err error, u store.Upload, size int64) error {
	if errors.Is(err, errLeaseLost) {
		// Another finish or a cancel came meanwhile: the next finish
		// tells.
		return pending(u, size)
	}
	return err
}

// errLeaseLost: another finish took the work of a verify over.
var errLeaseLost = errors.New("another request took the upload's verification over")

// verify hashes upload u from u.Offset on, saving its progress every
// checkpointEvery, and ends it: as blob d when the bytes are d, else with
// the assembled bytes dropped (DIGEST_INVALID). When the finish w still
// waits, the upload's session goes and w gets the result; otherwise the
// result stays in the session for the next finish.
func (r *Registry) verify(ctx context.Context, du store.DirectUploader, u store.Upload, size int64, d digest.Digest, w *waiter) error {
	p, err := decodeProgress(u)
	if err != nil {
		return err
	}
	h, off, err := p.hasher(d.Algorithm(), u.Offset)
	if err != nil {
		return err
	}
	rc, err := du.ReadAssembled(ctx, u.ID, u.State, off)
	if err != nil {
		return fmt.Errorf("verify upload %s: %w", u.ID, err)
	}
	defer rc.Close()
	save := func(lease time.Time) error {
		next := u
		next.Offset, next.Hash, next.Version = off, progressOf(d.Algorithm(), h, lease).encode(), u.Version+1
		if err := r.meta.UpdateUpload(ctx, next); err != nil {
			return fmt.Errorf("verify upload %s: %w (%w)", u.ID, errLeaseLost, err)
		}
		u = next
		return nil
	}
	buf := make([]byte, 1<<20)
	last := time.Now()
	for off < size {
		n, err := rc.Read(buf[:min(int64(len(buf)), size-off)])
		h.Write(buf[:n])
		off += int64(n)
		if err != nil && !(errors.Is(err, io.EOF) && off == size) {
			return fmt.Errorf("verify upload %s at byte %d: %w", u.ID, off, err)
		}
		if time.Since(last) >= checkpointEvery && off < size {
			if err := save(r.opts.Now().Add(leaseTTL)); err != nil {
				return err
			}
			last = time.Now()
		}
	}
	got := digest.NewDigest(d.Algorithm(), h)
	if got == d {
		err = r.commitDirect(ctx, du, u, size, d)
	} else {
		r.blobs.Abort(ctx, u.ID, u.State)
		err = digestInvalid(size, got, d)
	}
	var oe *oci.Error
	if err != nil && !errors.As(err, &oe) {
		return err
	}
	if !w.claim() {
		// Nobody waits: the result stays in the session (the hash of
		// all the bytes, no lease), for the finish that repeats this one.
		return save(time.Time{})
	}
	if derr := r.meta.DeleteUpload(ctx, u.ID); derr != nil && err == nil {
		err = fmt.Errorf("end upload %s: %w", u.ID, derr)
	}
	w.result <- err
	return nil
}

// commitDirect makes the assembled bytes of u, which hash to d, blob d of
// u's repository.
func (r *Registry) commitDirect(ctx context.Context, du store.DirectUploader, u store.Upload, size int64, d digest.Digest) error {
	loc, err := du.CommitDirect(ctx, u.ID, u.State, d)
	if err != nil {
		return fmt.Errorf("commit upload %s as %s: %w", u.ID, d, err)
	}
	if err := r.meta.LinkBlob(ctx, u.Repository, d, store.BlobLink{Size: size, Location: loc}); err != nil {
		return fmt.Errorf("link blob %s: %w", d, err)
	}
	return nil
}
