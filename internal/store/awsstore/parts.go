package awsstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	mathrand "math/rand/v2"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/pier-registry/pier/internal/randid"
	"github.com/pier-registry/pier/internal/store"
)

// Where the parts of a chunked upload go. Two ways, by
// BlobsOptions.PartsInMultipart:
//
//   - Staged (the default, for upload states kept in sessions): each part
//     is an object of its own under a key that names its SHA-256 and the
//     chain hash of the parts before it, never overwritten (one PutObject
//     a part); Commit finds the parts of the state by their chain and
//     assembles them in a multipart upload at the blob's own key (one
//     UploadPartCopy a part). No request that loses the race for an
//     offset can touch the parts of the state the registry accepted.
//   - In the multipart upload (for signed upload states): the parts go
//     straight into one multipart upload at assembledKey(id, Nonce), made
//     with the first part (one UploadPart a part), at numbers drawn from
//     a slot of their own (partNumber); Commit lists them, keeps those
//     whose SHA-256s make the state's chain, completes the upload and
//     moves the blob into place: one request a part fewer, and a finish
//     of fixed cost. Requests that race on one state with different bytes
//     may replace each other's parts (when they draw the same number);
//     the Commit of a state whose part was replaced then fails with
//     store.ErrConflict, never with other bytes. With signed states every
//     such request is accepted (each gets a Location of its own), so none
//     is lost to a racer that the registry refused.

// Part numbers of parts in the multipart upload. Part i (from 1) is
// numbered in a slot of slotWidth numbers of its own, at a digit drawn
// when it is sent, for the first slottedParts parts; after them, one
// number a part. So 1,900 parts fit S3's 10,000 part numbers; parts after
// slottedParts are largePartFactor times PartSize, when a chunk brings
// that much.
const (
	slotWidth       = 10
	slottedParts    = 900
	maxSlottedParts = slottedParts + maxParts - slottedParts*slotWidth
	largePartFactor = 4
)

// partNumber is the part number of part i (from 1) at slot digit slot.
func partNumber(i int32, slot int) int32 {
	if i <= slottedParts {
		return (i-1)*slotWidth + 1 + int32(slot)
	}
	return slottedParts*slotWidth + i - slottedParts
}

// slot returns the slot digit of part i of s (0 past slottedParts).
func (s uploadState) slot(i int32) int {
	if i > slottedParts {
		return 0
	}
	return int(s.Slots[i-1] - '0')
}

// maxChunkParts is the most parts a chunked upload may have, with one
// left for the tail.
func (b *Blobs) maxChunkParts() int32 {
	if b.opts.PartsInMultipart {
		return maxSlottedParts - 1
	}
	return maxParts - 1
}

// partSize is the size of part i of a chunked upload: PartSize, and in
// the multipart upload largePartFactor times it past slottedParts.
func (b *Blobs) partSize(i int32) int64 {
	if b.opts.PartsInMultipart && i > slottedParts {
		return largePartFactor * b.opts.PartSize
	}
	return b.opts.PartSize
}

// writePart adds body as the next part of st, where
// BlobsOptions.PartsInMultipart says.
func (b *Blobs) writePart(ctx context.Context, id string, st *uploadState, body []byte) error {
	if st.Parts >= b.maxChunkParts() {
		return fmt.Errorf("%w: a chunked upload holds at most %d parts of %d to %d MiB here, and the tail",
			store.ErrTooLarge, b.maxChunkParts(), MinPartSize>>20, b.partSize(b.maxChunkParts())>>20)
	}
	if b.opts.PartsInMultipart {
		return b.sendPart(ctx, id, st, body)
	}
	return b.stagePart(ctx, id, st, body)
}

// partPrefix is the prefix of upload id's staged parts.
func partPrefix(id string) string { return stagingPrefix(id) + "p/" }

// partKey is the key of staged part n of upload id, whose bytes have
// SHA-256 sum, after parts whose chain hash is prev.
func partKey(id string, n int32, prev, sum []byte) string {
	return fmt.Sprintf("%s%05d-%x-%x", partPrefix(id), n, prev, sum)
}

