package awsstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/store"
)

// Direct uploads: the client sends the parts of a multipart upload at
// directKey(id) straight to S3, to presigned UploadPart URLs; Assemble
// completes it there, outside blobs/, and CommitDirect moves the bytes
// into place once the registry has hashed them.

var _ store.DirectUploader = (*Blobs)(nil)

// directKey is where direct upload id is assembled: a key of the
// assembled/ scheme (outside blobs/ and the staging), of its own.
func directKey(id string) string { return assembledKey(id, "direct") }

// noSuchUpload reports whether err says that a multipart upload is gone
// (completed or aborted).
func noSuchUpload(err error) bool {
	var ae smithy.APIError
	return isNotFound(err) || errors.As(err, &ae) && ae.ErrorCode() == "NoSuchUpload"
}

const (
	// defaultDirectPartSize is the part size of direct uploads.
	defaultDirectPartSize = 64 << 20
	// maxPartSize is S3's largest part, and maxObjectSize its largest
	// object.
	maxPartSize   = 5 << 30
	maxObjectSize = 5 << 40
)

// directState is the state of a direct upload (JSON, saved by the caller
// in the upload session). Its JSON starts with directPrefix.
type directState struct {
	Direct   bool   `json:"direct"`
	MPU      string `json:"mpu,omitempty"`
	PartSize int64  `json:"partSize"`
	// Assembled is set once the multipart upload is completed at
	// assembledKey, of Size bytes.
	Assembled bool  `json:"assembled,omitempty"`
	Size      int64 `json:"size,omitempty"`
	// Digest is set for an upload in one PutObject (direct_put.go): the
	// blob it puts, of PartSize bytes. MPU is then empty.
	Digest digest.Digest `json:"digest,omitempty"`
}

// put reports whether st is an upload in one PutObject.
func (st directState) put() bool { return st.Digest != "" }

var directPrefix = []byte(`{"direct":true,`)

func (st directState) encode() []byte {
	b, err := json.Marshal(st)
	if err != nil {
		panic(err) // a plain struct always marshals
	}
	return b
}

func decodeDirect(id string, state []byte) (directState, error) {
	var st directState
	if !bytes.HasPrefix(state, directPrefix) {
		return st, fmt.Errorf("upload %s is not a direct upload", id)
	}
	err := json.Unmarshal(state, &st)
	switch {
	case err != nil:
	case st.put() && st.MPU == "" && st.PartSize >= 1 && st.PartSize <= maxPutSize && st.Digest.Validate() == nil:
		return st, nil
	case !st.put() && st.MPU != "" && st.PartSize >= MinPartSize:
		return st, nil
	}
	return st, fmt.Errorf("upload %s: bad direct upload state", id)
}

func (b *Blobs) layout(st directState) store.PartLayout {
	if st.put() {
		return store.PartLayout{PartSize: st.PartSize, MinPartSize: MinPartSize, MaxParts: 1}
	}
	return store.PartLayout{PartSize: st.PartSize, MinPartSize: MinPartSize, MaxParts: maxParts}
}

// StartDirect begins direct upload id: with d, a sha256 digest, and a
// length of 1 byte to PutMax, an upload in one PutObject straight to
// blob d's key, which S3 checks against d (startPut: no request);
// otherwise one CreateMultipartUpload at directKey(id). The part size is
// DirectPartSize, or more when length bytes would not fit in maxParts
// parts of it.
func (b *Blobs) StartDirect(ctx context.Context, id string, length int64, d digest.Digest) ([]byte, store.PartLayout, error) {
	if err := store.CheckUploadID(id); err != nil {
		return nil, store.PartLayout{}, err
	}
	if st, ok := b.startPut(length, d); ok {
		return st.encode(), b.layout(st), nil
	}
	size := b.opts.DirectPartSize
	if length > 0 {
		const mib = 1 << 20
		need := (length + maxParts - 1) / maxParts
		size = max(size, (need+mib-1)/mib*mib)
	}
	if length > maxObjectSize || size > maxPartSize {
		return nil, store.PartLayout{}, fmt.Errorf("%w: a blob of %d bytes is larger than S3 takes (%d bytes)", store.ErrBadParts, length, int64(maxObjectSize))
	}
	out, err := b.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b.bucket, Key: aws.String(directKey(id))})
	if err != nil {
		return nil, store.PartLayout{}, fmt.Errorf("start direct upload %s: %w", id, err)
	}
	st := directState{Direct: true, MPU: aws.ToString(out.UploadId), PartSize: size}
	return st.encode(), b.layout(st), nil
}

