package registry

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"

	"github.com/pier-registry/pier/internal/oci"
	"github.com/pier-registry/pier/internal/store"
)

// An upload's signed state carries everything a request needs to continue
// the upload (offset, hash state, blob store state, owner, expiry) in the
// upload's Location, so that a chunk costs no read or write of the
// session in the metadata store: it is
//
//	base64url(payload || HMAC-SHA256(key, id || 0 || repo || 0 || payload)[:16])
//
// with payload the version byte stateVersion, then as uvarints the
// expiry (Unix seconds) and the offset, then the owner, the hash state and
// the blob store state, each a uvarint length and its bytes. The id and
// repository are in the Location's path: they are signed, not repeated.
//
// A state is a capability for its upload alone: whoever holds it may
// continue the upload as its owner until it expires. A state may be
// replayed or forked (two chunks written on it): the blob store never lets
// one state's chunks change another's (store.Blobs.WriteChunk), and the
// registry finishes an upload once (its session is deleted).

// stateVersion is the first byte of a signed state's payload.
const stateVersion = 1

// stateMACSize is the length of a signed state's MAC: 128 bits.
const stateMACSize = 16

// maxStateLength bounds the signed state a request may carry.
const maxStateLength = 8 << 10

// stateKey derives the key that signs upload states from key (the token
// signing key), so that an upload state is never a valid token nor the
// reverse.
func stateKey(key []byte) []byte {
	if len(key) == 0 {
		return nil
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("pier upload state v1"))
	return m.Sum(nil)
}

// SignsState reports whether the registry carries upload states in their
// Locations (Options.UploadKey is set).
func (r *Registry) SignsState() bool { return r.stateKey != nil }

// openPutKey signs the states of direct uploads in one request
// (sessionless) on a registry without access control, which has no
// UploadKey. It is no secret: such a registry lets every caller push
// anything anywhere, and what such a state says is checked against the
// blob store at the finish (the blob is there, put by that upload, with
// the digest's checksum), so a state made up by a caller gets it nothing
// it could not do anyway. The key only makes a state that was cut or
// changed on the way unknown. openState takes no other state signed with
// it: a chunked upload's state is believed (its hash state, its staged
// parts), and must come from the registry.
var openPutKey = stateKey([]byte("pier: states of direct uploads in one request on a registry without access control"))

// keyFor is the key that signs upload u's state: the registry's, or on a
// registry without one, openPutKey for a sessionless upload; nil when u
// stands where its session says.
func (r *Registry) keyFor(u store.Upload) []byte {
	switch {
	case r.sessionless(u):
		if r.stateKey != nil {
			return r.stateKey
		}
		return openPutKey
	case r.stateKey == nil:
		return nil
	}
	if _, _, direct := r.direct(u); direct {
		// A direct upload's finish changes its session: it stands where
		// its session says.
		return nil
	}
	return r.stateKey
}

// sessionless reports whether upload u has no session: a direct upload
// in one request, whose state never changes (StartDirectUpload), stands
// where its signed state says, and its finish checks the blob store.
func (r *Registry) sessionless(u store.Upload) bool {
	_, info, ok := r.direct(u)
	return ok && info.Digest != ""
}

// State returns the signed state of upload u, for its Location; "" when
// u stands where its session says.
func (r *Registry) State(u store.Upload) string {
	key := r.keyFor(u)
	if key == nil {
		return ""
	}
	return signState(key, u)
}

// signState is upload u's state signed with key.
func signState(key []byte, u store.Upload) string {
	p := []byte{stateVersion}
	p = binary.AppendUvarint(p, uint64(max(u.Expires.Unix(), 0)))
	p = binary.AppendUvarint(p, uint64(u.Offset))
	for _, b := range [][]byte{[]byte(u.Owner), u.Hash, u.State} {
		p = binary.AppendUvarint(p, uint64(len(b)))
		p = append(p, b...)
	}
	return base64.RawURLEncoding.EncodeToString(append(p, stateMAC(key, u.ID, u.Repository, p)...))
}

func stateMAC(key []byte, id, repo string, payload []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{0})
	m.Write([]byte(repo))
	m.Write([]byte{0})
	m.Write(payload)
	return m.Sum(nil)[:stateMACSize]
}

var errBadState = errors.New("bad upload state")

// openState returns the upload that the signed state s of upload id of
// repo holds, unless it does not verify (errBadState). Expiry is not
// checked.
func (r *Registry) openState(repo, id, s string) (store.Upload, error) {
	key := r.stateKey
	if key == nil {
		key = openPutKey // a sessionless upload's only: checked below
	}
	if len(s) > maxStateLength {
		return store.Upload{}, errBadState
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 1+stateMACSize {
		return store.Upload{}, errBadState
	}
	p, mac := b[:len(b)-stateMACSize], b[len(b)-stateMACSize:]
	if !hmac.Equal(mac, stateMAC(key, id, repo, p)) || p[0] != stateVersion {
		return store.Upload{}, errBadState
	}
	p = p[1:]
	u := store.Upload{ID: id, Repository: repo}
	var nums [2]uint64
	for i := range nums {
		v, n := binary.Uvarint(p)
		if n <= 0 || v > 1<<62 {
			return store.Upload{}, errBadState
		}
		nums[i], p = v, p[n:]
	}
	u.Expires, u.Offset = time.Unix(int64(nums[0]), 0), int64(nums[1])
	var fields [3][]byte
	for i := range fields {
		l, n := binary.Uvarint(p)
		if n <= 0 || l > uint64(len(p)-n) {
			return store.Upload{}, errBadState
		}
		fields[i], p = p[n:n+int(l)], p[n+int(l):]
	}
	if len(p) != 0 {
		return store.Upload{}, errBadState
	}
	u.Owner, u.Hash, u.State = string(fields[0]), fields[1], fields[2]
	if r.stateKey == nil && !r.sessionless(u) {
		return store.Upload{}, errBadState
	}
	return u, nil
}

// stateUpload returns the upload that ref's signed state holds: a state
// that does not verify, is not for ref's upload or owner, or has expired
// is BLOB_UPLOAD_UNKNOWN.
func (r *Registry) stateUpload(ref UploadRef) (store.Upload, error) {
	if store.CheckUploadID(ref.ID) != nil {
		return store.Upload{}, uploadUnknown(ref)
	}
	u, err := r.openState(ref.Repo, ref.ID, ref.State)
	if err != nil || u.Owner != ref.Owner {
		return store.Upload{}, oci.Errorf(oci.CodeBlobUploadUnknown,
			"upload %s of %s: the state in its URL is not valid for this upload: continue it at the Location of its last response", ref.ID, ref.Repo)
	}
	if now := r.opts.Now(); !now.Before(u.Expires) {
		return store.Upload{}, oci.Errorf(oci.CodeBlobUploadUnknown,
			"upload %s of %s expired at %s: start a new upload", ref.ID, ref.Repo, u.Expires.UTC().Format(time.RFC3339))
	}
	return u, nil
}

// Capability returns the owner of upload id of repo whose signed state s
// is: a request that carries it may continue that upload, and nothing
// else, as that owner. ok is false when s does not verify for that upload
// (an expired state verifies: the registry refuses it).
func (r *Registry) Capability(repo, id, s string) (owner string, ok bool) {
	if store.CheckUploadID(id) != nil {
		return "", false
	}
	u, err := r.openState(repo, id, s)
	if err != nil {
		return "", false
	}
	return u.Owner, true
}