// stagePart writes body as the next part of st (one PutObject, whose
// checksum S3 verifies, so the key's SHA-256 is the object's).
func (b *Blobs) stagePart(ctx context.Context, id string, st *uploadState, body []byte) error {
	sum := sha256.Sum256(body)
	n := st.Parts + 1
	if err := b.putObject(ctx, partKey(id, n, st.Chain, sum[:]), body, false); err != nil {
		return fmt.Errorf("stage part %d: %w", n, err)
	}
	st.Parts, st.PartBytes, st.Chain = n, st.PartBytes+int64(len(body)), nextChain(st.Chain, sum[:])
	return nil
}

// sendPart sends body as the next part of st into its multipart upload
// (one UploadPart, whose checksum S3 verifies; before the first part, one
// CreateMultipartUpload).
func (b *Blobs) sendPart(ctx context.Context, id string, st *uploadState, body []byte) error {
	if st.MPU == "" {
		nonce := randid.Hex(8)
		out, err := b.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
			Bucket: &b.bucket, Key: aws.String(assembledKey(id, nonce)), ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
		})
		if err != nil {
			return fmt.Errorf("start multipart upload: %w", err)
		}
		st.MPU, st.Nonce = aws.ToString(out.UploadId), nonce
	}
	i, slot := st.Parts+1, 0
	if i <= slottedParts {
		slot = mathrand.IntN(slotWidth)
	}
	p, err := b.uploadPart(ctx, assembledKey(id, st.Nonce), st.MPU, partNumber(i, slot), body)
	if err != nil {
		// A multipart upload that is gone was finished or canceled
		// meanwhile: a lost race.
		return lostToRacer(notFound(err))
	}
	sum, _ := base64.StdEncoding.DecodeString(p.SHA256)
	st.Parts, st.PartBytes, st.Chain = i, st.PartBytes+p.Size, nextChain(st.Chain, sum)
	if i <= slottedParts {
		st.Slots += strconv.Itoa(slot)
	}
	return nil
}

// commitStaged completes a multipart upload at key (blob d's) of the
// staged parts of st and its tail: a listing of the staging, an
// UploadPartCopy a part, CompleteMultipartUpload (If-None-Match), and the
// staging deleted.
func (b *Blobs) commitStaged(ctx context.Context, id, key string, st uploadState) error {
	parts, staging, err := b.chainParts(ctx, id, st)
	if err != nil {
		return err
	}
	out, err := b.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: &b.bucket, Key: &key, ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
	})
	if err != nil {
		return fmt.Errorf("assemble upload %s: %w", id, err)
	}
	mpu := aws.ToString(out.UploadId)
	err = b.copyParts(ctx, key, mpu, parts)
	if err == nil {
		parts, err = b.addTail(ctx, id, key, mpu, st, parts, st.Parts+1)
	}
	if err := b.completeOrAbort(ctx, key, mpu, parts, err); err != nil {
		return fmt.Errorf("assemble upload %s: %w", id, err)
	}
	b.deleteKeys(ctx, staging)
	return nil
}

// addTail adds the tail of st to multipart upload mpu of key as part n
// (an UploadPartCopy of one staged chunk, or an UploadPart of the tail
// read back), after parts.
func (b *Blobs) addTail(ctx context.Context, id, key, mpu string, st uploadState, parts []part, n int32) ([]part, error) {
	switch len(st.Tail) {
	case 0:
		return parts, nil
	case 1:
		t := st.Tail[0]
		one := []part{{N: n, Src: tailPrefix(id) + t.Name, SHA256: base64.StdEncoding.EncodeToString(t.SHA256)}}
		if err := b.copyParts(ctx, key, mpu, one); err != nil {
			return nil, fmt.Errorf("last part: %w", err)
		}
		return append(parts, one[0]), nil
	}
	body, err := b.readTail(ctx, id, st.Tail, 0)
	if err != nil {
		return nil, err
	}
	p, err := b.uploadPart(ctx, key, mpu, n, body)
	if err != nil {
		return nil, fmt.Errorf("last part: %w", err)
	}
	return append(parts, p), nil
}

