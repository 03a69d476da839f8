package apigw

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// seen is what the echo handler saw of a request.
type seen struct {
	Method        string
	Path          string
	RawPath       string
	RawQuery      string
	Query         map[string][]string
	RequestURI    string
	Host          string
	RemoteAddr    string
	TLS           bool
	Proto         string
	Header        http.Header
	ContentLength int64
	Body          []byte
}

// echo answers with what it saw, as JSON, and writes the response headers
// that the request asks for with "X-Answer-<Name>: value" headers.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		panic(err)
	}
	s := seen{
		Method: r.Method, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery,
		Query: r.URL.Query(), RequestURI: r.RequestURI, Host: r.Host, RemoteAddr: r.RemoteAddr,
		TLS: r.TLS != nil, Proto: r.Proto, Header: r.Header, ContentLength: r.ContentLength, Body: body,
	}
	for k, vs := range r.Header {
		if name, ok := strings.CutPrefix(k, "X-Answer-"); ok {
			for _, v := range vs {
				w.Header().Add(name, v)
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(s)
})

const executeAPI = "abc123.execute-api.us-east-1.amazonaws.com"

func v2Event(method, rawPath, query string) events.APIGatewayV2HTTPRequest {
	return events.APIGatewayV2HTTPRequest{
		Version:        "2.0",
		RouteKey:       "ANY /v2/{proxy+}",
		RawPath:        rawPath,
		RawQueryString: query,
		Headers: map[string]string{
			"host":              executeAPI,
			"user-agent":        "crane/0.20",
			"x-forwarded-for":   "203.0.113.7",
			"x-forwarded-port":  "443",
			"x-forwarded-proto": "https",
		},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			Stage:      "$default",
			RequestID:  "JKJaXmPLvHcESHA=",
			DomainName: executeAPI,
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: method, Path: rawPath, Protocol: "HTTP/1.1", SourceIP: "203.0.113.7",
			},
		},
	}
}

func v1Event(method, path string) events.APIGatewayProxyRequest {
	return events.APIGatewayProxyRequest{
		Resource:   "/v2/{proxy+}",
		Path:       path,
		HTTPMethod: method,
		Headers: map[string]string{
			"Host":              executeAPI,
			"X-Forwarded-Proto": "https",
		},
		MultiValueHeaders: map[string][]string{
			"Host":              {executeAPI},
			"X-Forwarded-Proto": {"https"},
		},
		RequestContext: events.APIGatewayProxyRequestContext{
			Stage:      "prod",
			RequestID:  "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
			DomainName: executeAPI,
			Protocol:   "HTTP/1.1",
			HTTPMethod: method,
			Identity:   events.APIGatewayRequestIdentity{SourceIP: "198.51.100.4"},
		},
	}
}

func decodeSeen(t *testing.T, body string, b64 bool) seen {
	t.Helper()
	if b64 {
		t.Fatalf("echo answer is base64: %q", body)
	}
	var s seen
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("echo answer %q: %v", body, err)
	}
	return s
}

