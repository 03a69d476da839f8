package awsstore

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/store"
)

// Direct uploads in one request (docs/direct-upload.md, "One PUT"): when
// the client gives the blob's sha256 digest and size at the start, its
// one part URL is a presigned PutObject straight to the blob's key, signed
// with two headers the client must send:
//
//   - x-amz-checksum-sha256: the digest, in base64. S3 computes the
//     SHA-256 of the bytes it receives and refuses the request (400
//     BadDigest) when they do not hash to it, storing nothing: the bytes
//     under blobs/sha256/<hex> hash to <hex>, hashed by S3 on the
//     registry's signed demand;
//   - x-amz-meta-pier-upload: the upload's id, kept with the object, so
//     that the finish knows that this upload put the bytes there (and not
//     an earlier push into another repository: linking those would be a
//     mount that the caller may not be allowed to make).
//
// The finish (checkPut) is one HeadObject with the checksum mode on: the
// object has the upload's id, its size, and a full-object SHA-256
// checksum equal to the digest. Nothing is read back or copied.

// maxPutSize is S3's largest PutObject.
const maxPutSize = 5 << 30

// metaUpload is the object metadata (x-amz-meta-pier-upload) that names
// the upload that put a blob.
const metaUpload = "pier-upload"

// startPut returns the state of an upload in one PutObject of blob d,
// length bytes, when d and length allow one: d is sha256, and length is 1
// byte to maxPutSize.
func (b *Blobs) startPut(length int64, d digest.Digest) (directState, bool) {
	if d == "" || d.Validate() != nil || d.Algorithm() != digest.SHA256 || length < 1 || length > maxPutSize {
		return directState{}, false
	}
	return directState{Direct: true, PartSize: length, Digest: d}, true
}

// checksumOf is d's SHA-256 in base64, as S3's checksum headers carry it.
func checksumOf(d digest.Digest) string {
	raw, _ := hex.DecodeString(d.Encoded())
	return base64.StdEncoding.EncodeToString(raw)
}

// putURL presigns the PutObject of upload id (its part 1) at the blob's
// key, with the checksum and the upload's id as signed headers. No
// request.
func (b *Blobs) putURL(ctx context.Context, id string, st directState, n int32, now time.Time, ttl time.Duration) (store.PartURL, error) {
	if n != 1 {
		return store.PartURL{}, fmt.Errorf("presign part %d of upload %s: %w: an upload in one request has part 1 only", n, id, store.ErrBadParts)
	}
	req, err := b.presign.PresignPutObject(ctx, &s3.PutObjectInput{
		Bucket: &b.bucket, Key: aws.String(blobKey(st.Digest)),
		ChecksumSHA256: aws.String(checksumOf(st.Digest)),
		Metadata:       map[string]string{metaUpload: id},
	}, func(o *s3.PresignOptions) {
		o.Expires = ttl
		o.ClientOptions = append(o.ClientOptions, func(o *s3.Options) {
			// The checksum is the one given, not one of an empty body.
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		})
	})
	if err != nil {
		return store.PartURL{}, fmt.Errorf("presign the put of upload %s: %w", id, err)
	}
	h := http.Header{}
	for k, vs := range req.SignedHeader {
		if http.CanonicalHeaderKey(k) != "Host" {
			h[http.CanonicalHeaderKey(k)] = vs
		}
	}
	return store.PartURL{URL: req.URL, Header: h, Expires: now.Add(ttl)}, nil
}

// headPut is the blob that upload id in one PutObject put: one HeadObject
// of the blob's key, with its checksum. found is false when the key holds
// nothing, or an object this upload did not put.
func (b *Blobs) headPut(ctx context.Context, id string, st directState) (out *s3.HeadObjectOutput, found bool, err error) {
	out, err = b.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: &b.bucket, Key: aws.String(blobKey(st.Digest)), ChecksumMode: types.ChecksumModeEnabled,
	})
	if isNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("upload %s: look for blob %s: %w", id, st.Digest, err)
	}
	return out, out.Metadata[metaUpload] == id, nil
}

// putParts lists the part that upload id in one PutObject put: part 1
// when its blob is there, put by it.
func (b *Blobs) putParts(ctx context.Context, id string, st directState) ([]store.Part, error) {
	out, found, err := b.headPut(ctx, id, st)
	if err != nil || !found {
		return nil, err
	}
	return []store.Part{{Number: 1, Size: aws.ToInt64(out.ContentLength)}}, nil
}

// checkPut is the Assemble of upload id in one PutObject: the blob is
// there, put by this upload, of the size given at the start, and S3
// recorded the SHA-256 of its bytes as the digest (it refused them
// otherwise). store.ErrBadParts when it is not there: the client has not
// sent it, or another upload of the same blob put it again since (its id
// replaced this one's): sent again, the bytes make it this upload's.
func (b *Blobs) checkPut(ctx context.Context, id string, st directState) ([]byte, int64, error) {
	out, found, err := b.headPut(ctx, id, st)
	if err != nil {
		return nil, 0, err
	}
	if !found {
		return nil, 0, fmt.Errorf("%w: the object store holds no blob %s put by upload %s: send its bytes (again) to the part URL", store.ErrBadParts, st.Digest, id)
	}
	size, sum := aws.ToInt64(out.ContentLength), aws.ToString(out.ChecksumSHA256)
	if size != st.PartSize || sum != checksumOf(st.Digest) || out.ChecksumType == types.ChecksumTypeComposite {
		return nil, 0, fmt.Errorf("%w: blob %s holds %d bytes of checksum %q (%s), not %d bytes of %s", store.ErrBadParts,
			st.Digest, size, sum, out.ChecksumType, st.PartSize, checksumOf(st.Digest))
	}
	st.Assembled, st.Size = true, size
	return st.encode(), size, nil
}
