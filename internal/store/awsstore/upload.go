package awsstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pier-registry/pier/internal/randid"
	"github.com/pier-registry/pier/internal/store"
)

// uploadState is the state of a chunked upload that WriteChunk returns
// (JSON, kept by the caller: in the upload session, or in the signed
// state of the upload's Location). It is small whatever the upload's
// size: the number of parts and a chain hash over their SHA-256s, where
// they are (staged objects, or a multipart upload with a slot digit a
// part: parts.go), and the staged chunks not yet in a part (the tail,
// under MinPartSize).
//
// A tail chunk is an object under a key of its own, never overwritten, so
// no request that loses a race, and no replay of an older state, can
// change the bytes of a tail that a state records; how the parts are kept
// safe from racers is in parts.go.
type uploadState struct {
	// Parts is the number of parts sent, PartBytes their bytes, and Chain
	// the chain hash of their SHA-256s (nextChain).
	Parts     int32  `json:"p,omitempty"`
	PartBytes int64  `json:"pb,omitempty"`
	Chain     []byte `json:"c,omitempty"`
	// MPU is the multipart upload at assembledKey(id, Nonce) that the
	// parts went to ("" before the first, and for staged parts), and
	// Slots the slot digit of each of its first slottedParts parts
	// (partNumber).
	MPU   string   `json:"m,omitempty"`
	Nonce string   `json:"n,omitempty"`
	Slots string   `json:"r,omitempty"`
	Tail  []staged `json:"t,omitempty"`
}

// staged is a chunk staged as an object of its own, at
// tailPrefix(id)+Name.
type staged struct {
	Name   string `json:"k"`
	Size   int64  `json:"s"`
	SHA256 []byte `json:"h"`
}

// maxTail is the most staged chunks a tail holds: a chunk that would
// make more is merged with them into one object.
const maxTail = 8

func (s uploadState) size() int64 { return s.PartBytes + s.tailSize() }

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
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("upload %s: bad state: %w", id, err)
	}
	for _, t := range s.Tail {
		if !validName(t.Name) || len(t.SHA256) != sha256.Size {
			return s, fmt.Errorf("upload %s: bad state: staged chunk %q", id, t.Name)
		}
	}
	slots := 0
	if s.MPU != "" {
		slots = int(min(s.Parts, slottedParts))
	}
	if s.Parts < 0 || s.Parts >= maxParts || s.Parts > 0 && len(s.Chain) != sha256.Size ||
		len(s.Slots) != slots || strings.Trim(s.Slots, "0123456789") != "" {
		return s, fmt.Errorf("upload %s: bad state: %d parts", id, s.Parts)
	}
	if s.MPU != "" && !validName(s.Nonce) {
		return s, fmt.Errorf("upload %s: bad state: nonce %q", id, s.Nonce)
	}
	return s, nil
}

