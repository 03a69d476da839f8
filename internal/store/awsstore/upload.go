package awsstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/store"
)

// uploadState is the state of a chunked upload that WriteChunk returns
// (JSON, saved by the caller in the upload session): the parts of its
// multipart upload, and the staged chunks not yet in a part (the tail,
// smaller than a part). Each staged object has a key unique to the request
// that wrote it, so a request that loses a race cannot overwrite what the
// winner staged.
type uploadState struct {
	// MPU is the id of the multipart upload at assembledKey(id), once the
	// upload has a part.
	MPU   string   `json:"mpu,omitempty"`
	Parts []part   `json:"parts,omitempty"`
	Tail  []staged `json:"tail,omitempty"`
}

// part is a part of a multipart upload.
type part struct {
	N      int32  `json:"n"`
	ETag   string `json:"etag"`
	SHA256 string `json:"sha256"` // base64, as S3 takes it
	Size   int64  `json:"size"`
}

// staged is a chunk staged as an object of its own.
type staged struct {
	Key    string `json:"key"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"` // base64
}

func (s uploadState) size() int64 {
	var n int64
	for _, p := range s.Parts {
		n += p.Size
	}
	for _, t := range s.Tail {
		n += t.Size
	}
	return n
}

func (s uploadState) tailSize() int64 {
	var n int64
	for _, t := range s.Tail {
		n += t.Size
	}
	return n
}

func decodeState(id string, b []byte) (uploadState, error) {
	var s uploadState
	if len(b) == 0 {
		return s, nil
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("upload %s: bad state: %w", id, err)
	}
	prefix := stagingPrefix(id)
	for _, t := range s.Tail {
		if len(t.Key) <= len(prefix) || t.Key[:len(prefix)] != prefix {
			return s, fmt.Errorf("upload %s: bad state: key %q outside the upload", id, t.Key)
		}
	}
	return s, nil
}

// stagingPrefix is the prefix of upload id's staged chunks; a bucket
// lifecycle rule expires what is left there.
func stagingPrefix(id string) string { return "uploads/" + id + "/t/" }

// assembledKey is where upload id's multipart upload is completed: outside
// the staging prefix, since a blob link may point there (Commit).
func assembledKey(id string) string { return "assembled/" + id }

// checkID returns an error unless id is a plain token, so that it is one
// segment of a key.
func checkID(id string) error {
	if id == "" || len(id) > 128 {
		return fmt.Errorf("invalid upload id %q", id)
	}
	for _, c := range []byte(id) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("invalid upload id %q", id)
		}
	}
	return nil
}

// WriteChunk adds the bytes of r to upload id at offset. A chunk that
// leaves the tail under MinPartSize is staged as one object (one
// PutObject). Otherwise the tail is read back (one GetObject per staged
// chunk, each checked against its recorded SHA-256), and the tail and the
// chunk are sent as parts of PartSize with their SHA-256 checksums (one
// UploadPart each, and one CreateMultipartUpload for the first); what is
// left under MinPartSize is staged as the new tail.
func (b *Blobs) WriteChunk(ctx context.Context, id string, state []byte, offset int64, r io.Reader) ([]byte, int64, error) {
	if err := checkID(id); err != nil {
		return nil, 0, err
	}
	st, err := decodeState(id, state)
	if err != nil {
		return nil, 0, err
	}
	if st.size() != offset {
		return nil, 0, fmt.Errorf("write chunk of upload %s: offset %d, but the upload holds %d bytes", id, offset, st.size())
	}
	tail := st.tailSize()
	head, err := readUpTo(r, MinPartSize-tail)
	if err != nil {
		return nil, 0, fmt.Errorf("write chunk of upload %s: %w", id, err)
	}
	if tail+int64(len(head)) < MinPartSize {
		if len(head) > 0 {
			t, err := b.stage(ctx, id, offset, head)
			if err != nil {
				return nil, 0, fmt.Errorf("write chunk of upload %s: %w", id, err)
			}
			st.Tail = append(st.Tail, t)
		}
		return encodeState(st), int64(len(head)), nil
	}

	// The tail and this chunk make at least one part.
	buf, err := b.readTail(ctx, st.Tail, int(b.opts.PartSize))
	if err != nil {
		return nil, 0, fmt.Errorf("write chunk of upload %s: %w", id, lostToRacer(err))
	}
	buf = append(buf, head...)
	n := int64(len(head))
	st.Tail = nil
	if st.MPU == "" {
		out, err := b.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
			Bucket: &b.bucket, Key: aws.String(assembledKey(id)), ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
		})
		if err != nil {
			return nil, 0, fmt.Errorf("write chunk of upload %s: %w", id, err)
		}
		st.MPU = aws.ToString(out.UploadId)
	}
	for {
		if int64(len(buf)) < b.opts.PartSize {
			more, err := readUpTo(r, b.opts.PartSize-int64(len(buf)))
			if err != nil {
				return nil, 0, fmt.Errorf("write chunk of upload %s: %w", id, err)
			}
			buf = append(buf, more...)
			n += int64(len(more))
		}
		if int64(len(buf)) < MinPartSize {
			break // the end of the chunk: the rest is the new tail
		}
		size := min(int64(len(buf)), b.opts.PartSize)
		if len(st.Parts) >= maxParts-1 {
			return nil, 0, fmt.Errorf("write chunk of upload %s: more than %d parts", id, maxParts)
		}
		p, err := b.uploadPart(ctx, assembledKey(id), st.MPU, int32(len(st.Parts)+1), buf[:size])
		if err != nil {
			return nil, 0, fmt.Errorf("write chunk of upload %s: %w", id, b.uploadLost(ctx, assembledKey(id), st.MPU, err))
		}
		st.Parts = append(st.Parts, p)
		buf = buf[size:]
	}
	if len(buf) > 0 {
		t, err := b.stage(ctx, id, offset+n-int64(len(buf)), buf)
		if err != nil {
			return nil, 0, fmt.Errorf("write chunk of upload %s: %w", id, err)
		}
		st.Tail = []staged{t}
	}
	return encodeState(st), n, nil
}

