package awsstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/metrics"
	"github.com/pier-registry/pier/internal/store"
)

// Multipart limits of S3.
const (
	// MinPartSize is the smallest part of a multipart upload but the last.
	MinPartSize = 5 << 20
	// maxParts is the most parts of a multipart upload.
	maxParts = 10000
)

// BlobsOptions tune Blobs.
type BlobsOptions struct {
	// PresignTTL is how long a presigned GET URL is valid. Default 5m.
	PresignTTL time.Duration
	// CopyBudget is how long Commit may copy an assembled upload into
	// place before it hands the copy to the background; zero hands every
	// copy to the background at once.
	CopyBudget time.Duration
	// PartSize is the size of the parts of streamed uploads. Default
	// 16 MiB; at least MinPartSize.
	PartSize int64
	// PartsInMultipart sends the parts of chunked uploads straight into
	// one multipart upload, instead of staging each as an object that the
	// finish copies in: one request a part fewer, and a finish of fixed
	// cost. Requests that race on one upload state with different bytes
	// may then make each other's finish fail (never with other bytes:
	// parts.go), so it suits signed upload states, where each such
	// request is accepted, and not sessions, where the registry accepts
	// one chunk at an offset and the others must not touch it.
	PartsInMultipart bool
	// NoBackgroundCopy stops a copy that did not finish within CopyBudget
	// when Commit returns, instead of letting it go on (see
	// Config.NoBackgroundCopy); garbage collection finishes it.
	NoBackgroundCopy bool
	// PartURLTTL is how long a presigned part URL of a direct upload is
	// valid. Default 15m.
	PartURLTTL time.Duration
	// DirectPartSize is the size of the parts of direct uploads (the
	// smallest; more for blobs that would not fit in 10,000 parts).
	// Default 64 MiB; at least MinPartSize.
	DirectPartSize int64
	// Metrics receives the outcome of each copy of a large upload into
	// place (metrics.CopyInTime, ...); nil: none.
	Metrics metrics.Recorder
}

// Blobs keeps blobs in an S3 bucket (see the package doc for the layout).
type Blobs struct {
	client  *s3.Client
	presign *s3.PresignClient
	bucket  string
	opts    BlobsOptions
	copies  sync.WaitGroup
}

var (
	_ store.Blobs = (*Blobs)(nil)
	_ store.URLer = (*Blobs)(nil)
)

// NewBlobs returns the blob store of bucket.
func NewBlobs(client *s3.Client, bucket string, opts BlobsOptions) *Blobs {
	if opts.PresignTTL <= 0 {
		opts.PresignTTL = 5 * time.Minute
	}
	if opts.PartSize < MinPartSize {
		opts.PartSize = 16 << 20
	}
	if opts.PartURLTTL <= 0 {
		opts.PartURLTTL = 15 * time.Minute
	}
	if opts.DirectPartSize < MinPartSize {
		opts.DirectPartSize = defaultDirectPartSize
	}
	return &Blobs{client: client, presign: s3.NewPresignClient(client), bucket: bucket, opts: opts}
}

// CreateBucket creates the bucket unless it exists.
func (b *Blobs) CreateBucket(ctx context.Context) error {
	_, err := b.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &b.bucket})
	if err == nil {
		return nil
	}
	if !isNotFound(err) {
		return fmt.Errorf("check bucket %s: %w", b.bucket, err)
	}
	_, err = b.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &b.bucket})
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return fmt.Errorf("create bucket %s: %w", b.bucket, err)
	}
	return nil
}

// copyOutcome reports what became of a copy into place.
func (b *Blobs) copyOutcome(outcome string) {
	if b.opts.Metrics != nil {
		b.opts.Metrics.UploadCopy(outcome)
	}
}

// Wait waits for the copies that Commit handed to the background.
func (b *Blobs) Wait() { b.copies.Wait() }

// blobKey is the key of blob d.
func blobKey(d digest.Digest) string {
	return "blobs/" + string(d.Algorithm()) + "/" + d.Encoded()
}

// Stat returns the size of blob d. One HeadObject.
func (b *Blobs) Stat(ctx context.Context, d digest.Digest) (int64, error) {
	out, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.bucket, Key: aws.String(blobKey(d))})
	if err != nil {
		return 0, fmt.Errorf("stat blob %s: %w", d, notFound(err))
	}
	return aws.ToInt64(out.ContentLength), nil
}

