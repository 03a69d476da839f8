package awsstore

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/metrics"
	"github.com/pier-registry/pier/internal/store"
)

// Commit makes the bytes recorded in state the blob d, whose digest the
// caller has checked against the bytes as they were written. A blob that
// exists is left as it is. Without parts, one staged chunk is copied into
// place (one CopyObject) and several are read, checked and written (a
// GetObject each, one PutObject). Staged parts are assembled at the
// blob's own key (commitStaged: a listing, an UploadPartCopy a part and
// one for the tail, CompleteMultipartUpload with If-None-Match, the
// staging deleted). Parts in the upload's multipart upload are found by
// their numbers and SHA-256s (one ListParts per 1,000), the tail added as
// the last part, the upload completed at its assembled key and moved into
// place (moveAssembled: one CopyObject, or parallel UploadPartCopy above
// 256 MiB; the staging deleted with the assembled object). Either way S3
// checks every part's checksum at completion, so the blob appears whole,
// with exactly the bytes that were hashed, or not at all. Commit returns
// "" when the blob is in place, or the assembled key when the move
// outlasted CopyBudget and goes on in the background.
func (b *Blobs) Commit(ctx context.Context, id string, state []byte, d digest.Digest) (string, error) {
	if err := store.CheckUploadID(id); err != nil {
		return "", err
	}
	st, err := decodeState(id, state)
	if err != nil {
		return "", err
	}
	key := blobKey(d)
	if st.Parts == 0 {
		switch {
		case len(st.Tail) == 1:
			err = b.copy(ctx, tailPrefix(id)+st.Tail[0].Name, key)
		default:
			var body []byte
			if body, err = b.readTail(ctx, id, st.Tail, 0); err == nil {
				err = b.putObject(ctx, key, body, true)
			}
		}
		if err != nil {
			return b.commitLost(ctx, id, st, d, err)
		}
		b.deleteKeys(ctx, tailKeys(id, st.Tail))
		return "", nil
	}
	if st.MPU == "" {
		if err := b.commitStaged(ctx, id, key, st); err != nil {
			return b.commitLost(ctx, id, st, d, err)
		}
		return "", nil
	}
	if err := b.assembleMultipart(ctx, id, st); err != nil {
		return b.commitLost(ctx, id, st, d, err)
	}
	return b.moveAssembled(ctx, id, st, d)
}

// moveAssembled moves the assembled object of upload id (state st) to
// blob d's key and deletes it with the upload's staging. It returns ""
// when the blob is in place, or the assembled key when the move goes on
// in the background (the object and the staging then stay, for garbage
// collection to settle and delete).
func (b *Blobs) moveAssembled(ctx context.Context, id string, st uploadState, d digest.Digest) (string, error) {
	staging, _ := b.stagingKeys(ctx, id) // cleanup: what is missed, expires
	src := assembledKey(id, st.Nonce)
	moved, err := b.moveWithin(ctx, src, blobKey(d), st.size(), staging...)
	if err != nil {
		return "", fmt.Errorf("commit upload %s as %s: %w", id, d, lostToRacer(err))
	}
	if !moved {
		b.deleteKeys(ctx, staging)
		return src, nil
	}
	return "", nil
}

// copyParts copies each of parts (from Src, its Range) into multipart
// upload mpu of key as part N, 16 at a time, and sets each part's ETag.
// A part whose SHA256 is set must have that checksum (else
// store.ErrConflict); the others take S3's.
func (b *Blobs) copyParts(ctx context.Context, key, mpu string, parts []part) error {
	errs := make(chan error, len(parts))
	sem := make(chan struct{}, 16)
	for i := range parts {
		go func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			p := &parts[i]
			in := &s3.UploadPartCopyInput{
				Bucket: &b.bucket, Key: &key, UploadId: &mpu, PartNumber: aws.Int32(p.N),
				CopySource: aws.String(b.bucket + "/" + p.Src),
			}
			if p.Range != "" {
				in.CopySourceRange = &p.Range
			}
			res, err := b.client.UploadPartCopy(ctx, in)
			if err != nil {
				errs <- fmt.Errorf("copy part %d: %w", p.N, notFound(err))
				return
			}
			cs := aws.ToString(res.CopyPartResult.ChecksumSHA256)
			if p.SHA256 != "" && cs != "" && cs != p.SHA256 {
				errs <- fmt.Errorf("part %d has checksum %s, not %s: %w", p.N, cs, p.SHA256, store.ErrConflict)
				return
			}
			if p.SHA256 == "" {
				p.SHA256 = cs
			}
			p.ETag = aws.ToString(res.CopyPartResult.ETag)
			errs <- nil
		}()
	}
	var err error
	for range parts {
		if e := <-errs; e != nil && err == nil {
			err = e
		}
	}
	return err
}