func encodeState(s uploadState) []byte {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // plain structs always marshal
	}
	return b
}

// stage writes body as a staged chunk of upload id starting at offset,
// under a key of its own.
func (b *Blobs) stage(ctx context.Context, id string, offset int64, body []byte) (staged, error) {
	key := stagingPrefix(id) + strconv.FormatInt(offset, 10) + "-" + randomHex()
	if err := b.putObject(ctx, key, body, false); err != nil {
		return staged{}, err
	}
	sum := sha256.Sum256(body)
	return staged{Key: key, Size: int64(len(body)), SHA256: base64.StdEncoding.EncodeToString(sum[:])}, nil
}

// readTail reads the staged chunks back, checking each against its
// recorded size and SHA-256, into a buffer of capacity at least c.
func (b *Blobs) readTail(ctx context.Context, tail []staged, c int) ([]byte, error) {
	buf := make([]byte, 0, c)
	for _, t := range tail {
		out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b.bucket, Key: &t.Key})
		if err != nil {
			return nil, fmt.Errorf("read staged chunk %s: %w", t.Key, notFound(err))
		}
		start := len(buf)
		var w bytes.Buffer
		_, err = io.Copy(&w, io.LimitReader(out.Body, t.Size+1))
		out.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("read staged chunk %s: %w", t.Key, err)
		}
		buf = append(buf, w.Bytes()...)
		sum := sha256.Sum256(buf[start:])
		if int64(len(buf)-start) != t.Size || base64.StdEncoding.EncodeToString(sum[:]) != t.SHA256 {
			return nil, fmt.Errorf("staged chunk %s changed: %w", t.Key, store.ErrConflict)
		}
	}
	return buf, nil
}

// uploadPart sends body as part n of multipart upload mpu of key, with
// its SHA-256 checksum.
func (b *Blobs) uploadPart(ctx context.Context, key, mpu string, n int32, body []byte) (part, error) {
	sum := sha256.Sum256(body)
	cs := base64.StdEncoding.EncodeToString(sum[:])
	out, err := b.client.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: &b.bucket, Key: &key, UploadId: &mpu, PartNumber: &n,
		Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
		ChecksumSHA256: &cs,
	})
	if err != nil {
		return part{}, fmt.Errorf("upload part %d: %w", n, err)
	}
	return part{N: n, ETag: aws.ToString(out.ETag), SHA256: cs, Size: int64(len(body))}, nil
}