// Open returns blob d for reading. One GetObject, and one more after each
// Seek that moves.
func (b *Blobs) Open(ctx context.Context, d digest.Digest) (io.ReadSeekCloser, error) {
	o := &object{ctx: ctx, b: b, key: blobKey(d)}
	if err := o.get(0); err != nil {
		return nil, fmt.Errorf("open blob %s: %w", d, err)
	}
	return o, nil
}

// checkFirst is the size above which Put asks whether a blob exists before
// sending it: a conditional PutObject refused early may reset the
// connection while a large body is still being sent.
const checkFirst = 1 << 20

// Put stores the bytes of r as blob d: in one PutObject when they fit in
// a part, else as a multipart upload straight to the blob's key, completed
// only once the bytes are known to hash to d. A PutObject of an existing
// blob is refused by S3 (If-None-Match), which leaves it as it is; above
// checkFirst bytes a HeadObject first skips the upload of a blob that
// exists.
func (b *Blobs) Put(ctx context.Context, d digest.Digest, r io.Reader) (int64, error) {
	if !d.Algorithm().Available() {
		return 0, fmt.Errorf("put blob %s: unsupported algorithm", d)
	}
	v := d.Verifier()
	r = io.TeeReader(r, v)
	first, err := readUpTo(r, b.opts.PartSize+1)
	if err != nil {
		return 0, fmt.Errorf("put blob %s: %w", d, err)
	}
	if len(first) > checkFirst {
		// Large: skip the upload of a blob that exists (one HeadObject),
		// checking the bytes all the same.
		if size, err := b.Stat(ctx, d); err == nil {
			n, err := io.Copy(io.Discard, r)
			if err != nil {
				return 0, fmt.Errorf("put blob %s: %w", d, err)
			}
			if !v.Verified() || int64(len(first))+n != size {
				return 0, store.ErrDigestMismatch
			}
			return size, nil
		}
	}
	if int64(len(first)) <= b.opts.PartSize {
		if !v.Verified() {
			return 0, store.ErrDigestMismatch
		}
		if err := b.putObject(ctx, blobKey(d), first, true); err != nil {
			return 0, fmt.Errorf("put blob %s: %w", d, err)
		}
		return int64(len(first)), nil
	}
	n, err := b.putMultipart(ctx, d, first, r, v)
	if err != nil {
		return 0, fmt.Errorf("put blob %s: %w", d, err)
	}
	return n, nil
}

// putMultipart streams first and then r to blob d's key as a multipart
// upload, and completes it only when v verifies the bytes.
func (b *Blobs) putMultipart(ctx context.Context, d digest.Digest, first []byte, r io.Reader, v digest.Verifier) (int64, error) {
	key := blobKey(d)
	mpu, err := b.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: &b.bucket, Key: &key, ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
	})
	if err != nil {
		return 0, err
	}
	abort := func(err error) (int64, error) {
		b.abortMultipart(key, aws.ToString(mpu.UploadId))
		return 0, err
	}
	var (
		parts []part
		n     int64
		// Parts go one at a time, so every part is read into the
		// array of first, which holds PartSize+1 bytes: memory stays at
		// one part per upload, however large the blob.
		buf = first
	)
	for {
		if int64(len(buf)) < b.opts.PartSize {
			if int64(cap(buf)) < b.opts.PartSize {
				buf = append(make([]byte, 0, b.opts.PartSize), buf...)
			}
			k, err := io.ReadFull(r, buf[len(buf):b.opts.PartSize])
			buf = buf[:len(buf)+k]
			if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				return abort(err)
			}
		}
		if len(buf) == 0 {
			break
		}
		size := min(int64(len(buf)), b.opts.PartSize)
		p, err := b.uploadPart(ctx, key, aws.ToString(mpu.UploadId), int32(len(parts)+1), buf[:size])
		if err != nil {
			return abort(err)
		}
		parts = append(parts, p)
		n += size
		buf = append(buf[:0], buf[size:]...)
		if size < b.opts.PartSize {
			break
		}
	}
	if !v.Verified() {
		return abort(store.ErrDigestMismatch)
	}
	if err := b.completeMultipart(ctx, key, aws.ToString(mpu.UploadId), parts); err != nil {
		return abort(err)
	}
	return n, nil
}