func TestRequestV2(t *testing.T) {
	bin := []byte{0x1f, 0x8b, 0x08, 0x00, 0xff, 0xfe, 0x00, 0x80, 'a'}
	tests := []struct {
		name  string
		event func() events.APIGatewayV2HTTPRequest
		check func(t *testing.T, s seen)
	}{{
		name: "query, repeated headers, cookies, host, TLS, source IP",
		event: func() events.APIGatewayV2HTTPRequest {
			e := v2Event("GET", "/v2/library/hello/tags/list", "n=10&last=v1.0%2Brc&x=a%20b")
			e.Headers["accept"] = "application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json"
			e.Cookies = []string{"a=1", "b=2"}
			return e
		},
		check: func(t *testing.T, s seen) {
			want := seen{
				Method: "GET", Path: "/v2/library/hello/tags/list", RawQuery: "n=10&last=v1.0%2Brc&x=a%20b",
				Query:      map[string][]string{"n": {"10"}, "last": {"v1.0+rc"}, "x": {"a b"}},
				RequestURI: "/v2/library/hello/tags/list?n=10&last=v1.0%2Brc&x=a%20b",
				Host:       executeAPI, RemoteAddr: "203.0.113.7:0", TLS: true, Proto: "HTTP/1.1",
				Header: http.Header{
					"Accept":            {"application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json"},
					"Cookie":            {"a=1; b=2"},
					"User-Agent":        {"crane/0.20"},
					"X-Forwarded-For":   {"203.0.113.7"},
					"X-Forwarded-Port":  {"443"},
					"X-Forwarded-Proto": {"https"},
				},
				Body: []byte{},
			}
			if !reflect.DeepEqual(s, want) {
				t.Errorf("saw\n%+v\nwant\n%+v", s, want)
			}
		},
	}, {
		name: "base64 body",
		event: func() events.APIGatewayV2HTTPRequest {
			e := v2Event("PATCH", "/v2/r/blobs/uploads/0123", "")
			e.Headers["content-type"] = "application/octet-stream"
			e.Headers["content-length"] = "9"
			e.Headers["content-range"] = "0-8"
			e.Body = base64.StdEncoding.EncodeToString(bin)
			e.IsBase64Encoded = true
			return e
		},
		check: func(t *testing.T, s seen) {
			if !bytes.Equal(s.Body, bin) || s.ContentLength != int64(len(bin)) || s.Header.Get("Content-Length") != "9" || s.Method != "PATCH" {
				t.Errorf("body %x, length %d, header %q, method %s", s.Body, s.ContentLength, s.Header.Get("Content-Length"), s.Method)
			}
		},
	}, {
		name: "text body, Content-Length header corrected",
		event: func() events.APIGatewayV2HTTPRequest {
			e := v2Event("PUT", "/v2/r/manifests/v1", "")
			e.Headers["content-length"] = "999"
			e.Body = `{"schemaVersion":2}`
			return e
		},
		check: func(t *testing.T, s seen) {
			if string(s.Body) != `{"schemaVersion":2}` || s.ContentLength != 19 || s.Header.Get("Content-Length") != "19" {
				t.Errorf("body %q, length %d, header %q", s.Body, s.ContentLength, s.Header.Get("Content-Length"))
			}
		},
	}, {
		name: "escaped path",
		event: func() events.APIGatewayV2HTTPRequest {
			return v2Event("GET", "/v2/r/manifests/sha256%3Aabc", "")
		},
		check: func(t *testing.T, s seen) {
			if s.Path != "/v2/r/manifests/sha256:abc" || s.RawPath != "/v2/r/manifests/sha256%3Aabc" || s.RequestURI != "/v2/r/manifests/sha256%3Aabc" {
				t.Errorf("path %q, raw %q, uri %q", s.Path, s.RawPath, s.RequestURI)
			}
		},
	}, {
		name: "named stage in rawPath",
		event: func() events.APIGatewayV2HTTPRequest {
			e := v2Event("GET", "/beta/v2/", "")
			e.RequestContext.Stage = "beta"
			return e
		},
		check: func(t *testing.T, s seen) {
			if s.Path != "/v2/" || s.RequestURI != "/v2/" {
				t.Errorf("path %q, uri %q", s.Path, s.RequestURI)
			}
		},
	}, {
		name: "no host header: the domain name; no TLS without X-Forwarded-Proto https",
		event: func() events.APIGatewayV2HTTPRequest {
			e := v2Event("GET", "/v2/", "")
			delete(e.Headers, "host")
			e.Headers["x-forwarded-proto"] = "http"
			return e
		},
		check: func(t *testing.T, s seen) {
			if s.Host != executeAPI || s.TLS {
				t.Errorf("host %q, TLS %v", s.Host, s.TLS)
			}
		},
	}}
	h := NewHandler(echo)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := h.HandleV2(context.Background(), tt.event())
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != 200 {
				t.Fatalf("status %d: %s", res.StatusCode, res.Body)
			}
			tt.check(t, decodeSeen(t, res.Body, res.IsBase64Encoded))
		})
	}
}