// lostToRacer returns err as a store.ErrConflict when it says that
// something an upload state records is gone: a staged object (deleted by a
// concurrent Commit or Abort: the request built on a state that a racer
// finished or canceled).
func lostToRacer(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: the upload was finished or canceled by a concurrent request (%v)", store.ErrConflict, err)
	}
	return err
}

// commitLost answers a Commit of upload id (state st) as blob d that
// failed with err. A concurrent Commit of the same upload (a replayed PUT)
// may have made blob d meanwhile, and made this one fail (one
// HeadObject): then the Commit is done. When that Commit completed the
// multipart upload but has not moved it yet (one more HeadObject), this
// one moves it. Otherwise err, a lost race (store.ErrConflict) when a
// concurrent request consumed the upload's staging or changed it.
func (b *Blobs) commitLost(ctx context.Context, id string, st uploadState, d digest.Digest, err error) (string, error) {
	if _, serr := b.Stat(ctx, d); serr == nil {
		return "", nil
	}
	if st.MPU != "" && errors.Is(err, store.ErrNotFound) {
		head, herr := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.bucket, Key: aws.String(assembledKey(id, st.Nonce))})
		if herr == nil && aws.ToInt64(head.ContentLength) == st.size() {
			return b.moveAssembled(ctx, id, st, d)
		}
	}
	return "", fmt.Errorf("commit upload %s as %s: %w", id, d, lostToRacer(err))
}

// completeMultipart completes mpu of key (a blob's key) with parts,
// giving S3 each part's recorded checksum: S3 refuses to complete an
// upload whose parts changed. A blob that is there already is left as it
// is (If-None-Match), and mpu aborted. S3 answers a completion that meets
// another one of the same key under way (a concurrent push of the same
// blob) with ConditionalRequestConflict: it is tried again, up to 3 times,
// and then finds the blob there.
func (b *Blobs) completeMultipart(ctx context.Context, key, mpu string, parts []part) error {
	cp := make([]types.CompletedPart, len(parts))
	for i, p := range parts {
		cp[i] = types.CompletedPart{PartNumber: aws.Int32(p.N), ETag: aws.String(p.ETag), ChecksumSHA256: aws.String(p.SHA256)}
	}
	var err error
	var ae smithy.APIError
	for try := range 4 {
		if try > 0 {
			time.Sleep(time.Duration(try) * 200 * time.Millisecond)
		}
		_, err = b.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket: &b.bucket, Key: &key, UploadId: &mpu,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: cp},
			IfNoneMatch:     aws.String("*"),
		})
		if !errors.As(err, &ae) || ae.ErrorCode() != "ConditionalRequestConflict" {
			break
		}
	}
	if isPreconditionFailed(err) {
		b.abortMultipart(key, mpu)
		return nil
	}
	if errors.As(err, &ae) && (ae.ErrorCode() == "InvalidPart" || ae.ErrorCode() == "BadDigest") {
		return fmt.Errorf("complete upload: parts changed since they were recorded (%v): %w", err, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("complete upload: %w", err)
	}
	return nil
}

// completeOrAbort completes mpu of key with parts unless err (the error
// of making the parts) is set, and aborts mpu when either failed.
func (b *Blobs) completeOrAbort(ctx context.Context, key, mpu string, parts []part, err error) error {
	if err == nil {
		err = b.completeMultipart(ctx, key, mpu, parts)
	}
	if err != nil {
		b.abortMultipart(key, mpu)
	}
	return err
}

// abortMultipart aborts mpu, on a context of its own: it cleans up after
// a request that may have been canceled.
func (b *Blobs) abortMultipart(key, mpu string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &b.bucket, Key: &key, UploadId: &mpu})
}

