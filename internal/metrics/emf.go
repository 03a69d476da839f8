package metrics

import (
	"encoding/json"
	"io"
	"strconv"
	"sync"
	"time"
)

// DefaultNamespace is the CloudWatch namespace of the metrics when the
// configuration names none.
const DefaultNamespace = "Pier"

// Metric is a CloudWatch metric the EMF output defines.
type Metric struct {
	// Name is the metric's name in its namespace.
	Name string
	// Unit is its CloudWatch unit.
	Unit string
	// Dimensions are the dimension sets it is published with: each a
	// list of dimension names; an empty set is the metric over all
	// values of every dimension.
	Dimensions [][]string
	// Help says what it measures.
	Help string
}

// Dimension names of the EMF output.
const (
	DimensionKind    = "Kind"
	DimensionOutcome = "Outcome"
)

var (
	byKind     = [][]string{{DimensionKind}}
	byKindAll  = [][]string{{DimensionKind}, {}}
	overall    = [][]string{{}}
	byOutcome  = [][]string{{DimensionOutcome}}
	requestEMF = []Metric{
		{"Requests", "Count", byKindAll, "requests served"},
		{"ClientErrors", "Count", byKind, "requests answered 4xx"},
		{"ServerErrors", "Count", byKindAll, "requests answered 5xx"},
		{"Latency", "Milliseconds", byKindAll, "time from a request's arrival to its answer"},
		{"BytesIn", "Bytes", byKind, "request body bytes read"},
		{"BytesOut", "Bytes", byKind, "answer body bytes written (blobs pulled through a redirect go from S3)"},
		{"S3Requests", "Count", byKindAll, "S3 requests made while serving"},
		{"DynamoDBRequests", "Count", byKindAll, "DynamoDB requests made while serving"},
	}
	copyEMF = []Metric{
		{"UploadCopies", "Count", byOutcome, "copies of large uploads into their blob's place, by outcome"},
	}
	gcEMF = []Metric{
		{"GCRuns", "Count", overall, "garbage collection runs"},
		{"GCFailures", "Count", overall, "garbage collection runs that failed"},
		{"GCBlobsDeleted", "Count", overall, "blobs deleted by garbage collection"},
		{"GCBytesFreed", "Bytes", overall, "bytes of the blobs deleted by garbage collection"},
		{"GCBlobsMarked", "Count", overall, "blobs marked for deletion by a later run"},
		{"GCExpiredUploads", "Count", overall, "expired upload sessions ended"},
		{"GCLeftoverBytes", "Bytes", overall, "bytes of upload leftovers deleted"},
	}
)

// EMFMetrics lists every metric the EMF output writes.
func EMFMetrics() []Metric {
	return append(append(append([]Metric(nil), requestEMF...), copyEMF...), gcEMF...)
}

// EMF writes one CloudWatch Embedded Metric Format line per record: one
// JSON object whose _aws member tells CloudWatch Logs which of its
// members are metrics, in which namespace, with which dimensions. On
// Lambda, lines written to stdout become metrics with no request to
// CloudWatch. The directives of each kind of line are encoded once, by
// NewEMF; a line costs a few appends (no reflection on a cold start's
// first request).
type EMF struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
	buf []byte
	// The CloudWatchMetrics member of each kind of line.
	requestDirs, copyDirs, gcDirs []byte
}

// NewEMF returns an EMF writing to w in namespace (DefaultNamespace
// when "").
func NewEMF(w io.Writer, namespace string) *EMF {
	if namespace == "" {
		namespace = DefaultNamespace
	}
	return &EMF{w: w, now: time.Now,
		requestDirs: directives(namespace, requestEMF), copyDirs: directives(namespace, copyEMF), gcDirs: directives(namespace, gcEMF)}
}

type emfMetric struct{ Name, Unit string }

type emfDirective struct {
	Namespace  string
	Dimensions [][]string
	Metrics    []emfMetric
}