func TestRequestV1(t *testing.T) {
	tests := []struct {
		name  string
		event func() events.APIGatewayProxyRequest
		check func(t *testing.T, s seen)
	}{{
		name: "multi-value query and headers",
		event: func() events.APIGatewayProxyRequest {
			e := v1Event("PUT", "/v2/library/hello/manifests/sha256:abc")
			e.MultiValueQueryStringParameters = map[string][]string{"tag": {"v1", "latest"}, "note": {"a b&c=d/é"}}
			e.QueryStringParameters = map[string]string{"tag": "latest", "note": "a b&c=d/é"}
			e.MultiValueHeaders["Accept"] = []string{"application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json"}
			e.Headers["Accept"] = "application/vnd.oci.image.index.v1+json"
			e.Headers["User-Agent"] = "oras/1.2"
			return e
		},
		check: func(t *testing.T, s seen) {
			if s.Method != "PUT" || s.Path != "/v2/library/hello/manifests/sha256:abc" {
				t.Errorf("%s %s", s.Method, s.Path)
			}
			if want := "note=a+b%26c%3Dd%2F%C3%A9&tag=v1&tag=latest"; s.RawQuery != want {
				t.Errorf("query %q, want %q", s.RawQuery, want)
			}
			if want := (map[string][]string{"tag": {"v1", "latest"}, "note": {"a b&c=d/é"}}); !reflect.DeepEqual(s.Query, want) {
				t.Errorf("query %v", s.Query)
			}
			if got := s.Header["Accept"]; len(got) != 2 {
				t.Errorf("Accept %q, want both values", got)
			}
			if s.Header.Get("User-Agent") != "oras/1.2" {
				t.Errorf("headers only in headers are lost: %v", s.Header)
			}
			if s.RemoteAddr != "198.51.100.4:0" || !s.TLS || s.Host != executeAPI {
				t.Errorf("remote %q, TLS %v, host %q", s.RemoteAddr, s.TLS, s.Host)
			}
		},
	}, {
		name: "single-value query only",
		event: func() events.APIGatewayProxyRequest {
			e := v1Event("GET", "/v2/r/referrers/sha256:abc")
			e.QueryStringParameters = map[string]string{"artifactType": "application/vnd.example+json"}
			return e
		},
		check: func(t *testing.T, s seen) {
			if s.RawQuery != "artifactType=application%2Fvnd.example%2Bjson" || s.Query["artifactType"][0] != "application/vnd.example+json" {
				t.Errorf("query %q", s.RawQuery)
			}
		},
	}, {
		name: "base64 body",
		event: func() events.APIGatewayProxyRequest {
			e := v1Event("POST", "/v2/r/blobs/uploads/")
			e.Body = base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 0xff})
			e.IsBase64Encoded = true
			return e
		},
		check: func(t *testing.T, s seen) {
			if !bytes.Equal(s.Body, []byte{0, 1, 2, 0xff}) || s.ContentLength != 4 {
				t.Errorf("body %x, length %d", s.Body, s.ContentLength)
			}
		},
	}, {
		name: "headers only, no multiValueHeaders",
		event: func() events.APIGatewayProxyRequest {
			e := v1Event("GET", "/v2/")
			e.MultiValueHeaders = nil
			e.Headers["Authorization"] = "Bearer x"
			return e
		},
		check: func(t *testing.T, s seen) {
			if s.Header.Get("Authorization") != "Bearer x" || s.Host != executeAPI || !s.TLS {
				t.Errorf("headers %v, host %q", s.Header, s.Host)
			}
		},
	}}
	h := NewHandler(echo)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := h.HandleV1(context.Background(), tt.event())
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != 200 {
				t.Fatalf("status %d: %s", res.StatusCode, res.Body)
			}
			tt.check(t, decodeSeen(t, res.Body, res.IsBase64Encoded))
		})
	}
}

