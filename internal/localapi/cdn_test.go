package localapi

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMatchPath(t *testing.T) {
	for _, tt := range []struct {
		pattern, path string
		want          bool
	}{
		{"/v2/*/blobs/uploads/*", "/v2/a/blobs/uploads/", true},
		{"/v2/*/blobs/uploads/*", "/v2/a/b/c/blobs/uploads/0f3c", true},
		{"v2/*/blobs/uploads/*", "/v2/a/blobs/uploads/x", true}, // the leading / is optional
		{"/v2/*/blobs/uploads/*", "/v2/a/blobs/uploads", false},
		{"/v2/*/blobs/uploads", "/v2/a/blobs/uploads", true},
		{"/v2/*/blobs/uploads", "/v2/a/blobs/uploads/", false},
		{"/v2/*/blobs/uploads/*", "/v2/a/blobs/sha256:abc", false},
		{"/v2/*/blobs/uploads/*", "/v2/a/manifests/latest", false},
		{"/v2/*/blobs/uploads/*", "/v2/a/Blobs/uploads/x", false}, // case-sensitive
		{"/v2/*/blobs/uploads/*", "/v2/blobs/uploads/", false},    // * does not match the missing name
		{"/v2/*/blobs/uploads/*", "/v2//blobs/uploads/", true},    // ... but 0 characters between slashes
		{"/v2/*/blobs/uploads/*", "/v2/x/blobs/uploads/y/manifests/z", true},
		{"a??.jpg", "/ant.jpg", true},
		{"a??.jpg", "/an.jpg", false},
		{"*.doc*", "/x/y.docx", true},
		{"*", "/anything", true},
	} {
		if got := MatchPath(tt.pattern, tt.path); got != tt.want {
			t.Errorf("MatchPath(%q, %q) = %v, want %v", tt.pattern, tt.path, got, tt.want)
		}
	}
}

// originSeen is what the upload origin received.
type originSeen struct {
	method, uri, host string
	header            http.Header
	sum               [32]byte
	n                 int
}

// startOrigin runs an upload origin that records each request and
// answers with a relative Location, as the upload endpoint does.
func startOrigin(t *testing.T, delay time.Duration) (*url.URL, func() []originSeen) {
	t.Helper()
	var (
		mu   sync.Mutex
		seen []originSeen
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		i := len(seen)
		seen = append(seen, originSeen{method: r.Method, uri: r.RequestURI, host: r.Host, header: r.Header.Clone()})
		mu.Unlock()
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen[i].sum, seen[i].n = sha256.Sum256(b), len(b)
		mu.Unlock()
		time.Sleep(delay)
		w.Header().Set("Location", "/v2/a/b/blobs/uploads/0f3c?state=s")
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return u, func() []originSeen { mu.Lock(); defer mu.Unlock(); return append([]originSeen(nil), seen...) }
}

// With an upload origin, the requests of uploads go there as CloudFront
// sends them (whatever their size: the function's limits do not apply),
// and the rest go to the function as before.
func TestUploadRoute(t *testing.T) {
	origin, seen := startOrigin(t, 0)
	pier := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	})
	for _, kind := range []Kind{HTTP, REST, URL} {
		t.Run(string(kind), func(t *testing.T) {
			rie, count := rieOf(t, pier)
			front := httptest.NewServer(&Front{Kind: kind, InvokeURL: rie, Log: quiet(), Gate: true, UploadOrigin: origin})
			defer front.Close()
			host := strings.TrimPrefix(front.URL, "http://")
			chunk := make([]byte, 12<<20) // over API Gateway's 10 MiB
			rand.Read(chunk)
			for _, tt := range []struct {
				method, path string
				body         []byte
				toOrigin     bool
			}{
				{http.MethodPost, "/v2/a/b/blobs/uploads/", nil, true},
				{http.MethodPost, "/v2/a/b/blobs/uploads?mount=sha256:00&from=c", nil, true},
				{http.MethodPatch, "/v2/a/b/blobs/uploads/0f3c?state=s", chunk, true},
				{http.MethodPut, "/v2/a/b/blobs/uploads/0f3c?state=s&digest=sha256:00", nil, true},
				{http.MethodGet, "/v2/a/b/blobs/uploads/0f3c?state=s", nil, true},
				{http.MethodDelete, "/v2/a/b/blobs/uploads/0f3c?state=s", nil, true},
				{http.MethodGet, "/v2/a/b/manifests/latest", nil, false},
				{http.MethodHead, "/v2/a/b/blobs/sha256:00", nil, false},
				{http.MethodGet, "/v2/", nil, false},
			} {
				before, _ := count()
				_, proxied := count()
				n := len(seen())
				req, _ := http.NewRequest(tt.method, front.URL+tt.path, bytes.NewReader(tt.body))
				req.Header.Set("Authorization", "Bearer t0ken")
				req.Header.Set("Content-Type", "application/octet-stream")
				req.Header.Set("X-Forwarded-For", "192.0.2.4")
				req.Header.Set("X-Forwarded-Proto", "https")
				req.Header.Set("X-Forwarded-Host", "evil.example")
				req.Header.Set("X-Real-IP", "192.0.2.9")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				got := seen()[n:]
				_, proxiedAfter := count()
				if !tt.toOrigin {
					if len(got) != 0 || proxiedAfter != proxied+1 {
						t.Errorf("%s %s went to the upload origin (%d requests) or not to the function (%d invocations)", tt.method, tt.path, len(got), proxiedAfter-proxied)
					}
					if resp.Header.Get("X-Amz-Cf-Id") != "" {
						t.Errorf("%s %s: an answer of the function carries X-Amz-Cf-Id", tt.method, tt.path)
					}
					continue
				}
				after, _ := count()
				if len(got) != 1 || proxiedAfter != proxied || after != before {
					t.Fatalf("%s %s: %d requests at the upload origin, %d invocations of the function; want 1 and 0", tt.method, tt.path, len(got), proxiedAfter-proxied+after-before)
				}
				o := got[0]
				h := o.header
				if o.method != tt.method || o.uri != tt.path || o.host != host || o.n != len(tt.body) || o.sum != sha256.Sum256(tt.body) {
					t.Errorf("%s %s reached the origin as %s %s, Host %s, %d body bytes (equal %v); want it as sent, Host %s",
						tt.method, tt.path, o.method, o.uri, o.host, o.n, o.sum == sha256.Sum256(tt.body), host)
				}
				if h.Get("Authorization") != "Bearer t0ken" || h.Get("X-Forwarded-For") != "192.0.2.4,127.0.0.1" ||
					h.Get("X-Forwarded-Proto") != "" || h.Get("X-Real-Ip") != "" || h.Get("X-Forwarded-Host") != "evil.example" ||
					!strings.HasSuffix(h.Get("Via"), ".cloudfront.net (CloudFront)") || h.Get("X-Amz-Cf-Id") == "" {
					t.Errorf("%s %s: headers at the origin %v;\nwant Authorization, X-Forwarded-For with the viewer appended, no X-Forwarded-Proto or X-Real-IP, X-Forwarded-Host as sent, Via and X-Amz-Cf-Id of CloudFront", tt.method, tt.path, h)
				}
				if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Location") != "/v2/a/b/blobs/uploads/0f3c?state=s" ||
					resp.Header.Get("X-Amz-Cf-Id") != h.Get("X-Amz-Cf-Id") || resp.Header.Get("X-Cache") != "Miss from cloudfront" ||
					!strings.HasPrefix(resp.Header.Get("Via"), "1.1 ") {
					t.Errorf("%s %s: %s, headers %v; want the origin's 202 and relative Location, with CloudFront's Via, X-Cache and the request's X-Amz-Cf-Id", tt.method, tt.path, resp.Status, resp.Header)
				}
			}
		})
	}
}