// Direct returns what a direct upload's state says.
func (b *Blobs) Direct(state []byte) (store.DirectInfo, bool) {
	st, err := decodeDirect("", state)
	if err != nil {
		return store.DirectInfo{}, false
	}
	info := store.DirectInfo{Layout: b.layout(st), Size: -1, Digest: st.Digest}
	if st.Assembled {
		info.Size = st.Size
	}
	return info, true
}

// PartURL presigns an UploadPart of part n: valid for PartURLTTL, and no
// later than notAfter. The signature covers the key, the upload id and the
// part number: the URL writes that part of that upload only. No request.
func (b *Blobs) PartURL(ctx context.Context, id string, state []byte, n int32, notAfter time.Time) (store.PartURL, error) {
	st, err := decodeDirect(id, state)
	if err != nil {
		return store.PartURL{}, err
	}
	ttl := min(b.opts.PartURLTTL, time.Until(notAfter))
	if ttl < time.Second {
		return store.PartURL{}, fmt.Errorf("presign part %d of upload %s: %w: the upload expires at %s", n, id, store.ErrNotFound, notAfter)
	}
	// Presigning at the start of the second: S3 counts the expiry from
	// X-Amz-Date, which has whole seconds.
	now := time.Now().Truncate(time.Second)
	if st.put() {
		return b.putURL(ctx, id, st, n, now, ttl)
	}
	req, err := b.presign.PresignUploadPart(ctx, &s3.UploadPartInput{
		Bucket: &b.bucket, Key: aws.String(directKey(id)), UploadId: &st.MPU, PartNumber: &n,
	}, func(o *s3.PresignOptions) {
		o.Expires = ttl
		o.ClientOptions = append(o.ClientOptions, func(o *s3.Options) {
			// No checksum of an empty body in the URL: the client's
			// bytes are the body.
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		})
	})
	if err != nil {
		return store.PartURL{}, fmt.Errorf("presign part %d of upload %s: %w", n, id, err)
	}
	return store.PartURL{URL: req.URL, Expires: now.Add(ttl)}, nil
}

// Parts lists the parts S3 holds: one ListParts per 1000 parts. An
// assembled upload has none left to list.
func (b *Blobs) Parts(ctx context.Context, id string, state []byte) ([]store.Part, error) {
	st, err := decodeDirect(id, state)
	if err != nil {
		return nil, err
	}
	if st.put() {
		return b.putParts(ctx, id, st)
	}
	if st.Assembled {
		return nil, nil
	}
	parts, err := b.listParts(ctx, id, st)
	if err != nil {
		return nil, err
	}
	out := make([]store.Part, len(parts))
	for i, p := range parts {
		out[i] = store.Part{Number: aws.ToInt32(p.PartNumber), Size: aws.ToInt64(p.Size)}
	}
	return out, nil
}

func (b *Blobs) listParts(ctx context.Context, id string, st directState) ([]types.Part, error) {
	var parts []types.Part
	p := s3.NewListPartsPaginator(b.client, &s3.ListPartsInput{Bucket: &b.bucket, Key: aws.String(directKey(id)), UploadId: &st.MPU})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list parts of upload %s: %w", id, err)
		}
		parts = append(parts, page.Parts...)
	}
	return parts, nil
}

// Assemble checks the parts (numbered from 1 without a gap, every one but
// the last of PartSize bytes) and completes the multipart upload at
// directKey(id): ListParts, CompleteMultipartUpload with the listed
// ETags (S3 refuses it when a part was replaced meanwhile). When the
// multipart upload is gone, a HeadObject tells whether a concurrent
// Assemble completed it.
func (b *Blobs) Assemble(ctx context.Context, id string, state []byte) ([]byte, int64, error) {
	st, err := decodeDirect(id, state)
	if err != nil {
		return nil, 0, err
	}
	if st.Assembled {
		return state, st.Size, nil
	}
	if st.put() {
		return b.checkPut(ctx, id, st)
	}
	parts, err := b.listParts(ctx, id, st)
	if err != nil {
		return b.assembledBefore(ctx, id, st, err)
	}
	if err := checkParts(parts, st.PartSize); err != nil {
		return nil, 0, fmt.Errorf("assemble upload %s: %w", id, err)
	}
	cp := make([]types.CompletedPart, len(parts))
	for i, p := range parts {
		cp[i] = types.CompletedPart{PartNumber: p.PartNumber, ETag: p.ETag}
		st.Size += aws.ToInt64(p.Size)
	}
	_, err = b.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &b.bucket, Key: aws.String(directKey(id)), UploadId: &st.MPU,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: cp},
	})
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorCode() == "InvalidPart" || ae.ErrorCode() == "EntityTooSmall") {
		return nil, 0, fmt.Errorf("assemble upload %s: %w: a part was sent again while the upload was being finished (%v)", id, store.ErrBadParts, err)
	}
	if err != nil {
		return b.assembledBefore(ctx, id, st, err)
	}
	st.Assembled = true
	return st.encode(), st.Size, nil
}

