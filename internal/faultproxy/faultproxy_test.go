package faultproxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestFaults sends one request through a proxy that meets a fault every
// time, for each fault and service, and checks what the client sees and
// whether the service behind the proxy got the request.
func TestFaults(t *testing.T) {
	cases := []struct {
		service   Service
		fault     Fault
		status    int    // 0: no answer (the connection was dropped)
		body      string // part of the body
		errorType string // X-Amzn-ErrorType
		forwarded int
	}{
		{S3, ServerError, 500, "<Code>InternalError</Code>", "", 0},
		{S3, Throttle, 503, "<Code>SlowDown</Code>", "", 0},
		{DynamoDB, ServerError, 500, "#InternalServerError", "InternalServerError", 0},
		{DynamoDB, Throttle, 400, "#ThrottlingException", "ThrottlingException", 0},
		{S3, DropBefore, 0, "", "", 0},
		{DynamoDB, DropAfter, 0, "", "", 1},
		{S3, Slow, 200, "backend", "", 1},
		{DynamoDB, -1, 200, "backend", "", 1}, // rate 0: no fault
	}
	for _, c := range cases {
		t.Run(c.fault.String(), func(t *testing.T) {
			var got atomic.Int32
			var host atomic.Value
			backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got.Add(1)
				host.Store(r.Host)
				io.Copy(io.Discard, r.Body)
				io.WriteString(w, "backend")
			}))
			defer backend.Close()
			opts := Options{Rate: 1, Faults: []Fault{c.fault}, Delay: 10_000_000}
			if c.fault < 0 {
				opts = Options{Rate: 0}
			}
			p, err := Start(c.service, backend.URL, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			resp, err := http.Post(p.URL+"/x", "text/plain", strings.NewReader("request body"))
			if c.status == 0 {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("answer %s, want a dropped connection", resp.Status)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != c.status || !strings.Contains(string(b), c.body) || resp.Header.Get("X-Amzn-ErrorType") != c.errorType {
					t.Errorf("answer %d %q (X-Amzn-ErrorType %q), want %d with %q (%q)", resp.StatusCode, b, resp.Header.Get("X-Amzn-ErrorType"), c.status, c.body, c.errorType)
				}
			}
			if n := int(got.Load()); n != c.forwarded {
				t.Errorf("the service got %d requests, want %d", n, c.forwarded)
			}
			if c.forwarded > 0 && host.Load() != strings.TrimPrefix(p.URL, "http://") {
				t.Errorf("the service got Host %v, want the proxy's %s (signatures cover it)", host.Load(), p.URL)
			}
			n, inj := p.Stats()
			if want := map[bool]int{true: 0, false: 1}[c.fault < 0]; n != 1 || inj[c.fault] != want {
				t.Errorf("stats: %d requests, %v injected", n, inj)
			}
		})
	}
}

// TestRate checks that about the share of requests set meets a fault.
func TestRate(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer backend.Close()
	p, err := Start(S3, backend.URL, Options{Rate: 0.2, Seed: 7, Faults: []Fault{ServerError}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	failed := 0
	const n = 500
	for range n {
		resp, err := http.Get(p.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 500 {
			failed++
		}
	}
	if failed < n/10 || failed > n*3/10 {
		t.Errorf("%d of %d requests met a fault at rate 0.2", failed, n)
	}
	p.SetRate(0)
	resp, err := http.Get(p.URL)
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("after SetRate(0): %v %v", resp, err)
	}
}
