package localapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
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
