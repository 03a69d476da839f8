package metrics

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// emfLine is what CloudWatch reads of an EMF line.
type emfLine struct {
	AWS struct {
		Timestamp         int64 `json:"Timestamp"`
		CloudWatchMetrics []struct {
			Namespace  string     `json:"Namespace"`
			Dimensions [][]string `json:"Dimensions"`
			Metrics    []struct{ Name, Unit string }
		} `json:"CloudWatchMetrics"`
	} `json:"_aws"`
}

// published returns the metrics of an EMF line as CloudWatch would
// extract them: "namespace/name/dimension=value,..." to value.
func published(t *testing.T, line []byte) map[string]float64 {
	t.Helper()
	var meta emfLine
	var root map[string]any
	if err := json.Unmarshal(line, &meta); err != nil {
		t.Fatalf("EMF line %s: %v", line, err)
	}
	if err := json.Unmarshal(line, &root); err != nil {
		t.Fatal(err)
	}
	if meta.AWS.Timestamp == 0 || len(meta.AWS.CloudWatchMetrics) == 0 {
		t.Fatalf("EMF line without timestamp or directives: %s", line)
	}
	out := map[string]float64{}
	for _, d := range meta.AWS.CloudWatchMetrics {
		for _, set := range d.Dimensions {
			var dims []string
			for _, name := range set {
				v, ok := root[name].(string)
				if !ok {
					t.Fatalf("dimension %s is not a string member of %s", name, line)
				}
				dims = append(dims, name+"="+v)
			}
			for _, m := range d.Metrics {
				v, ok := root[m.Name].(float64)
				if !ok {
					t.Fatalf("metric %s is not a number member of %s", m.Name, line)
				}
				if m.Unit == "" {
					t.Errorf("metric %s has no unit", m.Name)
				}
				out[d.Namespace+"/"+m.Name+"/"+strings.Join(dims, ",")] = v
			}
		}
	}
	return out
}

func TestEMF(t *testing.T) {
	tests := []struct {
		name      string
		namespace string
		record    func(Recorder)
		want      map[string]float64
	}{
		{
			name:      "pull answered 200",
			namespace: "",
			record: func(r Recorder) {
				r.Request(Request{Kind: KindPull, Status: 200, Duration: 12500 * time.Microsecond, BytesOut: 512, S3: 1, DynamoDB: 2})
			},
			want: map[string]float64{
				"Pier/Requests/Kind=pull": 1, "Pier/Requests/": 1,
				"Pier/ServerErrors/Kind=pull": 0, "Pier/ServerErrors/": 0,
				"Pier/Latency/Kind=pull": 12.5, "Pier/Latency/": 12.5,
				"Pier/ClientErrors/Kind=pull": 0, "Pier/BytesIn/Kind=pull": 0, "Pier/BytesOut/Kind=pull": 512,
				"Pier/S3Requests/Kind=pull": 1, "Pier/DynamoDBRequests/Kind=pull": 2, "Pier/S3Requests/": 1, "Pier/DynamoDBRequests/": 2,
			},
		},
		{
			name:      "upload answered 503 in a namespace of the stack",
			namespace: "Pier/prod",
			record: func(r Recorder) {
				r.Request(Request{Kind: KindUpload, Status: 503, Duration: time.Millisecond, BytesIn: 4096})
			},
			want: map[string]float64{
				"Pier/prod/Requests/Kind=upload": 1, "Pier/prod/Requests/": 1,
				"Pier/prod/ServerErrors/Kind=upload": 1, "Pier/prod/ServerErrors/": 1,
				"Pier/prod/Latency/Kind=upload": 1, "Pier/prod/Latency/": 1,
				"Pier/prod/ClientErrors/Kind=upload": 0, "Pier/prod/BytesIn/Kind=upload": 4096, "Pier/prod/BytesOut/Kind=upload": 0,
				"Pier/prod/S3Requests/Kind=upload": 0, "Pier/prod/DynamoDBRequests/Kind=upload": 0, "Pier/prod/S3Requests/": 0, "Pier/prod/DynamoDBRequests/": 0,
			},
		},
		{
			name:   "token answered 401",
			record: func(r Recorder) { r.Request(Request{Kind: KindToken, Status: 401}) },
			want: map[string]float64{
				"Pier/Requests/Kind=token": 1, "Pier/Requests/": 1,
				"Pier/ServerErrors/Kind=token": 0, "Pier/ServerErrors/": 0,
				"Pier/Latency/Kind=token": 0, "Pier/Latency/": 0,
				"Pier/ClientErrors/Kind=token": 1, "Pier/BytesIn/Kind=token": 0, "Pier/BytesOut/Kind=token": 0,
				"Pier/S3Requests/Kind=token": 0, "Pier/DynamoDBRequests/Kind=token": 0, "Pier/S3Requests/": 0, "Pier/DynamoDBRequests/": 0,
			},
		},
		{
			name:      "a namespace and a value that JSON escapes",
			namespace: `Pier "quoted"`,
			record:    func(r Recorder) { r.UploadCopy("a\"b\\c\n\u00e9") },
			want:      map[string]float64{"Pier \"quoted\"/UploadCopies/Outcome=a\"b\\c\n\u00e9": 1},
		},
		{
			name:   "upload copy left for gc",
			record: func(r Recorder) { r.UploadCopy(CopyLeftForGC) },
			want:   map[string]float64{"Pier/UploadCopies/Outcome=left_for_gc": 1},
		},
		{
			name: "failed gc run",
			record: func(r Recorder) {
				r.GC(GCRun{Failed: true, Deleted: 3, Freed: 3000, Marked: 2, Expired: 1, LeftoverBytes: 10})
			},
			want: map[string]float64{
				"Pier/GCRuns/": 1, "Pier/GCFailures/": 1, "Pier/GCBlobsDeleted/": 3, "Pier/GCBytesFreed/": 3000,
				"Pier/GCBlobsMarked/": 2, "Pier/GCExpiredUploads/": 1, "Pier/GCLeftoverBytes/": 10,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.record(NewEMF(&buf, tt.namespace))
			lines := bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
			if len(lines) != 1 {
				t.Fatalf("%d lines, want 1:\n%s", len(lines), buf.String())
			}
			got := published(t, lines[0])
			if len(got) != len(tt.want) {
				t.Errorf("published %d metrics, want %d: %v", len(got), len(tt.want), got)
			}
			for k, v := range tt.want {
				if g, ok := got[k]; !ok || g != v {
					t.Errorf("%s = %v (published: %v), want %v", k, g, ok, v)
				}
			}
		})
	}
}