// TestBasePath checks which requests get a base path (stage or base path
// mapping) in front of the handler's relative Location and Link URLs.
func TestBasePath(t *testing.T) {
	const link = `</v2/r/tags/list?last=b&n=1>; rel="next"`
	tests := []struct {
		name            string
		v1              bool
		path, stage     string
		ctxPath         string // payload 1.0's requestContext.path
		domain          string
		wantPath        string
		wantLocation    string
		wantLink        string
		location, links []string
	}{
		{name: "REST API, execute-api, stage prod", v1: true, path: "/v2/r/blobs/uploads/", stage: "prod", domain: executeAPI,
			wantPath: "/v2/r/blobs/uploads/", wantLocation: "/prod/v2/r/blobs/uploads/1", wantLink: `</prod/v2/r/tags/list?last=b&n=1>; rel="next"`},
		{name: "REST API, stage v2 with resources at the root", v1: true, path: "/r/blobs/uploads/", ctxPath: "/v2/r/blobs/uploads/", stage: "v2", domain: executeAPI,
			wantPath: "/v2/r/blobs/uploads/", wantLocation: "/v2/r/blobs/uploads/1", wantLink: link},
		{name: "REST API, ping at stage v2", v1: true, path: "/", ctxPath: "/v2/", stage: "v2", domain: executeAPI,
			wantPath: "/v2/", wantLocation: "/v2/r/blobs/uploads/1", wantLink: link},
		{name: "REST API, stage prod in requestContext.path", v1: true, path: "/v2/r/blobs/uploads/", ctxPath: "/prod/v2/r/blobs/uploads/", stage: "prod", domain: executeAPI,
			wantPath: "/v2/r/blobs/uploads/", wantLocation: "/prod/v2/r/blobs/uploads/1", wantLink: `</prod/v2/r/tags/list?last=b&n=1>; rel="next"`},
		{name: "REST API, custom domain", v1: true, path: "/v2/r/blobs/uploads/", stage: "prod", domain: "registry.example.com",
			wantPath: "/v2/r/blobs/uploads/", wantLocation: "/v2/r/blobs/uploads/1", wantLink: link},
		{name: "REST API, custom domain with a base path mapping", v1: true, path: "/oci/v2/r/blobs/uploads/", stage: "prod", domain: "registry.example.com",
			wantPath: "/v2/r/blobs/uploads/", wantLocation: "/oci/v2/r/blobs/uploads/1", wantLink: `</oci/v2/r/tags/list?last=b&n=1>; rel="next"`},
		{name: "REST API, LocalStack's execute-api host", v1: true, path: "/v2/", stage: "dev", domain: "abc123.execute-api.localhost.localstack.cloud:4566",
			wantPath: "/v2/", wantLocation: "/dev/v2/r/blobs/uploads/1", wantLink: `</dev/v2/r/tags/list?last=b&n=1>; rel="next"`},
		{name: "HTTP API, $default stage", path: "/v2/r/blobs/uploads/", stage: "$default", domain: executeAPI,
			wantPath: "/v2/r/blobs/uploads/", wantLocation: "/v2/r/blobs/uploads/1", wantLink: link},
		{name: "HTTP API, named stage in rawPath", path: "/beta/v2/r/blobs/uploads/", stage: "beta", domain: executeAPI,
			wantPath: "/v2/r/blobs/uploads/", wantLocation: "/beta/v2/r/blobs/uploads/1", wantLink: `</beta/v2/r/tags/list?last=b&n=1>; rel="next"`},
		{name: "HTTP API, named stage missing from rawPath", path: "/v2/", stage: "beta", domain: executeAPI,
			wantPath: "/v2/", wantLocation: "/beta/v2/r/blobs/uploads/1", wantLink: `</beta/v2/r/tags/list?last=b&n=1>; rel="next"`},
		{name: "HTTP API, custom domain with base path", path: "/oci/v2", stage: "$default", domain: "registry.example.com",
			wantPath: "/v2", wantLocation: "/oci/v2/r/blobs/uploads/1", wantLink: `</oci/v2/r/tags/list?last=b&n=1>; rel="next"`},
		// A function URL's event: payload 2.0, stage $default, its own host.
		{name: "function URL", path: "/v2/r/blobs/uploads/", stage: "$default", domain: "abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws",
			wantPath: "/v2/r/blobs/uploads/", wantLocation: "/v2/r/blobs/uploads/1", wantLink: link},
		{name: "a repository named v2 is not a base path", path: "/v2/v2/manifests/latest", stage: "$default", domain: executeAPI,
			wantPath: "/v2/v2/manifests/latest", wantLocation: "/v2/r/blobs/uploads/1", wantLink: link},
		{name: "no network-path base", path: "//evil.example/v2/", stage: "$default", domain: executeAPI,
			wantPath: "//evil.example/v2/", wantLocation: "/v2/r/blobs/uploads/1", wantLink: link},
		{name: "no dot-dot base", v1: true, path: "/../v2/", stage: "prod", domain: "registry.example.com",
			wantPath: "/../v2/", wantLocation: "/v2/r/blobs/uploads/1", wantLink: link},
		{name: "absolute Location stays", v1: true, path: "/v2/r/blobs/sha256:abc", stage: "prod", domain: executeAPI,
			location: []string{"https://bucket.s3.amazonaws.com/blobs/sha256/abc?X-Amz-Signature=x"},
			wantPath: "/v2/r/blobs/sha256:abc", wantLocation: "https://bucket.s3.amazonaws.com/blobs/sha256/abc?X-Amz-Signature=x", wantLink: `</prod/v2/r/tags/list?last=b&n=1>; rel="next"`},
		{name: "several links, quoted parameters", v1: true, path: "/v2/", stage: "prod", domain: executeAPI,
			links:    []string{`</v2/a?n=1>; rel="next"; title="x, <y>", <https://example.com/v2/>; rel="alternate", </v2/b>`},
			wantPath: "/v2/", wantLocation: "/prod/v2/r/blobs/uploads/1", wantLink: `</prod/v2/a?n=1>; rel="next"; title="x, <y>", <https://example.com/v2/>; rel="alternate", </prod/v2/b>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotPath string
			h := NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotPath = r.URL.Path
				loc := tt.location
				if loc == nil {
					loc = []string{"/v2/r/blobs/uploads/1"}
				}
				links := tt.links
				if links == nil {
					links = []string{link}
				}
				w.Header()["Location"] = loc
				w.Header()["Link"] = links
				w.WriteHeader(http.StatusAccepted)
			}))
			var hdr map[string][]string
			if tt.v1 {
				e := v1Event("GET", tt.path)
				e.RequestContext.Stage, e.RequestContext.DomainName = tt.stage, tt.domain
				e.RequestContext.Path = tt.ctxPath
				e.Headers["Host"], e.MultiValueHeaders["Host"] = tt.domain, []string{tt.domain}
				res, err := h.HandleV1(context.Background(), e)
				if err != nil {
					t.Fatal(err)
				}
				hdr = res.MultiValueHeaders
			} else {
				e := v2Event("GET", tt.path, "")
				e.RequestContext.Stage, e.RequestContext.DomainName = tt.stage, tt.domain
				e.Headers["host"] = tt.domain
				res, err := h.HandleV2(context.Background(), e)
				if err != nil {
					t.Fatal(err)
				}
				hdr = map[string][]string{"Location": {res.Headers["Location"]}, "Link": {res.Headers["Link"]}}
			}
			if gotPath != tt.wantPath {
				t.Errorf("handler saw path %q, want %q", gotPath, tt.wantPath)
			}
			if got := hdr["Location"]; len(got) != 1 || got[0] != tt.wantLocation {
				t.Errorf("Location %q, want %q", got, tt.wantLocation)
			}
			if got := hdr["Link"]; len(got) != 1 || got[0] != tt.wantLink {
				t.Errorf("Link %q, want %q", got, tt.wantLink)
			}
		})
	}
}

func TestResponse(t *testing.T) {
	bin := []byte{0x1f, 0x8b, 0x08, 0x00, 0xff, 0x00, 0x80}
	tests := []struct {
		name    string
		method  string
		handler http.HandlerFunc
		status  int
		header  map[string][]string // v1 multiValueHeaders wanted (a subset)
		v2      map[string]string   // v2 headers wanted (a subset)
		cookies []string
		body    []byte
		b64     bool
	}{{
		name: "JSON stays text",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.Header().Set("Docker-Content-Digest", "sha256:abc")
			w.Write([]byte(`{"schemaVersion":2,"note":"<&>é"}`))
		},
		status: 200, body: []byte(`{"schemaVersion":2,"note":"<&>é"}`),
		header: map[string][]string{"Docker-Content-Digest": {"sha256:abc"}},
		v2:     map[string]string{"Docker-Content-Digest": "sha256:abc", "Content-Type": "application/vnd.oci.image.manifest.v1+json"},
	}, {
		name: "binary is base64",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(bin)
		},
		status: 200, body: bin, b64: true,
	}, {
		name: "octet-stream is base64 even when it is valid UTF-8",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write([]byte(`{"architecture":"amd64"}`))
		},
		status: 200, body: []byte(`{"architecture":"amd64"}`), b64: true,
	}, {
		name: "invalid UTF-8 without a content type is base64",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header()["Content-Type"] = nil // no sniffing
			w.Write(bin)
		},
		status: 200, body: bin, b64: true,
	}, {
		name: "sniffed content type",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("plain words"))
		},
		status: 200, body: []byte("plain words"),
		header: map[string][]string{"Content-Type": {"text/plain; charset=utf-8"}},
	}, {
		name: "sniffed content type after WriteHeader",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte("plain words"))
		},
		status: 201, body: []byte("plain words"),
		header: map[string][]string{"Content-Type": {"text/plain; charset=utf-8"}},
	}, {
		name: "repeated headers survive; Set-Cookie goes to cookies on v2",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Add("Warning", `299 - "first, with a comma"`)
			w.Header().Add("Warning", `299 - "second"`)
			w.Header().Add("OCI-Tag", "v1")
			w.Header().Add("OCI-Tag", "latest")
			w.Header().Add("Set-Cookie", "a=1; Path=/")
			w.Header().Add("Set-Cookie", "b=2; Path=/")
			w.WriteHeader(http.StatusCreated)
		},
		status: 201,
		header: map[string][]string{
			"Warning":    {`299 - "first, with a comma"`, `299 - "second"`},
			"Oci-Tag":    {"v1", "latest"},
			"Set-Cookie": {"a=1; Path=/", "b=2; Path=/"},
		},
		v2:      map[string]string{"Warning": `299 - "first, with a comma", 299 - "second"`, "Oci-Tag": "v1, latest"},
		cookies: []string{"a=1; Path=/", "b=2; Path=/"},
	}, {
		name:    "empty answer is 200",
		handler: func(w http.ResponseWriter, r *http.Request) {},
		status:  200,
	}, {
		name: "headers after WriteHeader are not sent",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Before", "1")
			w.WriteHeader(http.StatusAccepted)
			w.Header().Set("After", "1")
		},
		status: 202, header: map[string][]string{"Before": {"1"}, "After": nil},
	}, {
		name:   "HEAD has headers but no body",
		method: "HEAD",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "7")
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(bin)
		},
		status: 200, header: map[string][]string{"Content-Length": {"7"}},
	}, {
		name: "204 has no body",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNoContent)
			if _, err := w.Write([]byte("x")); err != http.ErrBodyNotAllowed {
				panic(err)
			}
		},
		status: 204,
	}, {
		name: "informational status is skipped",
		handler: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusContinue)
			w.WriteHeader(http.StatusCreated)
		},
		status: 201,
	}}
	for _, tt := range tests {
		for _, format := range []string{"v1", "v2"} {
			t.Run(tt.name+"/"+format, func(t *testing.T) {
				method := tt.method
				if method == "" {
					method = "GET"
				}
				h := NewHandler(tt.handler)
				var (
					status  int
					body    string
					b64     bool
					hdr     map[string][]string
					cookies []string
				)
				if format == "v1" {
					res, err := h.HandleV1(context.Background(), v1Event(method, "/v2/"))
					if err != nil {
						t.Fatal(err)
					}
					status, body, b64, hdr = res.StatusCode, res.Body, res.IsBase64Encoded, res.MultiValueHeaders
					if res.Headers != nil {
						t.Errorf("v1 headers %v: want only multiValueHeaders", res.Headers)
					}
					for k, want := range tt.header {
						if got := hdr[k]; !reflect.DeepEqual(got, want) {
							t.Errorf("%s: %q, want %q", k, got, want)
						}
					}
				} else {
					res, err := h.HandleV2(context.Background(), v2Event(method, "/v2/", ""))
					if err != nil {
						t.Fatal(err)
					}
					status, body, b64, cookies = res.StatusCode, res.Body, res.IsBase64Encoded, res.Cookies
					for k, want := range tt.v2 {
						if got := res.Headers[k]; got != want {
							t.Errorf("%s: %q, want %q", k, got, want)
						}
					}
					if _, ok := res.Headers["Set-Cookie"]; ok {
						t.Errorf("Set-Cookie in v2 headers: %v", res.Headers)
					}
					if !reflect.DeepEqual(cookies, tt.cookies) {
						t.Errorf("cookies %q, want %q", cookies, tt.cookies)
					}
				}
				if status != tt.status {
					t.Errorf("status %d, want %d", status, tt.status)
				}
				if b64 != tt.b64 {
					t.Errorf("isBase64Encoded %v, want %v", b64, tt.b64)
				}
				got := []byte(body)
				if b64 {
					var err error
					if got, err = base64.StdEncoding.DecodeString(body); err != nil {
						t.Fatal(err)
					}
				}
				if !bytes.Equal(got, tt.body) {
					t.Errorf("body %q, want %q", got, tt.body)
				}
			})
		}
	}
}

// TestResponseLimit checks that a response that would not fit in a Lambda
// response is answered with a 502 OCI error, and that one that fits is
// sent.
func TestResponseLimit(t *testing.T) {
	tests := []struct {
		name   string
		ct     string
		size   int
		fill   byte
		status int
	}{
		{name: "binary that fits in base64", ct: "application/octet-stream", size: 4 << 20, fill: 0xff, status: 200},
		{name: "binary too large in base64", ct: "application/octet-stream", size: 5 << 20, fill: 0xff, status: 502},
		{name: "text that fits", ct: "application/json", size: 6<<20 - 4096, fill: 'a', status: 200},
		{name: "text too large once escaped", ct: "application/json", size: 2 << 20, fill: '"', status: 502},
		{name: "body over the limit", ct: "application/json", size: 7 << 20, fill: 'a', status: 502},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.ct)
				w.Header().Set("X-Request-Id", "req-1")
				body := bytes.Repeat([]byte{tt.fill}, tt.size)
				for len(body) > 0 { // in pieces, as io.Copy writes
					n := min(len(body), 32<<10)
					if _, err := w.Write(body[:n]); err != nil {
						if tt.status == 200 {
							t.Errorf("write: %v", err)
						}
						return
					}
					body = body[n:]
				}
			}))
			for _, format := range []string{"v1", "v2"} {
				var payload []byte
				if format == "v1" {
					payload, _ = json.Marshal(v1Event("GET", "/v2/r/blobs/sha256:abc"))
				} else {
					payload, _ = json.Marshal(v2Event("GET", "/v2/r/blobs/sha256:abc", ""))
				}
				out, err := h.Invoke(context.Background(), payload)
				if err != nil {
					t.Fatal(err)
				}
				if tt.status == 200 && len(out) > ResponseLimit {
					t.Errorf("%s: response payload %d bytes, over %d", format, len(out), ResponseLimit)
				}
				var res struct {
					StatusCode        int                 `json:"statusCode"`
					Headers           map[string]string   `json:"headers"`
					MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
					Body              string              `json:"body"`
				}
				if err := json.Unmarshal(out, &res); err != nil {
					t.Fatal(err)
				}
				if res.StatusCode != tt.status {
					t.Fatalf("%s: status %d, want %d", format, res.StatusCode, tt.status)
				}
				if tt.status != 502 {
					continue
				}
				var e struct {
					Errors []struct{ Code, Message string }
				}
				if err := json.Unmarshal([]byte(res.Body), &e); err != nil || len(e.Errors) != 1 || e.Errors[0].Code != "UNSUPPORTED" ||
					!strings.Contains(e.Errors[0].Message, "AWS Lambda response") {
					t.Errorf("%s: body %s", format, res.Body)
				}
				id := res.Headers["X-Request-Id"]
				if format == "v1" {
					id = strings.Join(res.MultiValueHeaders["X-Request-Id"], ",")
				}
				if id != "req-1" {
					t.Errorf("%s: X-Request-Id %q", format, id)
				}
			}
		})
	}
}

func TestInvoke(t *testing.T) {
	h := NewHandler(echo)
	tests := []struct {
		name    string
		payload string
		format  string // v1, v2, or "" for an error
		path    string
	}{
		{name: "HTTP API payload 2.0", format: "v2", path: "/v2/x",
			payload: `{"version":"2.0","routeKey":"ANY /v2/{proxy+}","rawPath":"/v2/x","rawQueryString":"a=1","headers":{"host":"h"},"requestContext":{"stage":"$default","requestId":"r","http":{"method":"GET","path":"/v2/x","protocol":"HTTP/1.1","sourceIp":"192.0.2.1"}},"isBase64Encoded":false}`},
		{name: "REST API payload 1.0", format: "v1", path: "/v2/x",
			payload: `{"resource":"/v2/{proxy+}","path":"/v2/x","httpMethod":"GET","headers":null,"multiValueHeaders":null,"queryStringParameters":null,"multiValueQueryStringParameters":null,"requestContext":{"stage":"prod","requestId":"r","identity":{"sourceIp":"192.0.2.1"}},"body":null,"isBase64Encoded":false}`},
		{name: "HTTP API payload 1.0", format: "v1", path: "/v2/x",
			payload: `{"version":"1.0","resource":"/v2/{proxy+}","path":"/v2/x","httpMethod":"GET","headers":{"Host":"h"},"requestContext":{"stage":"$default","requestId":"r","identity":{"sourceIp":"192.0.2.1"}},"isBase64Encoded":false}`},
		{name: "not an API Gateway event", payload: `{"source":"aws.events","detail-type":"Scheduled Event"}`},
		{name: "not JSON", payload: `GET / HTTP/1.1`},
		{name: "body not base64", payload: `{"version":"2.0","rawPath":"/v2/x","requestContext":{"http":{"method":"PUT"}},"body":"%%%","isBase64Encoded":true}`},
		{name: "invalid method", payload: `{"httpMethod":"GET /","path":"/v2/"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := h.Invoke(context.Background(), []byte(tt.payload))
			if tt.format == "" {
				if err == nil {
					t.Fatalf("no error; answer %s", out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var res map[string]any
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatal(err)
			}
			_, mv := res["multiValueHeaders"].(map[string]any)
			if (tt.format == "v1") != mv {
				t.Errorf("answer %s: want the %s format", out, tt.format)
			}
			s := decodeSeen(t, res["body"].(string), false)
			if s.Path != tt.path || s.Method != "GET" {
				t.Errorf("saw %s %s", s.Method, s.Path)
			}
		})
	}
}