// assembledBefore answers an Assemble whose multipart upload failed with
// err: when the upload is gone and its object is there, a concurrent
// Assemble completed it (one HeadObject); when the object is not there
// yet, a concurrent Assemble is completing it (store.ErrConflict).
func (b *Blobs) assembledBefore(ctx context.Context, id string, st directState, err error) ([]byte, int64, error) {
	if !noSuchUpload(err) {
		return nil, 0, fmt.Errorf("assemble upload %s: %w", id, err)
	}
	out, herr := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.bucket, Key: aws.String(directKey(id))})
	if herr != nil {
		return nil, 0, fmt.Errorf("assemble upload %s: %w: being assembled by another request, or canceled (%v)", id, store.ErrConflict, err)
	}
	st.Assembled, st.Size = true, aws.ToInt64(out.ContentLength)
	return st.encode(), st.Size, nil
}

// checkParts returns an error wrapping store.ErrBadParts unless parts are
// numbered 1 to len(parts), all of size partSize but the last, which has
// 1 to partSize bytes.
func checkParts(parts []types.Part, partSize int64) error {
	if len(parts) == 0 {
		return fmt.Errorf("%w: no part was uploaded", store.ErrBadParts)
	}
	for i, p := range parts {
		n, size := aws.ToInt32(p.PartNumber), aws.ToInt64(p.Size)
		switch {
		case n != int32(i+1):
			return fmt.Errorf("%w: part %d is missing (the parts are numbered from 1 without a gap)", store.ErrBadParts, i+1)
		case i < len(parts)-1 && size != partSize:
			return fmt.Errorf("%w: part %d has %d bytes; every part but the last must have %d", store.ErrBadParts, n, size, partSize)
		case size < 1 || size > partSize:
			return fmt.Errorf("%w: the last part, %d, has %d bytes; want 1 to %d", store.ErrBadParts, n, size, partSize)
		}
	}
	return nil
}

// ReadAssembled reads the assembled upload from offset on: one GetObject.
func (b *Blobs) ReadAssembled(ctx context.Context, id string, state []byte, offset int64) (io.ReadCloser, error) {
	st, err := decodeDirect(id, state)
	if err != nil {
		return nil, err
	}
	if !st.Assembled || st.put() {
		return nil, fmt.Errorf("read upload %s: not assembled", id)
	}
	o := &object{ctx: ctx, b: b, key: directKey(id)}
	if err := o.get(offset); err != nil {
		return nil, fmt.Errorf("read upload %s: %w", id, err)
	}
	return o.body, nil
}

// CommitDirect moves the assembled upload to blob d's key, as Commit does
// (moveWithin: one CopyObject and one DeleteObjects within CopyBudget, or
// the copy goes on in the background and the assembled key is returned).
func (b *Blobs) CommitDirect(ctx context.Context, id string, state []byte, d digest.Digest) (string, error) {
	st, err := decodeDirect(id, state)
	if err != nil {
		return "", err
	}
	if !st.Assembled {
		return "", fmt.Errorf("commit upload %s: not assembled", id)
	}
	if st.put() {
		if st.Digest != d {
			return "", fmt.Errorf("commit upload %s as %s: it put blob %s", id, d, st.Digest)
		}
		return "", nil // in place since Assemble found it there
	}
	moved, err := b.moveWithin(ctx, directKey(id), blobKey(d), st.Size)
	if err != nil {
		return "", fmt.Errorf("commit upload %s: %w", id, err)
	}
	if moved {
		return "", nil
	}
	return directKey(id), nil
}

// abortDirect drops direct upload id: its multipart upload
// (AbortMultipartUpload, unless assembled) and its assembled object (one
// DeleteObjects: a concurrent Assemble may have made it). An upload in
// one PutObject has nothing of its own to drop: what it put is blob
// Digest, whose bytes are checked, and which other repositories may link
// since; when none does, garbage collection deletes it.
func (b *Blobs) abortDirect(ctx context.Context, id string, state []byte) error {
	st, err := decodeDirect(id, state)
	if err != nil {
		return err
	}
	if st.put() {
		return nil
	}
	if !st.Assembled {
		b.abortMultipart(directKey(id), st.MPU)
	}
	b.deleteKeys(ctx, []string{directKey(id)})
	return nil
}