// Delete removes blob d. One DeleteObject.
func (b *Blobs) Delete(ctx context.Context, d digest.Digest) error {
	_, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.bucket, Key: aws.String(blobKey(d))})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("delete blob %s: %w", d, err)
	}
	return nil
}

// URL returns a presigned GET URL of blob d, kept at location ("" for
// its own key). Presigning is local: no request.
func (b *Blobs) URL(ctx context.Context, d digest.Digest, location string) (string, error) {
	key := location
	if key == "" {
		key = blobKey(d)
	}
	req, err := b.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &b.bucket, Key: &key},
		s3.WithPresignExpires(b.opts.PresignTTL))
	if err != nil {
		return "", fmt.Errorf("presign blob %s: %w", d, err)
	}
	return req.URL, nil
}

// putObject writes body at key with its SHA-256 checksum, which S3
// verifies. With ifAbsent, an existing object is left as it is.
func (b *Blobs) putObject(ctx context.Context, key string, body []byte, ifAbsent bool) error {
	sum := sha256.Sum256(body)
	in := &s3.PutObjectInput{
		Bucket:         &b.bucket,
		Key:            &key,
		Body:           bytes.NewReader(body),
		ContentLength:  aws.Int64(int64(len(body))),
		ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum[:])),
	}
	if ifAbsent {
		in.IfNoneMatch = aws.String("*")
	}
	_, err := b.client.PutObject(ctx, in)
	if ifAbsent && isPreconditionFailed(err) {
		return nil
	}
	return err
}

// object is an S3 object read as an io.ReadSeekCloser.
type object struct {
	ctx  context.Context
	b    *Blobs
	key  string
	body io.ReadCloser
	off  int64
	size int64
}

func (o *object) get(off int64) error {
	in := &s3.GetObjectInput{Bucket: &o.b.bucket, Key: &o.key}
	if off > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", off))
	}
	out, err := o.b.client.GetObject(o.ctx, in)
	if err != nil {
		return notFound(err)
	}
	o.body, o.off = out.Body, off
	if off == 0 {
		o.size = aws.ToInt64(out.ContentLength)
	}
	return nil
}

func (o *object) Read(p []byte) (int, error) {
	if o.body == nil {
		if o.off >= o.size {
			return 0, io.EOF
		}
		if err := o.get(o.off); err != nil {
			return 0, err
		}
	}
	n, err := o.body.Read(p)
	o.off += int64(n)
	return n, err
}

func (o *object) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = o.off + offset
	case io.SeekEnd:
		abs = o.size + offset
	}
	if abs < 0 {
		return 0, errors.New("seek before the start")
	}
	if abs != o.off && o.body != nil {
		o.body.Close()
		o.body = nil
	}
	o.off = abs
	return abs, nil
}

func (o *object) Close() error {
	if o.body != nil {
		return o.body.Close()
	}
	return nil
}

// readUpTo reads up to n bytes of r; fewer only at the end of r.
// Its buffer grows as bytes come, as bytes.Buffer's does, but never past n.
func readUpTo(r io.Reader, n int64) ([]byte, error) {
	buf := make([]byte, 0, min(n, 64<<10))
	for int64(len(buf)) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, int(min(n, 2*int64(cap(buf))))-len(buf))
		}
		k, err := r.Read(buf[len(buf):int(min(n, int64(cap(buf))))])
		buf = buf[:len(buf)+k]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// notFound makes S3's "no such key" errors store.ErrNotFound.
func notFound(err error) error {
	if noSuchUpload(err) && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %v", store.ErrNotFound, err)
	}
	return err
}

func isNotFound(err error) bool {
	var (
		nf   *types.NotFound
		nsk  *types.NoSuchKey
		nsb  *types.NoSuchBucket
		resp interface{ HTTPStatusCode() int }
	)
	if errors.As(err, &nf) || errors.As(err, &nsk) || errors.As(err, &nsb) {
		return true
	}
	return errors.As(err, &resp) && resp.HTTPStatusCode() == http.StatusNotFound
}

func isPreconditionFailed(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "PreconditionFailed" {
		return true
	}
	var resp interface{ HTTPStatusCode() int }
	return errors.As(err, &resp) && resp.HTTPStatusCode() == http.StatusPreconditionFailed
}