// TestEMFMetricsListed: every metric a line publishes is in EMFMetrics,
// with the same unit and dimensions (the template's dashboard is checked
// against EMFMetrics).
func TestEMFMetricsListed(t *testing.T) {
	var buf bytes.Buffer
	e := NewEMF(&buf, "")
	e.Request(Request{Kind: KindPush, Status: 201})
	e.UploadCopy(CopyInTime)
	e.GC(GCRun{})
	listed := map[string]Metric{}
	for _, m := range EMFMetrics() {
		listed[m.Name] = m
	}
	seen := map[string]bool{}
	for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var meta emfLine
		if err := json.Unmarshal(line, &meta); err != nil {
			t.Fatal(err)
		}
		for _, d := range meta.AWS.CloudWatchMetrics {
			for _, m := range d.Metrics {
				l, ok := listed[m.Name]
				if !ok {
					t.Errorf("%s is not in EMFMetrics", m.Name)
					continue
				}
				seen[m.Name] = true
				if l.Unit != m.Unit || !sameSets(l.Dimensions, d.Dimensions) {
					t.Errorf("%s published as %s %v, listed as %s %v", m.Name, m.Unit, d.Dimensions, l.Unit, l.Dimensions)
				}
			}
		}
	}
	for name := range listed {
		if !seen[name] {
			t.Errorf("%s is listed but never published", name)
		}
	}
}