// completeMultipart completes mpu with parts, giving S3 each part's
// recorded checksum: S3 refuses to complete an upload whose parts changed.
func (b *Blobs) completeMultipart(ctx context.Context, key, mpu string, parts []part) error {
	cp := make([]types.CompletedPart, len(parts))
	for i, p := range parts {
		cp[i] = types.CompletedPart{PartNumber: aws.Int32(p.N), ETag: aws.String(p.ETag), ChecksumSHA256: aws.String(p.SHA256)}
	}
	_, err := b.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &b.bucket, Key: &key, UploadId: &mpu,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: cp},
	})
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorCode() == "InvalidPart" || ae.ErrorCode() == "BadDigest") {
		return fmt.Errorf("complete upload: parts changed since they were recorded (%v): %w", err, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("complete upload: %w", err)
	}
	return nil
}

// abortMultipart aborts mpu, on a context of its own: it cleans up after
// a request that may have been canceled.
func (b *Blobs) abortMultipart(key, mpu string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &b.bucket, Key: &key, UploadId: &mpu})
}

// Commit makes the bytes recorded in state the blob d. A blob that exists
// is left as it is. Without a multipart upload, one staged chunk is copied
// into place (one CopyObject) and several are read, checked and written
// (a GetObject each, one PutObject). With one, the tail becomes its last
// part, S3 completes it at assembledKey(id) checking every part's
// checksum, and it is copied into place (one CopyObject, or parallel
// UploadPartCopy for large blobs) within CopyBudget; past the budget the
// copy goes on in the background and Commit returns assembledKey(id) as
// the blob's location. The staged chunks are deleted (one DeleteObjects).
func (b *Blobs) Commit(ctx context.Context, id string, state []byte, d digest.Digest) (string, error) {
	if err := checkID(id); err != nil {
		return "", err
	}
	st, err := decodeState(id, state)
	if err != nil {
		return "", err
	}
	key := blobKey(d)
	if st.MPU == "" {
		switch {
		case len(st.Tail) == 1:
			err = b.copy(ctx, st.Tail[0].Key, key)
		default:
			var body []byte
			if body, err = b.readTail(ctx, st.Tail, 0); err == nil {
				err = b.putObject(ctx, key, body, true)
			}
		}
		if errors.Is(err, store.ErrNotFound) {
			// Committed before: the staged chunks are gone, the blob is
			// there.
			if _, serr := b.Stat(ctx, d); serr == nil {
				err = nil
			} else {
				err = lostToRacer(err) // canceled meanwhile
			}
		}
		if err != nil {
			return "", fmt.Errorf("commit upload %s as %s: %w", id, d, err)
		}
		b.deleteKeys(ctx, tailKeys(st.Tail))
		return "", nil
	}

	if _, err := b.Stat(ctx, d); err == nil {
		b.discard(ctx, id, st)
		return "", nil
	}
	assembled := assembledKey(id)
	if len(st.Tail) > 0 {
		body, err := b.readTail(ctx, st.Tail, 0)
		if err != nil {
			return b.commitLost(ctx, id, d, err)
		}
		p, err := b.uploadPart(ctx, assembled, st.MPU, int32(len(st.Parts)+1), body)
		if err != nil {
			return b.commitLost(ctx, id, d, b.uploadLost(ctx, assembled, st.MPU, err))
		}
		st.Parts = append(st.Parts, p)
	}
	if err := b.completeMultipart(ctx, assembled, st.MPU, st.Parts); err != nil {
		return b.commitLost(ctx, id, d, b.uploadLost(ctx, assembled, st.MPU, err))
	}
	b.deleteKeys(ctx, tailKeys(st.Tail))
	moved, err := b.moveWithin(ctx, assembled, key, st.size())
	if err != nil {
		return "", fmt.Errorf("commit upload %s: %w", id, lostToRacer(err))
	}
	if moved {
		return "", nil
	}
	return assembled, nil
}

// consumed reports whether err says that something an upload state
// records is gone: its multipart upload (completed or aborted:
// NoSuchUpload) or a staged chunk (deleted). Only Commit and Abort remove
// them, so a request that meets this built on a state that a concurrent
// request finished or canceled: it lost a race.
func consumed(err error) bool {
	var ae smithy.APIError
	return errors.Is(err, store.ErrNotFound) || errors.As(err, &ae) && ae.ErrorCode() == "NoSuchUpload"
}

// lostToRacer returns err as a store.ErrConflict when consumed(err).
func lostToRacer(err error) error {
	if consumed(err) {
		return fmt.Errorf("%w: the upload was finished or canceled by a concurrent request (%v)", store.ErrConflict, err)
	}
	return err
}