// moveWithin copies src to dst and deletes src (and the keys of drop, in
// the same DeleteObjects), waiting at most CopyBudget;
// it reports whether the move finished in that time. A move still under
// way goes on in the background (Wait waits for it), and keeps src. It
// returns an error (store.ErrNotFound) only when src is gone and dst is
// not there.
func (b *Blobs) moveWithin(ctx context.Context, src, dst string, size int64, drop ...string) (bool, error) {
	done := make(chan error, 1)
	// The copy outlives the request when it takes too long, unless
	// NoBackgroundCopy: then it stops when moveWithin returns.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Minute)
	if b.opts.NoBackgroundCopy {
		defer cancel()
	}
	var handedOff atomic.Bool // the copy went on past the budget
	b.copies.Add(1)
	go func() {
		defer b.copies.Done()
		defer cancel()
		err := b.copyLarge(cctx, src, dst, size)
		if handedOff.Load() && !b.opts.NoBackgroundCopy && err != nil {
			b.copyOutcome(metrics.CopyFailed)
		}
		done <- err
	}()
	pastBudget := func() (bool, error) {
		handedOff.Store(true)
		if b.opts.NoBackgroundCopy {
			b.copyOutcome(metrics.CopyLeftForGC)
		} else {
			b.copyOutcome(metrics.CopyBackground)
		}
		return false, nil
	}
	if b.opts.CopyBudget <= 0 {
		return pastBudget()
	}
	timer := time.NewTimer(b.opts.CopyBudget)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			// A concurrent Commit of the same upload (a replayed PUT)
			// may have moved src, or be moving it, so that this copy
			// found src gone (one HeadObject): when dst is there, the
			// move is done; when it is not, src is gone and must not
			// become the blob's location: the error says so.
			if _, herr := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.bucket, Key: &dst}); herr != nil {
				b.copyOutcome(metrics.CopyFailed)
				if errors.Is(err, store.ErrNotFound) {
					return false, err
				}
				return false, nil
			}
		}
		b.deleteKeys(ctx, append([]string{src}, drop...))
		b.copyOutcome(metrics.CopyInTime)
		return true, nil
	case <-timer.C:
		return pastBudget()
	}
}

// copyPartSize is the size of the parts of a parallel copy.
const copyPartSize = 256 << 20

// copyLarge copies src (size bytes) to dst: one CopyObject up to
// copyPartSize, else a multipart upload of parallel UploadPartCopy.
func (b *Blobs) copyLarge(ctx context.Context, src, dst string, size int64) error {
	if size <= copyPartSize {
		return b.copy(ctx, src, dst)
	}
	partSize := max(int64(copyPartSize), (size+maxParts-1)/maxParts)
	out, err := b.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: &b.bucket, Key: &dst, ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
	})
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	mpu := aws.ToString(out.UploadId)
	parts := make([]part, (size+partSize-1)/partSize)
	for i := range parts {
		first := int64(i) * partSize
		parts[i] = part{N: int32(i + 1), Src: src, Range: fmt.Sprintf("bytes=%d-%d", first, min(first+partSize, size)-1)}
	}
	if err := b.completeOrAbort(ctx, dst, mpu, parts, b.copyParts(ctx, dst, mpu, parts)); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return nil
}

// copy copies object src to dst (server side) unless dst exists.
func (b *Blobs) copy(ctx context.Context, src, dst string) error {
	_, err := b.client.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket: &b.bucket, Key: &dst, CopySource: aws.String(b.bucket + "/" + src),
		IfNoneMatch: aws.String("*"),
	})
	if err != nil && !isPreconditionFailed(err) {
		return fmt.Errorf("copy %s: %w", src, notFound(err))
	}
	return nil
}

// Abort drops upload id: the multipart upload of state (and its object,
// should a concurrent Commit have completed it), and everything it staged
// (those of state, and any that racing requests left), found by a
// listing.
func (b *Blobs) Abort(ctx context.Context, id string, state []byte) error {
	if err := store.CheckUploadID(id); err != nil {
		return err
	}
	if _, ok := b.Direct(state); ok {
		return b.abortDirect(ctx, id, state)
	}
	st, err := decodeState(id, state)
	if err != nil {
		return err
	}
	keys, err := b.stagingKeys(ctx, id)
	if err != nil {
		return fmt.Errorf("abort upload %s: %w", id, err)
	}
	if st.MPU != "" {
		// A concurrent Commit may have completed it: its object goes
		// with the staging, in the same DeleteObjects.
		b.abortMultipart(assembledKey(id, st.Nonce), st.MPU)
		keys = append(keys, assembledKey(id, st.Nonce))
	}
	b.deleteKeys(ctx, keys)
	return nil
}

// stagingKeys lists the keys that upload id staged (one ListObjectsV2 per
// 1,000 keys).
func (b *Blobs) stagingKeys(ctx context.Context, id string) ([]string, error) {
	var keys []string
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: &b.bucket, Prefix: aws.String(stagingPrefix(id))})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list staging of upload %s: %w", id, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys, nil
}

func tailKeys(id string, tail []staged) []string {
	keys := make([]string, len(tail))
	for i, t := range tail {
		keys[i] = tailPrefix(id) + t.Name
	}
	return keys
}

// deleteKeys deletes keys, 1000 per DeleteObjects. It is cleanup: an
// error leaves staging for the bucket's lifecycle rule to expire.
func (b *Blobs) deleteKeys(ctx context.Context, keys []string) {
	ctx = context.WithoutCancel(ctx)
	for len(keys) > 0 {
		batch := keys[:min(len(keys), 1000)]
		keys = keys[len(batch):]
		ids := make([]types.ObjectIdentifier, len(batch))
		for i, k := range batch {
			ids[i] = types.ObjectIdentifier{Key: aws.String(k)}
		}
		b.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &b.bucket, Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
	}
}
