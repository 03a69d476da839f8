package localapi

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A client that goes away mid-request does not end its invocation: the
// next request is invoked only once the RIE has answered the first (an
// RIE given a second invocation while it runs one panics and exits).
func TestClientGoneInvocationRunsToTheEnd(t *testing.T) {
	var running, overlaps, done atomic.Int32
	rie := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if running.Add(1) > 1 {
			overlaps.Add(1)
		}
		time.Sleep(300 * time.Millisecond)
		running.Add(-1)
		done.Add(1)
		w.Write([]byte(`{"statusCode":200,"body":"ok"}`))
	}))
	defer rie.Close()
	front := httptest.NewServer(&Front{Kind: HTTP, InvokeURL: rie.URL, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	defer front.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, front.URL+"/v2/", nil)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("the first request was answered before the client gave up")
	}
	resp, err := http.Get(front.URL + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || overlaps.Load() != 0 || done.Load() != 2 {
		t.Errorf("second request: %s; %d overlapping invocations, %d run to the end; want 200, 0, 2", resp.Status, overlaps.Load(), done.Load())
	}
}

// With several RIEs (execution environments), requests that come together
// are invoked together, each RIE serving one invocation at a time, and
// the front waits for a free one when all are busy: 6 requests of 300 ms
// on 3 RIEs run 3 at a time.
func TestInvocationsRunInEveryEnvironment(t *testing.T) {
	var total, most atomic.Int32
	var urls []string
	for range 3 {
		var running atomic.Int32
		rie := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if running.Add(1) > 1 {
				t.Error("an RIE was given a second invocation while it ran one")
			}
			n := total.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(300 * time.Millisecond)
			total.Add(-1)
			running.Add(-1)
			w.Write([]byte(`{"statusCode":200,"body":"ok"}`))
		}))
		defer rie.Close()
		urls = append(urls, rie.URL)
	}
	front := httptest.NewServer(&Front{Kind: HTTP, InvokeURL: urls[0], InvokeURLs: urls[1:], Log: quiet()})
	defer front.Close()
	start := time.Now()
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			resp, err := http.Get(front.URL + "/v2/")
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Errorf("GET: %v %v", resp, err)
				return
			}
			resp.Body.Close()
		})
	}
	wg.Wait()
	if took := time.Since(start); most.Load() != 3 || took < 600*time.Millisecond || took > 1500*time.Millisecond {
		t.Errorf("6 requests on 3 RIEs: at most %d at once, in %s; want 3 at once, in about 600 ms", most.Load(), took)
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// A REST API renames WWW-Authenticate (and the other headers of its table)
// to X-Amzn-Remapped-<name>, on a 401 too; an HTTP API and a function URL
// pass it on.
func TestResponseHeadersRemapped(t *testing.T) {
	const challenge = `Bearer realm="http://h/v2/token",service="pier"`
	pier := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", challenge)
		w.Header().Set("Server", "pier")
		w.Header().Set("Docker-Distribution-Api-Version", "registry/2.0")
		w.WriteHeader(http.StatusUnauthorized)
	})
	for _, tt := range []struct {
		kind            Kind
		www, remapped   string
		server, rServer string
	}{
		{REST, "", challenge, "", "pier"},
		{HTTP, challenge, "", "pier", ""},
		{URL, challenge, "", "pier", ""},
	} {
		t.Run(string(tt.kind), func(t *testing.T) {
			rie, _ := rieOf(t, pier)
			front := httptest.NewServer(&Front{Kind: tt.kind, InvokeURL: rie, Log: quiet(), Gate: true})
			defer front.Close()
			// With credentials: past the REST API's gate (gate.go).
			req, _ := http.NewRequest(http.MethodGet, front.URL+"/v2/", nil)
			req.Header.Set("Authorization", "Bearer expired")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			h := resp.Header
			if resp.StatusCode != http.StatusUnauthorized || h.Get("WWW-Authenticate") != tt.www ||
				h.Get("X-Amzn-Remapped-WWW-Authenticate") != tt.remapped || h.Get("Server") != tt.server ||
				h.Get("X-Amzn-Remapped-Server") != tt.rServer || h.Get("Docker-Distribution-Api-Version") != "registry/2.0" {
				t.Errorf("%s: %s, headers %v; want WWW-Authenticate %q, X-Amzn-Remapped-WWW-Authenticate %q, Server %q, X-Amzn-Remapped-Server %q",
					tt.kind, resp.Status, h, tt.www, tt.remapped, tt.server, tt.rServer)
			}
		})
	}
}

// Each front door's answer to a body it cannot pass on: over its own body
// limit, and under it but with an event over Lambda's 6 MB (a binary body
// is base64-encoded into the event). The function is never invoked.
func TestBodyLimits(t *testing.T) {
	pier := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	rie, count := rieOf(t, pier)
	for _, tt := range []struct {
		kind   Kind
		size   int
		want   int
		inBody string
	}{
		{HTTP, 11 << 20, http.StatusRequestEntityTooLarge, `{"message":"Request Entity Too Large"}`},
		{HTTP, 5 << 20, http.StatusInternalServerError, `{"message":"Internal Server Error"}`},
		{REST, 11 << 20, http.StatusRequestEntityTooLarge, `{"message":"Request Entity Too Large"}`},
		{REST, 5 << 20, http.StatusInternalServerError, `{"message":"Internal server error"}`},
		{URL, 7 << 20, http.StatusRequestEntityTooLarge, "Request must be smaller than 6291456 bytes"},
		{URL, 5 << 20, http.StatusRequestEntityTooLarge, "Request must be smaller than 6291456 bytes"},
	} {
		front := httptest.NewServer(&Front{Kind: tt.kind, InvokeURL: rie, Log: quiet()})
		_, before := count()
		resp, err := http.Post(front.URL+"/v2/a/blobs/uploads/", "application/octet-stream", bytes.NewReader(make([]byte, tt.size)))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		front.Close()
		if _, after := count(); resp.StatusCode != tt.want || !strings.Contains(string(body), tt.inBody) || after != before {
			t.Errorf("%s, %d bytes: %s %s, %d invocations; want %d with %s, none", tt.kind, tt.size, resp.Status, body, after-before, tt.want, tt.inBody)
		}
	}
}
