package store

import (
	"fmt"

	"github.com/pier-registry/pier/internal/randid"
)

// UploadIDLength is the length of an upload id: 128 random bits as
// lower-case hex digits.
const UploadIDLength = 32

// NewUploadID returns a new random, unguessable upload id.
func NewUploadID() string { return randid.Hex(UploadIDLength / 2) }

// CheckUploadID returns an error unless id has the form of NewUploadID's
// ids: UploadIDLength lower-case hex digits. It is the one check of an
// upload id: the registry refuses another id before it looks anything up,
// and the blob stores refuse one before they make it a file name or an
// object key, so no id can name a path or key outside its upload's.
func CheckUploadID(id string) error {
	ok := len(id) == UploadIDLength
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = '0' <= c && c <= '9' || 'a' <= c && c <= 'f'
	}
	if !ok {
		if len(id) > 80 {
			id = id[:80] + "..."
		}
		return fmt.Errorf("invalid upload id %q: want %d lower-case hex digits", id, UploadIDLength)
	}
	return nil
}