// directives returns the CloudWatchMetrics array that publishes defs in
// namespace: one directive per distinct dimension sets, in defs' order.
func directives(namespace string, defs []Metric) []byte {
	var dirs []emfDirective
	for _, m := range defs {
		i := 0
		for i < len(dirs) && !sameSets(dirs[i].Dimensions, m.Dimensions) {
			i++
		}
		if i == len(dirs) {
			dirs = append(dirs, emfDirective{Namespace: namespace, Dimensions: m.Dimensions})
		}
		dirs[i].Metrics = append(dirs[i].Metrics, emfMetric{Name: m.Name, Unit: m.Unit})
	}
	b := []byte{'['}
	for i, d := range dirs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"Namespace":`...)
		b = appendJSONString(b, d.Namespace)
		b = append(b, `,"Dimensions":[`...)
		for j, set := range d.Dimensions {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			for k, name := range set {
				if k > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, name)
			}
			b = append(b, ']')
		}
		b = append(b, `],"Metrics":[`...)
		for j, m := range d.Metrics {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"Name":`...)
			b = appendJSONString(b, m.Name)
			b = append(b, `,"Unit":`...)
			b = appendJSONString(b, m.Unit)
			b = append(b, '}')
		}
		b = append(b, "]}"...)
	}
	return append(b, ']')
}

func sameSets(a, b [][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if a[i][j] != b[i][j] {
				return false
			}
		}
	}
	return true
}

// field is a member of a line: a string or a number.
type field struct {
	name string
	str  string
	num  float64
	text bool
}

func str(name, v string) field                            { return field{name: name, str: v, text: true} }
func num[T int | int64 | float64](name string, v T) field { return field{name: name, num: float64(v)} }

// write writes one line: the _aws member with dirs, then fields.
func (e *EMF) write(dirs []byte, fields ...field) {
	e.mu.Lock()
	defer e.mu.Unlock()
	b := append(e.buf[:0], `{"_aws":{"Timestamp":`...)
	b = strconv.AppendInt(b, e.now().UnixMilli(), 10)
	b = append(b, `,"CloudWatchMetrics":`...)
	b = append(b, dirs...)
	b = append(b, '}')
	for _, f := range fields {
		b = append(b, ',')
		b = appendJSONString(b, f.name)
		b = append(b, ':')
		if f.text {
			b = appendJSONString(b, f.str)
		} else {
			b = strconv.AppendFloat(b, f.num, 'f', -1, 64)
		}
	}
	b = append(b, '}', '\n')
	e.buf = b
	e.w.Write(b) // a metric lost to a failed write is not worth failing for
}

// appendJSONString appends s as a JSON string: json.Marshal's encoding,
// for the rare value that strconv.AppendQuote would not encode as JSON.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			j, _ := json.Marshal(s)
			return append(b, j...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// Request writes the line of one request. Its Status is a property of the
// line (searchable in CloudWatch Logs Insights), not a dimension: a
// dimension per status would make a metric per status and kind.
func (e *EMF) Request(r Request) {
	e.write(e.requestDirs,
		str(DimensionKind, r.Kind),
		str("Status", strconv.Itoa(r.Status)),
		num("Requests", 1),
		num("ClientErrors", b2i(r.Status >= 400 && r.Status < 500)),
		num("ServerErrors", b2i(r.Status >= 500)),
		num("Latency", float64(r.Duration.Microseconds())/1000),
		num("BytesIn", r.BytesIn),
		num("BytesOut", r.BytesOut),
		num("S3Requests", r.S3),
		num("DynamoDBRequests", r.DynamoDB),
	)
}

// UploadCopy writes the line of one upload copy.
func (e *EMF) UploadCopy(outcome string) {
	e.write(e.copyDirs, str(DimensionOutcome, outcome), num("UploadCopies", 1))
}

// GC writes the line of one garbage collection run.
func (e *EMF) GC(g GCRun) {
	e.write(e.gcDirs,
		num("GCRuns", 1),
		num("GCFailures", b2i(g.Failed)),
		num("GCBlobsDeleted", g.Deleted),
		num("GCBytesFreed", g.Freed),
		num("GCBlobsMarked", g.Marked),
		num("GCExpiredUploads", g.Expired),
		num("GCLeftoverBytes", g.LeftoverBytes),
		num("GCDurationMs", float64(g.Duration.Microseconds())/1000),
	)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