// Without an upload origin the same large chunk gets the front door's 413;
// an origin that does not answer in time, or at all, gets CloudFront's
// 504 or 502 (uploads are not retried).
func TestUploadRouteErrors(t *testing.T) {
	pier := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	rie, count := rieOf(t, pier)
	slow, slowSeen := startOrigin(t, 2*time.Second)
	gone, _ := url.Parse("http://127.0.0.1:1")
	for _, tt := range []struct {
		name    string
		origin  *url.URL
		want    int
		visits  int // requests that reached the origin
		inBody  string
		timeout time.Duration
	}{
		{"no upload origin", nil, http.StatusRequestEntityTooLarge, 0, "Request Entity Too Large", 0},
		{"slow origin", slow, http.StatusGatewayTimeout, 1, "The request could not be satisfied", 200 * time.Millisecond},
		{"unreachable origin", gone, http.StatusBadGateway, 0, "The request could not be satisfied", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			front := httptest.NewServer(&Front{Kind: HTTP, InvokeURL: rie, Log: quiet(), UploadOrigin: tt.origin, UploadTimeout: tt.timeout})
			defer front.Close()
			n := len(slowSeen())
			_, before := count()
			req, _ := http.NewRequest(http.MethodPatch, front.URL+"/v2/a/blobs/uploads/0f3c", bytes.NewReader(make([]byte, 11<<20)))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			_, after := count()
			visits := len(slowSeen()) - n
			if resp.StatusCode != tt.want || !strings.Contains(string(body), tt.inBody) || after != before || visits != tt.visits {
				t.Errorf("%s: %s %q, %d invocations, %d requests at the origin; want %d with %q, none, %d", tt.name, resp.Status, body, after-before, visits, tt.want, tt.inBody, tt.visits)
			}
		})
	}
}

func TestParseOrigin(t *testing.T) {
	for _, tt := range []struct {
		in, want string
	}{
		{"http://127.0.0.1:5000", "http://127.0.0.1:5000"},
		{"https://uploads.example.com/", "https://uploads.example.com"},
		{"127.0.0.1:5000", ""},
		{"http://h/path", ""},
		{"ftp://h", ""},
		{"http://h?x=1", ""},
	} {
		u, err := ParseOrigin(tt.in)
		got := ""
		if err == nil {
			got = u.String()
		}
		if got != tt.want {
			t.Errorf("ParseOrigin(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
