package registry

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/opencontainers/go-digest"
)

// hashes are the running hashes of an upload, one per digest algorithm
// Pier accepts: the algorithm is known only when the upload is finished.
//
// Their state also keeps whether the upload's last chunk was shorter than
// the registry's OCI-Chunk-Min-Length (short): such a chunk must be the
// last one.
type hashes struct {
	sha256 hash.Hash
	sha512 hash.Hash
	short  bool
}

func newHashes() *hashes {
	return &hashes{sha256: sha256.New(), sha512: sha512.New()}
}

// restoreHashes returns the hashes whose state marshalHashes wrote into b.
func restoreHashes(b []byte) (*hashes, error) {
	h := newHashes()
	for _, x := range []hash.Hash{h.sha256, h.sha512} {
		if len(b) < 4 {
			return nil, errors.New("restore upload hash: state is cut short")
		}
		n := binary.BigEndian.Uint32(b)
		b = b[4:]
		if uint32(len(b)) < n {
			return nil, errors.New("restore upload hash: state is cut short")
		}
		if err := x.(encoding.BinaryUnmarshaler).UnmarshalBinary(b[:n]); err != nil {
			return nil, fmt.Errorf("restore upload hash: %w", err)
		}
		b = b[n:]
	}
	switch {
	case len(b) == 1 && b[0] == 1:
		h.short = true
	case len(b) != 0:
		return nil, errors.New("restore upload hash: state has trailing bytes")
	}
	return h, nil
}

// marshal returns the hashes' state, for restoreHashes.
func (h *hashes) marshal() []byte {
	var out []byte
	for _, x := range []hash.Hash{h.sha256, h.sha512} {
		s, err := x.(encoding.BinaryMarshaler).MarshalBinary()
		if err != nil {
			panic(err) // the standard library's hashes always marshal
		}
		out = binary.BigEndian.AppendUint32(out, uint32(len(s)))
		out = append(out, s...)
	}
	if h.short {
		out = append(out, 1)
	}
	return out
}

// writer feeds both hashes.
func (h *hashes) writer() io.Writer { return io.MultiWriter(h.sha256, h.sha512) }

// digest returns the digest of what was written, in algorithm a.
func (h *hashes) digest(a digest.Algorithm) (digest.Digest, bool) {
	switch a {
	case digest.SHA256:
		return digest.NewDigest(a, h.sha256), true
	case digest.SHA512:
		return digest.NewDigest(a, h.sha512), true
	}
	return "", false
}