func TestPrometheus(t *testing.T) {
	tests := []struct {
		name   string
		record func(Recorder)
		want   []string // lines the scrape must hold
	}{
		{
			name: "requests by kind and status",
			record: func(r Recorder) {
				r.Request(Request{Kind: KindPull, Status: 200, Duration: 3 * time.Millisecond, BytesOut: 100, S3: 1, DynamoDB: 1})
				r.Request(Request{Kind: KindPull, Status: 200, Duration: 70 * time.Millisecond, BytesOut: 50, DynamoDB: 2})
				r.Request(Request{Kind: KindPull, Status: 404, Duration: 2 * time.Second})
				r.Request(Request{Kind: KindPush, Status: 201, Duration: time.Minute, BytesIn: 7})
			},
			want: []string{
				"# TYPE pier_requests_total counter",
				`pier_requests_total{kind="pull",status="200"} 2`,
				`pier_requests_total{kind="pull",status="404"} 1`,
				`pier_requests_total{kind="push",status="201"} 1`,
				"# TYPE pier_request_duration_seconds histogram",
				`pier_request_duration_seconds_bucket{kind="pull",le="0.005"} 1`,
				`pier_request_duration_seconds_bucket{kind="pull",le="0.05"} 1`,
				`pier_request_duration_seconds_bucket{kind="pull",le="0.1"} 2`,
				`pier_request_duration_seconds_bucket{kind="pull",le="2.5"} 3`,
				`pier_request_duration_seconds_bucket{kind="pull",le="+Inf"} 3`,
				`pier_request_duration_seconds_sum{kind="pull"} 2.073`,
				`pier_request_duration_seconds_count{kind="pull"} 3`,
				`pier_request_duration_seconds_bucket{kind="push",le="30"} 0`,
				`pier_request_duration_seconds_bucket{kind="push",le="+Inf"} 1`,
				`pier_response_body_bytes_total{kind="pull"} 150`,
				`pier_request_body_bytes_total{kind="push"} 7`,
				`pier_backend_requests_total{kind="pull",service="dynamodb"} 3`,
				`pier_backend_requests_total{kind="pull",service="s3"} 1`,
			},
		},
		{
			name: "gc runs and upload copies",
			record: func(r Recorder) {
				r.GC(GCRun{Deleted: 2, Freed: 2048, Marked: 1})
				r.GC(GCRun{Failed: true, Marked: 4})
				r.UploadCopy(CopyInTime)
				r.UploadCopy(CopyBackground)
				r.UploadCopy(CopyInTime)
			},
			want: []string{
				"pier_gc_runs_total 2",
				"pier_gc_failures_total 1",
				"pier_gc_blobs_deleted_total 2",
				"pier_gc_freed_bytes_total 2048",
				"pier_gc_blobs_marked_total 5",
				`pier_upload_copies_total{outcome="background"} 1`,
				`pier_upload_copies_total{outcome="in_time"} 2`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPrometheus()
			tt.record(p)
			srv := httptest.NewServer(p)
			defer srv.Close()
			resp, err := http.Get(srv.URL + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
				t.Errorf("Content-Type %q", ct)
			}
			lines := map[string]bool{}
			for _, l := range strings.Split(string(body), "\n") {
				lines[l] = true
			}
			for _, w := range tt.want {
				if !lines[w] {
					t.Errorf("no line %q in:\n%s", w, body)
				}
			}
			checkExposition(t, string(body))
		})
	}
}

// checkExposition checks the text format's rules that a scraper relies
// on: each sample's family is declared (HELP, then TYPE) before it, once.
func checkExposition(t *testing.T, text string) {
	t.Helper()
	declared := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		switch {
		case strings.HasPrefix(l, "# HELP "):
		case strings.HasPrefix(l, "# TYPE "):
			name := strings.Fields(l)[2]
			if declared[name] {
				t.Errorf("family %s declared twice", name)
			}
			declared[name] = true
		default:
			name, _, _ := strings.Cut(l, "{")
			name, _, _ = strings.Cut(name, " ")
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
			if !declared[name] && !declared[base] {
				t.Errorf("sample %q of an undeclared family", l)
			}
			if len(strings.Fields(l)) < 2 {
				t.Errorf("sample %q has no value", l)
			}
		}
	}
}

func TestMulti(t *testing.T) {
	if Multi(nil, nil) != nil {
		t.Error("Multi of nothing is not nil")
	}
	p1, p2 := NewPrometheus(), NewPrometheus()
	Multi(p1, nil, p2).Request(Request{Kind: KindTags, Status: 200})
	for _, p := range []*Prometheus{p1, p2} {
		var b strings.Builder
		p.WriteTo(&b)
		if !strings.Contains(b.String(), `pier_requests_total{kind="tags",status="200"} 1`) {
			t.Errorf("a recorder of Multi missed the request:\n%s", b.String())
		}
	}
}

// The cost of a record, per request: what the metrics add to an answer.
func BenchmarkRecord(b *testing.B) {
	r := Request{Kind: KindPull, Status: 200, Duration: 3 * time.Millisecond, BytesOut: 512, S3: 1, DynamoDB: 1}
	for _, bb := range []struct {
		name string
		rec  Recorder
	}{
		{"EMF", NewEMF(io.Discard, "")},
		{"Prometheus", NewPrometheus()},
	} {
		b.Run(bb.name, func(b *testing.B) {
			for b.Loop() {
				bb.rec.Request(r)
			}
		})
	}
}
