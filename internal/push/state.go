package push

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// uploadState is an upload under way, kept on disk so that a later push
// of the same blob to the same repository continues it instead of
// sending every byte again.
type uploadState struct {
	Location string `json:"location"`
	Size     int64  `json:"size"`
	// Direct: a direct upload of parts of PartSize bytes; else a chunked
	// upload with the chunk limits Min and Max.
	Direct   bool  `json:"direct,omitempty"`
	PartSize int64 `json:"partSize,omitempty"`
	Min      int64 `json:"min,omitempty"`
	Max      int64 `json:"max,omitempty"`
}

// states keeps upload states in a directory, a file per repository and
// blob, readable by the user alone (an upload location may be a
// capability). With no directory it keeps nothing.
type states struct{ dir string }

func (s states) file(repo name.Repository, d v1.Hash) string {
	h := sha256.Sum256([]byte(repo.Name() + "@" + d.String()))
	return filepath.Join(s.dir, hex.EncodeToString(h[:16])+".json")
}

// load returns the state of the upload of d to repo, if one is kept.
func (s states) load(repo name.Repository, d v1.Hash) (uploadState, bool) {
	var st uploadState
	if s.dir == "" {
		return st, false
	}
	b, err := os.ReadFile(s.file(repo, d))
	if err != nil || json.Unmarshal(b, &st) != nil || st.Location == "" {
		return st, false
	}
	return st, true
}

// save keeps st. A state that cannot be kept only loses the resume of a
// later push, so the error is not the push's.
func (s states) save(repo name.Repository, d v1.Hash, st uploadState) {
	if s.dir == "" {
		return
	}
	b, _ := json.Marshal(st)
	if os.MkdirAll(s.dir, 0o700) != nil {
		return
	}
	tmp := s.file(repo, d) + ".tmp"
	if os.WriteFile(tmp, b, 0o600) == nil {
		os.Rename(tmp, s.file(repo, d))
	}
}

// drop forgets the upload of d to repo.
func (s states) drop(repo name.Repository, d v1.Hash) {
	if s.dir != "" {
		os.Remove(s.file(repo, d))
	}
}
