package metrics

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// LatencyBuckets are the upper bounds, in seconds, of the buckets of the
// request duration histogram.
var LatencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Prometheus keeps counters of what it is told since the process started
// and writes them in the Prometheus text exposition format (version
// 0.0.4).
type Prometheus struct {
	mu       sync.Mutex
	requests map[[2]string]int64 // kind, status
	bytesIn  map[string]int64
	bytesOut map[string]int64
	backend  map[[2]string]int64 // kind, service
	latency  map[string]*histogram
	copies   map[string]int64
	gc       map[string]float64 // metric name (without pier_gc_) to value
}

type histogram struct {
	counts []int64 // per bucket, not cumulative; the last is +Inf
	sum    float64
	n      int64
}

// NewPrometheus returns an empty Prometheus.
func NewPrometheus() *Prometheus {
	return &Prometheus{
		requests: map[[2]string]int64{}, bytesIn: map[string]int64{}, bytesOut: map[string]int64{},
		backend: map[[2]string]int64{}, latency: map[string]*histogram{}, copies: map[string]int64{},
		gc: map[string]float64{},
	}
}

// Request counts one request.
func (p *Prometheus) Request(r Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests[[2]string{r.Kind, strconv.Itoa(r.Status)}]++
	p.bytesIn[r.Kind] += r.BytesIn
	p.bytesOut[r.Kind] += r.BytesOut
	if r.S3 > 0 {
		p.backend[[2]string{r.Kind, "s3"}] += int64(r.S3)
	}
	if r.DynamoDB > 0 {
		p.backend[[2]string{r.Kind, "dynamodb"}] += int64(r.DynamoDB)
	}
	h := p.latency[r.Kind]
	if h == nil {
		h = &histogram{counts: make([]int64, len(LatencyBuckets)+1)}
		p.latency[r.Kind] = h
	}
	s := r.Duration.Seconds()
	i, _ := slices.BinarySearch(LatencyBuckets, s) // first bound >= s
	h.counts[i]++
	h.sum += s
	h.n++
}

// UploadCopy counts one upload copy.
func (p *Prometheus) UploadCopy(outcome string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.copies[outcome]++
}

// GC counts one garbage collection run.
func (p *Prometheus) GC(g GCRun) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gc["runs_total"]++
	if g.Failed {
		p.gc["failures_total"]++
	}
	p.gc["blobs_deleted_total"] += float64(g.Deleted)
	p.gc["freed_bytes_total"] += float64(g.Freed)
	p.gc["blobs_marked_total"] += float64(g.Marked)
	p.gc["expired_uploads_total"] += float64(g.Expired)
	p.gc["leftover_bytes_total"] += float64(g.LeftoverBytes)
	p.gc["duration_seconds_total"] += g.Duration.Seconds()
}

// gcHelp says what each gc counter measures, in the order written.
var gcHelp = [][2]string{
	{"runs_total", "Garbage collection runs."},
	{"failures_total", "Garbage collection runs that failed."},
	{"blobs_deleted_total", "Blobs deleted by garbage collection."},
	{"freed_bytes_total", "Bytes of the blobs deleted by garbage collection."},
	{"blobs_marked_total", "Blobs marked for deletion by a later run."},
	{"expired_uploads_total", "Expired upload sessions ended."},
	{"leftover_bytes_total", "Bytes of upload leftovers deleted."},
	{"duration_seconds_total", "Time spent collecting garbage."},
}

// WriteTo writes every metric in the text exposition format.
func (p *Prometheus) WriteTo(w io.Writer) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cw := &countingWriter{w: bufio.NewWriter(w)}
	family(cw, "pier_requests_total", "counter", "Requests served, by kind and HTTP status.")
	for _, k := range sortedKeys(p.requests) {
		fmt.Fprintf(cw, "pier_requests_total{kind=%q,status=%q} %d\n", k[0], k[1], p.requests[k])
	}
	family(cw, "pier_request_duration_seconds", "histogram", "Time from a request's arrival to its answer, by kind.")
	for _, kind := range sortedKeys(p.latency) {
		h := p.latency[kind]
		var cum int64
		for i, c := range h.counts {
			cum += c
			le := "+Inf"
			if i < len(LatencyBuckets) {
				le = strconv.FormatFloat(LatencyBuckets[i], 'g', -1, 64)
			}
			fmt.Fprintf(cw, "pier_request_duration_seconds_bucket{kind=%q,le=%q} %d\n", kind, le, cum)
		}
		fmt.Fprintf(cw, "pier_request_duration_seconds_sum{kind=%q} %s\n", kind, formatFloat(h.sum))
		fmt.Fprintf(cw, "pier_request_duration_seconds_count{kind=%q} %d\n", kind, h.n)
	}
	family(cw, "pier_request_body_bytes_total", "counter", "Request body bytes read, by kind.")
	for _, k := range sortedKeys(p.bytesIn) {
		fmt.Fprintf(cw, "pier_request_body_bytes_total{kind=%q} %d\n", k, p.bytesIn[k])
	}
	family(cw, "pier_response_body_bytes_total", "counter", "Answer body bytes written, by kind (blobs pulled through a redirect go from S3).")
	for _, k := range sortedKeys(p.bytesOut) {
		fmt.Fprintf(cw, "pier_response_body_bytes_total{kind=%q} %d\n", k, p.bytesOut[k])
	}
	family(cw, "pier_backend_requests_total", "counter", "S3 and DynamoDB requests made while serving, by request kind and service.")
	for _, k := range sortedKeys(p.backend) {
		fmt.Fprintf(cw, "pier_backend_requests_total{kind=%q,service=%q} %d\n", k[0], k[1], p.backend[k])
	}
	family(cw, "pier_upload_copies_total", "counter", "Copies of large uploads into their blob's place, by outcome (in_time, background, left_for_gc, failed).")
	for _, k := range sortedKeys(p.copies) {
		fmt.Fprintf(cw, "pier_upload_copies_total{outcome=%q} %d\n", k, p.copies[k])
	}
	for _, m := range gcHelp {
		name := "pier_gc_" + m[0]
		family(cw, name, "counter", m[1])
		fmt.Fprintf(cw, "%s %s\n", name, formatFloat(p.gc[m[0]]))
	}
	err := cw.w.(*bufio.Writer).Flush()
	if err == nil {
		err = cw.err
	}
	return cw.n, err
}

// ServeHTTP answers a scrape.
func (p *Prometheus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	p.WriteTo(w)
}

func family(w io.Writer, name, typ, help string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// sortedKeys returns the keys of m in order, so that scrapes are stable.
func sortedKeys[K interface{ ~string | ~[2]string }, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b K) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	return keys
}

type countingWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}
