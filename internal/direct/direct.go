// Package direct holds the wire form of Pier's direct-to-S3 upload
// protocol (docs/direct-upload.md): the headers and the JSON body of an
// upload's part URLs. The server (package httpapi) writes it and the
// `pier push` client (package push) reads it, from this one definition.
package direct

import "time"

// The headers of the protocol.
const (
	// ModeHeader, set to Mode, asks for a direct upload (on the POST that
	// starts an upload) and says that a session is one (on its answers).
	ModeHeader = "Pier-Upload-Mode"
	// Mode is the value of ModeHeader for a direct upload.
	Mode = "direct"
	// LengthHeader is the blob's size, when the client knows it.
	LengthHeader = "Pier-Upload-Length"
	// DigestHeader is the blob's digest, when the client knows it (with
	// LengthHeader): the registry may then make the upload one PUT, whose
	// bytes the object store checks against the digest.
	DigestHeader = "Pier-Upload-Digest"
	// PartsHeader asks a GET of the upload for part URLs: "<first>-<last>",
	// part numbers, inclusive.
	PartsHeader = "Pier-Upload-Parts"
)

// MaxPartURLs is the most part URLs one answer hands out.
const MaxPartURLs = 64

// Session is the JSON body of the answer that starts a direct upload, and
// of a GET of its parts.
type Session struct {
	// PartSize is the size of every part but the last.
	PartSize int64 `json:"partSize"`
	// MinPartSize is the object store's smallest part but the last.
	MinPartSize int64 `json:"minPartSize"`
	// MaxParts is the object store's largest number of parts.
	MaxParts int `json:"maxParts"`
	// Expires is when the upload session ends.
	Expires time.Time `json:"expires"`
	// Digest is set when the upload is one PUT (part 1, of PartSize
	// bytes) that the object store checks against this digest: the
	// upload can be finished as this blob only.
	Digest string `json:"digest,omitempty"`
	// Parts are the URLs of the parts asked for.
	Parts []PartURL `json:"parts"`
	// Uploaded are the parts the object store holds (on a GET of parts).
	Uploaded []Uploaded `json:"uploaded,omitempty"`
}

// PartURL is the presigned URL that takes the bytes of one part (PUT),
// with the request headers of Header: they are signed with the URL, and
// the object store refuses the request without them.
type PartURL struct {
	Number  int               `json:"number"`
	URL     string            `json:"url"`
	Header  map[string]string `json:"header,omitempty"`
	Expires time.Time         `json:"expires"`
}

// Uploaded is a part the object store holds.
type Uploaded struct {
	Number int   `json:"number"`
	Size   int64 `json:"size"`
}