// validName reports whether name is one segment of a key: 1 to 128 ASCII
// letters, digits, '-' and '_' (stage makes <offset>-<16 hex digits>).
func validName(name string) bool {
	if name == "" || len(name) > 128 {
		return false
	}
	for _, c := range []byte(name) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// stagingPrefix is the prefix of everything upload id stages; a bucket
// lifecycle rule expires what is left there.
func stagingPrefix(id string) string { return "uploads/" + id + "/" }

// tailPrefix is the prefix of upload id's staged tail chunks.
func tailPrefix(id string) string { return stagingPrefix(id) + "t/" }

// nextChain is the chain hash of parts whose chain hash is prev, followed
// by a part of SHA-256 sum.
func nextChain(prev, sum []byte) []byte {
	h := sha256.New()
	h.Write(prev)
	h.Write(sum)
	return h.Sum(nil)
}

// assembledKey is where the multipart upload of a chunked upload id's
// parts is completed, when they are sent into it (parts.go): a key of its
// own (nonce), since states forked from one (racing PATCHes, a replayed
// state) each make their own before their first part; outside the
// staging prefix, since a blob link may point there (Commit).
func assembledKey(id, nonce string) string { return "assembled/" + id + "-" + nonce }

// WriteChunk adds the bytes of r to upload id at offset. A chunk that
// leaves the tail under MinPartSize is staged as one object (one
// PutObject; when the tail holds maxTail chunks, they are read back and
// staged with it as one). Otherwise the tail is read back (one GetObject
// per staged chunk, each checked against its recorded SHA-256), and the
// tail and the chunk are written as parts of up to PartSize (writePart:
// one request each, with its SHA-256, which S3 checks); what is left
// under MinPartSize is staged as the new tail.
func (b *Blobs) WriteChunk(ctx context.Context, id string, state []byte, offset int64, r io.Reader) ([]byte, int64, error) {
	if err := store.CheckUploadID(id); err != nil {
		return nil, 0, err
	}
	st, err := decodeState(id, state)
	if err != nil {
		return nil, 0, err
	}
	if st.size() != offset {
		return nil, 0, fmt.Errorf("write chunk of upload %s: offset %d, but the upload holds %d bytes", id, offset, st.size())
	}
	st, n, err := b.writeChunk(ctx, id, st, r)
	if err != nil {
		return nil, 0, fmt.Errorf("write chunk of upload %s: %w", id, err)
	}
	return encodeState(st), n, nil
}

func (b *Blobs) writeChunk(ctx context.Context, id string, st uploadState, r io.Reader) (uploadState, int64, error) {
	tail := st.tailSize()
	head, err := readUpTo(r, MinPartSize-tail)
	if err != nil {
		return st, 0, err
	}
	n := int64(len(head))
	if tail+n < MinPartSize && len(st.Tail) < maxTail {
		if n > 0 {
			t, err := b.stage(ctx, id, st.size(), head)
			if err != nil {
				return st, 0, err
			}
			st.Tail = append(st.Tail, t)
		}
		return st, n, nil
	}

	// The tail and this chunk make a part, or more chunks than a tail
	// holds: both read the tail back.
	buf, err := b.readTail(ctx, id, st.Tail, int(b.partSize(st.Parts+1)))
	if err != nil {
		return st, 0, lostToRacer(err)
	}
	buf = append(buf, head...)
	if int64(len(buf)) < MinPartSize {
		t, err := b.stage(ctx, id, st.PartBytes, buf)
		if err != nil {
			return st, 0, err
		}
		st.Tail = []staged{t}
		return st, n, nil
	}
	st.Tail = nil
	for {
		partSize := b.partSize(st.Parts + 1)
		if int64(len(buf)) < partSize {
			more, err := readUpTo(r, partSize-int64(len(buf)))
			if err != nil {
				return st, 0, err
			}
			buf = append(buf, more...)
			n += int64(len(more))
		}
		if int64(len(buf)) < MinPartSize {
			break // the end of the chunk: the rest is the new tail
		}
		size := min(int64(len(buf)), partSize)
		if err := b.writePart(ctx, id, &st, buf[:size]); err != nil {
			return st, 0, err
		}
		buf = buf[size:]
	}
	if len(buf) > 0 {
		t, err := b.stage(ctx, id, st.PartBytes, buf)
		if err != nil {
			return st, 0, err
		}
		st.Tail = []staged{t}
	}
	return st, n, nil
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
	name := strconv.FormatInt(offset, 10) + "-" + randid.Hex(8)
	if err := b.putObject(ctx, tailPrefix(id)+name, body, false); err != nil {
		return staged{}, err
	}
	sum := sha256.Sum256(body)
	return staged{Name: name, Size: int64(len(body)), SHA256: sum[:]}, nil
}

// readTail reads the staged chunks of upload id back, checking each
// against its recorded size and SHA-256, into a buffer of capacity at
// least c.
func (b *Blobs) readTail(ctx context.Context, id string, tail []staged, c int) ([]byte, error) {
	buf := make([]byte, 0, c)
	for _, t := range tail {
		key := tailPrefix(id) + t.Name
		out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b.bucket, Key: &key})
		if err != nil {
			return nil, fmt.Errorf("read staged chunk %s: %w", key, notFound(err))
		}
		start := len(buf)
		var w bytes.Buffer
		_, err = io.Copy(&w, io.LimitReader(out.Body, t.Size+1))
		out.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("read staged chunk %s: %w", key, err)
		}
		buf = append(buf, w.Bytes()...)
		sum := sha256.Sum256(buf[start:])
		if int64(len(buf)-start) != t.Size || !bytes.Equal(sum[:], t.SHA256) {
			return nil, fmt.Errorf("staged chunk %s changed: %w", key, store.ErrConflict)
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

// part is a part of a multipart upload.
type part struct {
	N      int32
	ETag   string
	SHA256 string // base64, as S3 takes it; for a copy, "" takes S3's
	Size   int64
	// Src is the object a copied part is copied from, and Range ("" for
	// all of it) the bytes of it, as CopySourceRange takes them.
	Src, Range string
}