// chainParts lists the staging of upload id and returns the keys of the
// parts that state st records, in order, and every staged key. A part
// that is not there (the staging was deleted by a concurrent Commit or
// Abort) is store.ErrNotFound.
func (b *Blobs) chainParts(ctx context.Context, id string, st uploadState) ([]part, []string, error) {
	type stagedPart struct {
		key       string
		n         int32
		prev, sum []byte
	}
	byChain := map[string]stagedPart{}
	keys, err := b.stagingKeys(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	for _, key := range keys {
		name, ok := strings.CutPrefix(key, partPrefix(id))
		fields := strings.Split(name, "-")
		if !ok || len(fields) != 3 {
			continue
		}
		n, err := strconv.ParseInt(fields[0], 10, 32)
		s := stagedPart{key: key, n: int32(n)}
		s.prev, _ = hex.DecodeString(fields[1])
		s.sum, _ = hex.DecodeString(fields[2])
		if err != nil || len(s.sum) != sha256.Size {
			continue
		}
		byChain[string(nextChain(s.prev, s.sum))] = s
	}
	parts := make([]part, st.Parts)
	chain := st.Chain
	for i := st.Parts; i > 0; i-- {
		s, ok := byChain[string(chain)]
		if !ok || s.n != i {
			return nil, nil, fmt.Errorf("upload %s: part %d is not staged: %w", id, i, store.ErrNotFound)
		}
		parts[i-1] = part{N: i, Src: s.key, SHA256: base64.StdEncoding.EncodeToString(s.sum)}
		chain = s.prev
	}
	if len(chain) != 0 {
		return nil, nil, fmt.Errorf("upload %s: the parts do not chain: %w", id, store.ErrConflict)
	}
	return parts, keys, nil
}

// assembleMultipart completes the multipart upload of st at its
// assembled key: the parts of st (listed, and checked against its chain)
// and its tail.
func (b *Blobs) assembleMultipart(ctx context.Context, id string, st uploadState) error {
	key := assembledKey(id, st.Nonce)
	parts, err := b.stateParts(ctx, id, st)
	if err != nil {
		return err
	}
	parts, err = b.addTail(ctx, id, key, st.MPU, st, parts, partNumber(st.Parts+1, mathrand.IntN(slotWidth)))
	if err == nil {
		err = b.completeMultipart(ctx, key, st.MPU, parts)
	}
	if err != nil {
		return fmt.Errorf("assemble upload %s: %w", id, notFound(err))
	}
	return nil
}

// stateParts lists the parts of st's multipart upload and returns those
// of st, in order: part i at its number (partNumber, st's slot digit),
// whose SHA-256s, as S3 lists them, must make st's chain, and whose sizes
// st's PartBytes. A part replaced by a racing request is
// store.ErrConflict; a multipart upload that is gone (completed by a
// concurrent Commit, or aborted) store.ErrNotFound.
func (b *Blobs) stateParts(ctx context.Context, id string, st uploadState) ([]part, error) {
	listed := map[int32]types.Part{}
	p := s3.NewListPartsPaginator(b.client, &s3.ListPartsInput{Bucket: &b.bucket, Key: aws.String(assembledKey(id, st.Nonce)), UploadId: &st.MPU})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list parts of upload %s: %w", id, notFound(err))
		}
		for _, lp := range page.Parts {
			listed[aws.ToInt32(lp.PartNumber)] = lp
		}
	}
	parts := make([]part, st.Parts)
	var chain []byte
	var size int64
	for i := int32(1); i <= st.Parts; i++ {
		n := partNumber(i, st.slot(i))
		lp, ok := listed[n]
		sum, _ := base64.StdEncoding.DecodeString(aws.ToString(lp.ChecksumSHA256))
		if !ok || len(sum) != sha256.Size {
			return nil, fmt.Errorf("upload %s: part %d (number %d) is not there: %w", id, i, n, store.ErrConflict)
		}
		chain = nextChain(chain, sum)
		size += aws.ToInt64(lp.Size)
		parts[i-1] = part{N: n, ETag: aws.ToString(lp.ETag), SHA256: aws.ToString(lp.ChecksumSHA256), Size: aws.ToInt64(lp.Size)}
	}
	if !bytes.Equal(chain, st.Chain) || size != st.PartBytes {
		return nil, fmt.Errorf("upload %s: its parts were replaced by racing requests: %w", id, store.ErrConflict)
	}
	return parts, nil
}
