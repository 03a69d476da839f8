package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pushAndPull is the scripted push and pull of the metrics tests: an
// image pushed as pushImage pushes it (two monolithic uploads, one in
// three chunks, the manifest), then pulled (the manifest and its three
// blobs, whose GET answers blobStatus). It returns the bytes of the
// blobs pushed and of the manifest.
func pushAndPull(t *testing.T, s *instance, repo string, blobStatus int) (blobBytes, manifestBytes int64) {
	t.Helper()
	p, err := pushImage(s, repo, "v1")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := expect(s, "GET", "/v2/"+repo+"/manifests/v1", nil, http.StatusOK, "Accept", "application/vnd.oci.image.manifest.v1+json")
	if err != nil {
		t.Fatal(err)
	}
	manifestBytes = resp.ContentLength
	for d, b := range p.blobs {
		if _, err := expect(s, "GET", "/v2/"+repo+"/blobs/"+d, nil, blobStatus); err != nil {
			t.Fatal(err)
		}
		blobBytes += int64(len(b))
	}
	return blobBytes, manifestBytes
}

// scrape reads the Prometheus text at url: "name{labels}" to value.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// TestMetricsServe: pier serve --metrics-addr answers Prometheus scrapes
// on that address alone, and counts a scripted push and pull by kind,
// status, bytes and latency.
func TestMetricsServe(t *testing.T) {
	maddr := freeAddr(t)
	s := startServer(t, t.TempDir(), "--metrics-addr", maddr)
	blobBytes, manifestBytes := pushAndPull(t, s, "metrics/app", http.StatusOK)

	if resp, _ := do(t, "GET", s.url("/metrics"), nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics on the registry's address: %s, want 404 (metrics are on their own address)", resp.Status)
	}
	got := scrape(t, "http://"+maddr+"/metrics")
	for _, tc := range []struct {
		sample string
		want   float64
	}{
		// POST ?digest= twice and the PUT that finishes the chunked
		// upload: 201; its POST and three PATCHes: 202.
		{`pier_requests_total{kind="upload",status="201"}`, 3},
		{`pier_requests_total{kind="upload",status="202"}`, 4},
		{`pier_requests_total{kind="push",status="201"}`, 1},
		{`pier_requests_total{kind="pull",status="200"}`, 4},
		{`pier_request_duration_seconds_count{kind="upload"}`, 7},
		{`pier_request_duration_seconds_bucket{kind="pull",le="+Inf"}`, 4},
		{`pier_request_body_bytes_total{kind="upload"}`, float64(blobBytes)},
		{`pier_response_body_bytes_total{kind="pull"}`, float64(blobBytes + manifestBytes)},
		{`pier_gc_runs_total`, 0},
	} {
		if g := got[tc.sample]; g != tc.want {
			t.Errorf("%s = %v, want %v", tc.sample, g, tc.want)
		}
	}
	for sample := range got {
		if strings.Contains(sample, `status="5`) {
			t.Errorf("a server error was counted: %s", sample)
		}
	}
}

// TestMetricsLambda: the function under the Runtime Interface Emulator
// (the local Lambda path) writes one CloudWatch EMF line per request to
// stdout, which CloudWatch Logs would turn into metrics; after a
// scripted push and pull its lines count each kind of request, the bytes
// and the S3 and DynamoDB requests.
func TestMetricsLambda(t *testing.T) {
	dir := t.TempDir()
	s := startLocalAPI(t, "http", "PIER_LOCAL_API_DIR="+dir, "PIER_BUCKET=metrics-lambda", "PIER_TABLE_PREFIX=metrics-lambda-",
		"PIER_METRICS_NAMESPACE=Pier/test")
	blobBytes, _ := pushAndPull(t, s, "metrics/app", http.StatusTemporaryRedirect)

	want := map[string]map[string]float64{
		"upload": {"Requests": 7, "ServerErrors": 0, "ClientErrors": 0, "BytesIn": float64(blobBytes)},
		"push":   {"Requests": 1, "ServerErrors": 0, "ClientErrors": 0},
		"pull":   {"Requests": 4, "ServerErrors": 0, "ClientErrors": 0, "BytesIn": 0},
	}
	var sums map[string]map[string]float64
	deadline := time.Now().Add(10 * time.Second)
	for {
		sums = emfSums(t, filepath.Join(dir, "rie.log"), "Pier/test")
		if sums["pull"]["Requests"] >= 4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if t.Failed() || sums["pull"]["Requests"] < 4 {
		log, _ := os.ReadFile(filepath.Join(dir, "rie.log"))
		t.Logf("rie.log:\n%s", log[max(0, len(log)-3000):])
	}
	for kind, metrics := range want {
		for name, v := range metrics {
			if g := sums[kind][name]; g != v {
				t.Errorf("%s %s = %v, want %v (all: %v)", kind, name, g, v, sums)
			}
		}
	}
	// Every request reads or writes the stores: the counts of the
	// request log line, carried into the metrics.
	for _, kind := range []string{"upload", "push", "pull"} {
		if sums[kind]["S3Requests"]+sums[kind]["DynamoDBRequests"] == 0 {
			t.Errorf("%s: no S3 or DynamoDB request counted (all: %v)", kind, sums)
		}
	}
	if sums["push"]["DynamoDBRequests"] == 0 {
		t.Errorf("a manifest push made no DynamoDB request: %v", sums["push"])
	}
	if sums["pull"]["Latency"] <= 0 {
		t.Errorf("pull latency %v ms", sums["pull"]["Latency"])
	}
}

// emfSums reads the EMF lines of namespace in the log at path and sums
// each metric by its Kind dimension.
func emfSums(t *testing.T, path, namespace string) map[string]map[string]float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sums := map[string]map[string]float64{}
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadBytes('\n')
		if bytes.HasPrefix(line, []byte("{")) && bytes.Contains(line, []byte(`"_aws":`)) {
			var doc map[string]any
			if jerr := json.Unmarshal(line, &doc); jerr != nil {
				t.Fatalf("EMF line %s: %v", line, jerr)
			}
			meta := doc["_aws"].(map[string]any)
			for _, d := range meta["CloudWatchMetrics"].([]any) {
				dir := d.(map[string]any)
				if dir["Namespace"] != namespace {
					t.Errorf("EMF namespace %v, want %s", dir["Namespace"], namespace)
				}
				if !hasDimensionSet(dir, "Kind") {
					continue
				}
				kind, _ := doc["Kind"].(string)
				if sums[kind] == nil {
					sums[kind] = map[string]float64{}
				}
				for _, m := range dir["Metrics"].([]any) {
					name := m.(map[string]any)["Name"].(string)
					sums[kind][name] += doc[name].(float64)
				}
			}
		}
		if err == io.EOF {
			return sums
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// hasDimensionSet reports whether EMF directive dir publishes its
// metrics by the one dimension name.
func hasDimensionSet(dir map[string]any, name string) bool {
	for _, set := range dir["Dimensions"].([]any) {
		if s := set.([]any); len(s) == 1 && s[0] == name {
			return true
		}
	}
	return false
}
