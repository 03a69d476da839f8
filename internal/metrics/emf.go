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
// CloudWatch.
type EMF struct {
	mu        sync.Mutex
	w         io.Writer
	namespace string
	now       func() time.Time
}

// NewEMF returns an EMF writing to w in namespace (DefaultNamespace
// when "").
func NewEMF(w io.Writer, namespace string) *EMF {
	if namespace == "" {
		namespace = DefaultNamespace
	}
	return &EMF{w: w, namespace: namespace, now: time.Now}
}

type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

type emfMeta struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

// write writes one line: values (metric values and dimension values, by
// name) with the directives that publish defs.
func (e *EMF) write(defs []Metric, values map[string]any) {
	// One directive per distinct dimension sets, in the order of defs.
	var dirs []emfDirective
	for _, m := range defs {
		i := 0
		for i < len(dirs) && !sameSets(dirs[i].Dimensions, m.Dimensions) {
			i++
		}
		if i == len(dirs) {
			dirs = append(dirs, emfDirective{Namespace: e.namespace, Dimensions: m.Dimensions})
		}
		dirs[i].Metrics = append(dirs[i].Metrics, emfMetric{Name: m.Name, Unit: m.Unit})
	}
	values["_aws"] = emfMeta{Timestamp: e.now().UnixMilli(), CloudWatchMetrics: dirs}
	line, err := json.Marshal(values)
	if err != nil {
		return // values are numbers and strings: cannot happen
	}
	line = append(line, '\n')
	e.mu.Lock()
	defer e.mu.Unlock()
	e.w.Write(line) // a metric lost to a failed write is not worth failing for
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

// Request writes the line of one request. Its Status is a property of the
// line (searchable in CloudWatch Logs Insights), not a dimension: a
// dimension per status would make a metric per status and kind.
func (e *EMF) Request(r Request) {
	e.write(requestEMF, map[string]any{
		DimensionKind:      r.Kind,
		"Status":           strconv.Itoa(r.Status),
		"Requests":         1,
		"ClientErrors":     b2i(r.Status >= 400 && r.Status < 500),
		"ServerErrors":     b2i(r.Status >= 500),
		"Latency":          float64(r.Duration.Microseconds()) / 1000,
		"BytesIn":          r.BytesIn,
		"BytesOut":         r.BytesOut,
		"S3Requests":       r.S3,
		"DynamoDBRequests": r.DynamoDB,
	})
}

// UploadCopy writes the line of one upload copy.
func (e *EMF) UploadCopy(outcome string) {
	e.write(copyEMF, map[string]any{DimensionOutcome: outcome, "UploadCopies": 1})
}

// GC writes the line of one garbage collection run.
func (e *EMF) GC(g GCRun) {
	e.write(gcEMF, map[string]any{
		"GCRuns":           1,
		"GCFailures":       b2i(g.Failed),
		"GCBlobsDeleted":   g.Deleted,
		"GCBytesFreed":     g.Freed,
		"GCBlobsMarked":    g.Marked,
		"GCExpiredUploads": g.Expired,
		"GCLeftoverBytes":  g.LeftoverBytes,
		"GCDurationMs":     float64(g.Duration.Microseconds()) / 1000,
	})
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
