// Package metrics records how Pier is used: each request by kind (pull,
// push, upload, ...) with its status, latency, bytes and the S3 and
// DynamoDB requests it made, each garbage collection run and each copy of
// a large upload into place. Two outputs take the same records:
// CloudWatch Embedded Metric Format lines (EMF, what the Lambda functions
// write to stdout, which CloudWatch Logs turns into metrics without an
// AWS request) and the Prometheus text format (Prometheus, what `pier
// serve` offers on its metrics address).
package metrics

import "time"

// Kinds of request, as internal/httpapi derives them from the route.
const (
	KindPull      = "pull"      // GET or HEAD of a manifest or a blob
	KindPush      = "push"      // PUT of a manifest
	KindUpload    = "upload"    // a blob upload: start, chunk, status, finish, cancel
	KindDelete    = "delete"    // DELETE of a manifest or a blob
	KindReferrers = "referrers" // the referrers API
	KindTags      = "tags"      // a tag list
	KindCatalog   = "catalog"   // the repository list
	KindToken     = "token"     // the token endpoint (logins)
	KindSite      = "site"      // a file of a site, under /sites/
	KindPing      = "ping"      // GET /v2/ and the extension discovery
	KindOther     = "other"     // a path or method of no endpoint
)

// Kinds lists every kind, in the order dashboards show them.
var Kinds = []string{KindPull, KindPush, KindUpload, KindDelete, KindReferrers, KindTags, KindCatalog, KindToken, KindSite, KindPing, KindOther}

// Request is one request served.
type Request struct {
	// Kind is one of Kinds.
	Kind string
	// Status is the HTTP status of the answer.
	Status int
	// Duration is the time from the request's arrival to its answer.
	Duration time.Duration
	// BytesIn and BytesOut are the body bytes read from the request and
	// written in the answer (a blob pulled through a redirect to S3 is
	// not among them: S3 sends it).
	BytesIn, BytesOut int64
	// S3 and DynamoDB count the requests made to each while serving it.
	S3, DynamoDB int
}

// Upload copy outcomes: what became of the copy of a large upload into
// its blob's place when the upload finished.
const (
	// CopyInTime: copied within the copy budget.
	CopyInTime = "in_time"
	// CopyBackground: past the budget, the copy went on in the
	// background of the process (pier serve).
	CopyBackground = "background"
	// CopyLeftForGC: past the budget on Lambda, where nothing runs after
	// the answer: the blob is served from where it was assembled until
	// garbage collection copies it.
	CopyLeftForGC = "left_for_gc"
	// CopyFailed: the copy failed.
	CopyFailed = "failed"
)

// CopyOutcomes lists every upload copy outcome.
var CopyOutcomes = []string{CopyInTime, CopyBackground, CopyLeftForGC, CopyFailed}

// GCRun is the outcome of one garbage collection run.
type GCRun struct {
	// Failed is set when the run ended with an error (what it did is
	// counted all the same).
	Failed bool
	// Deleted and Freed are the blobs deleted and their bytes.
	Deleted int
	Freed   int64
	// Marked are the blobs marked for deletion by a later run.
	Marked int
	// Expired are the expired upload sessions ended.
	Expired int
	// LeftoverBytes are the bytes of upload leftovers deleted.
	LeftoverBytes int64
	// Duration is how long the run took.
	Duration time.Duration
}

// Recorder takes what Pier reports. Its methods are safe for concurrent
// use.
type Recorder interface {
	Request(Request)
	UploadCopy(outcome string)
	GC(GCRun)
}

// Multi returns a Recorder that passes each record to every non-nil
// recorder of rs; nil when there is none.
func Multi(rs ...Recorder) Recorder {
	var m multi
	for _, r := range rs {
		if r != nil {
			m = append(m, r)
		}
	}
	switch len(m) {
	case 0:
		return nil
	case 1:
		return m[0]
	}
	return m
}

type multi []Recorder

func (m multi) Request(r Request) {
	for _, x := range m {
		x.Request(r)
	}
}

func (m multi) UploadCopy(outcome string) {
	for _, x := range m {
		x.UploadCopy(outcome)
	}
}

func (m multi) GC(g GCRun) {
	for _, x := range m {
		x.GC(g)
	}
}