// uploadLost is lostToRacer for err, the error of an UploadPart or a
// CompleteMultipartUpload of multipart upload mpu of key. The error does
// not always say NoSuchUpload when a concurrent request completed or
// aborted the upload: S3 may refuse a part before it reads the body and
// reset the connection, and a server may fail one of two concurrent
// completions with an internal error. Then one ListParts asks.
func (b *Blobs) uploadLost(ctx context.Context, key, mpu string, err error) error {
	if !consumed(err) && !errors.Is(err, store.ErrConflict) && ctx.Err() == nil {
		_, lerr := b.client.ListParts(ctx, &s3.ListPartsInput{Bucket: &b.bucket, Key: &key, UploadId: &mpu, MaxParts: aws.Int32(1)})
		if consumed(lerr) {
			err = fmt.Errorf("%w (%w)", err, lerr)
		}
	}
	return lostToRacer(err)
}

// commitLost answers a Commit of upload id as blob d that failed with
// err. A concurrent Commit of the same upload (a replayed PUT) may have
// made blob d meanwhile, and made this one fail (one HeadObject): then the
// Commit is done. Otherwise err, a lost race (store.ErrConflict) when a
// concurrent request consumed the upload's state or changed its parts.
func (b *Blobs) commitLost(ctx context.Context, id string, d digest.Digest, err error) (string, error) {
	if _, serr := b.Stat(ctx, d); serr == nil {
		return "", nil
	}
	return "", fmt.Errorf("commit upload %s: %w", id, lostToRacer(err))
}

// moveWithin copies src to dst and deletes src, waiting at most CopyBudget;
// it reports whether the move finished in that time. A move still under
// way goes on in the background (Wait waits for it), and keeps src. It
// returns an error (store.ErrNotFound) only when src is gone and dst is
// not there.
func (b *Blobs) moveWithin(ctx context.Context, src, dst string, size int64) (bool, error) {
	done := make(chan error, 1)
	b.copies.Add(1)
	go func() {
		defer b.copies.Done()
		// The copy outlives the request when it takes too long.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Minute)
		defer cancel()
		done <- b.copyLarge(cctx, src, dst, size)
	}()
	if b.opts.CopyBudget <= 0 {
		return false, nil
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
				if errors.Is(err, store.ErrNotFound) {
					return false, err
				}
				return false, nil
			}
		}
		b.deleteKeys(ctx, []string{src})
		return true, nil
	case <-timer.C:
		return false, nil
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
	count := int((size + partSize - 1) / partSize)
	parts := make([]part, count)
	errs := make(chan error, count)
	sem := make(chan struct{}, 8)
	for i := range count {
		go func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			first := int64(i) * partSize
			last := min(first+partSize, size) - 1
			res, err := b.client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
				Bucket: &b.bucket, Key: &dst, UploadId: &mpu, PartNumber: aws.Int32(int32(i + 1)),
				CopySource:      aws.String(b.bucket + "/" + src),
				CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", first, last)),
			})
			if err == nil {
				parts[i] = part{N: int32(i + 1), ETag: aws.ToString(res.CopyPartResult.ETag), SHA256: aws.ToString(res.CopyPartResult.ChecksumSHA256)}
			}
			errs <- err
		}()
	}
	for range count {
		if e := <-errs; e != nil && err == nil {
			err = e
		}
	}
	if err == nil {
		err = b.completeMultipart(ctx, dst, mpu, parts)
	}
	if err != nil {
		b.abortMultipart(dst, mpu)
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

// Abort drops upload id: its multipart upload and its staged chunks (those
// in state, and any that racing requests left, found by a listing).
func (b *Blobs) Abort(ctx context.Context, id string, state []byte) error {
	if err := checkID(id); err != nil {
		return err
	}
	if _, ok := b.Direct(state); ok {
		return b.abortDirect(ctx, id, state)
	}
	st, err := decodeState(id, state)
	if err != nil {
		return err
	}
	b.discard(ctx, id, st)
	keys := tailKeys(st.Tail)
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: &b.bucket, Prefix: aws.String(stagingPrefix(id))})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("abort upload %s: %w", id, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	b.deleteKeys(ctx, keys)
	return nil
}

// discard aborts the multipart upload of st and deletes its tail.
func (b *Blobs) discard(ctx context.Context, id string, st uploadState) {
	if st.MPU != "" {
		b.abortMultipart(assembledKey(id), st.MPU)
	}
	b.deleteKeys(ctx, tailKeys(st.Tail))
}

func tailKeys(tail []staged) []string {
	keys := make([]string, len(tail))
	for i, t := range tail {
		keys[i] = t.Key
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

func randomHex() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
