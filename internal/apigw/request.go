package apigw

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/pier-registry/pier/internal/httpapi"
)

// request is an event of either format, reduced to what the handler gets.
type request struct {
	method string
	// path is the path of the request as API Gateway gives it: escaped
	// (payload 2.0's rawPath) when escaped is set, else decoded (payload
	// 1.0's path).
	path    string
	escaped bool
	// public is set when path is the whole path the client asked for,
	// stage or base path included (payload 1.0's requestContext.path):
	// then the stage is never guessed.
	public bool
	// query is the raw (escaped) query string.
	query     string
	header    http.Header
	body      string
	base64    bool
	protocol  string
	sourceIP  string
	stage     string
	domain    string
	requestID string
}

func fromV2(e *events.APIGatewayV2HTTPRequest) (*request, error) {
	c := &e.RequestContext
	hdr := make(http.Header, len(e.Headers)+1)
	for k, v := range e.Headers {
		k = http.CanonicalHeaderKey(k)
		hdr[k] = append(hdr[k], v)
	}
	if len(e.Cookies) > 0 {
		hdr["Cookie"] = []string{strings.Join(e.Cookies, "; ")}
	}
	path := e.RawPath
	if path == "" {
		path = c.HTTP.Path
	}
	return &request{
		method:    c.HTTP.Method,
		path:      path,
		escaped:   true,
		query:     e.RawQueryString,
		header:    hdr,
		body:      e.Body,
		base64:    e.IsBase64Encoded,
		protocol:  c.HTTP.Protocol,
		sourceIP:  c.HTTP.SourceIP,
		stage:     c.Stage,
		domain:    c.DomainName,
		requestID: c.RequestID,
	}, nil
}

func fromV1(e *events.APIGatewayProxyRequest) (*request, error) {
	c := &e.RequestContext
	hdr := make(http.Header, len(e.Headers))
	for k, vs := range e.MultiValueHeaders {
		k = http.CanonicalHeaderKey(k)
		hdr[k] = append(hdr[k], vs...)
	}
	for k, v := range e.Headers {
		// headers has the last value of each header, which
		// multiValueHeaders, when sent, already holds.
		if k = http.CanonicalHeaderKey(k); hdr[k] == nil {
			hdr[k] = []string{v}
		}
	}
	method := e.HTTPMethod
	if method == "" {
		method = c.HTTPMethod
	}
	// requestContext.path is the path the client asked for, with the
	// stage (or a custom domain's base path); path is what the resource
	// matched. A REST API whose stage is named v2 and whose resources
	// are / and /{proxy+} serves the registry at the root of its host.
	path, public := e.Path, false
	if c.Path != "" {
		path, public = c.Path, true
	}
	return &request{
		method:    method,
		path:      path,
		public:    public,
		query:     queryV1(e.MultiValueQueryStringParameters, e.QueryStringParameters),
		header:    hdr,
		body:      e.Body,
		base64:    e.IsBase64Encoded,
		protocol:  c.Protocol,
		sourceIP:  c.Identity.SourceIP,
		stage:     c.Stage,
		domain:    c.DomainName,
		requestID: c.RequestID,
	}, nil
}

// queryV1 is the query string of payload 1.0's decoded parameters:
// multiValueQueryStringParameters (every value of a repeated parameter),
// else queryStringParameters (the last one). Keys are sorted; the values
// of a key keep their order.
func queryV1(multi map[string][]string, single map[string]string) string {
	if len(multi) == 0 && len(single) == 0 {
		return ""
	}
	q := make(url.Values, len(multi)+len(single))
	for k, vs := range multi {
		q[k] = vs
	}
	for k, v := range single {
		if _, ok := q[k]; !ok {
			q[k] = []string{v}
		}
	}
	return q.Encode()
}

// httpRequest returns the *http.Request of r and the public base path of
// its URLs (see the package documentation).
func (r *request) httpRequest(ctx context.Context) (*http.Request, string, error) {
	var body []byte
	if r.base64 {
		var err error
		if body, err = base64.StdEncoding.DecodeString(r.body); err != nil {
			return nil, "", fmt.Errorf("apigw: the event's body is marked isBase64Encoded but is not base64: %w", err)
		}
	} else {
		body = []byte(r.body)
	}

	host := r.header.Get("Host")
	if host == "" {
		host = r.domain
	}
	base, path := splitBase(r.path)
	if base == "/$default" {
		// The $default stage is served at the root of its URL.
		base = ""
	} else if base == "" && !r.public && r.stage != "" && r.stage != "$default" && validBase("/"+r.stage) {
		domain := r.domain
		if domain == "" {
			domain = host
		}
		if strings.Contains(strings.ToLower(domain), ".execute-api.") {
			base = "/" + r.stage
		}
	}
	u := &url.URL{Path: path, RawQuery: r.query}
	if r.escaped {
		if p, err := url.PathUnescape(path); err == nil && p != path {
			u.Path, u.RawPath = p, path
		}
	}
	if u.Path == "" {
		u.Path = "/"
	}

	if r.requestID != "" {
		ctx = httpapi.WithRequestID(ctx, r.requestID)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, "/", http.NoBody)
	if err != nil {
		return nil, "", fmt.Errorf("apigw: %w", err)
	}
	req.URL = u
	req.RequestURI = u.RequestURI()
	req.Proto = "HTTP/1.1"
	req.ProtoMajor, req.ProtoMinor = 1, 1
	if major, minor, ok := http.ParseHTTPVersion(r.protocol); ok {
		req.Proto, req.ProtoMajor, req.ProtoMinor = r.protocol, major, minor
	}
	// As net/http's server does: Host is a field, not a header, and the
	// body is whole, whatever the client's framing was.
	req.Host = host
	hdr := r.header
	delete(hdr, "Host")
	delete(hdr, "Transfer-Encoding")
	req.Header = hdr
	req.ContentLength = int64(len(body))
	if len(body) > 0 || hdr["Content-Length"] != nil {
		hdr["Content-Length"] = []string{strconv.Itoa(len(body))}
	}
	if len(body) > 0 {
		req.Body = readCloser{bytes.NewReader(body)}
	}
	req.GetBody = nil
	if r.sourceIP != "" {
		req.RemoteAddr = net.JoinHostPort(r.sourceIP, "0")
	}
	proto, _, _ := strings.Cut(hdr.Get("X-Forwarded-Proto"), ",")
	if strings.EqualFold(strings.TrimSpace(proto), "https") {
		name, _, err := net.SplitHostPort(host)
		if err != nil {
			name = host
		}
		req.TLS = &tls.ConnectionState{HandshakeComplete: true, ServerName: name}
	}
	return req, base, nil
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// splitBase cuts path before its first /v2 segment: base is what comes
// before (a stage or a base path mapping), rest the path the handler
// serves. A path that does not start with /v2 and has no /v2 segment
// after a valid base is left whole (the handler answers it 404).
func splitBase(path string) (base, rest string) {
	if path == "/v2" || strings.HasPrefix(path, "/v2/") {
		return "", path
	}
	i := strings.Index(path, "/v2/")
	if i < 0 && strings.HasSuffix(path, "/v2") {
		i = len(path) - len("/v2")
	}
	if i <= 0 || !validBase(path[:i]) {
		return "", path
	}
	return path[:i], path[i:]
}

// validBase reports whether base is a base path to put in front of the
// handler's URLs: one or more segments of unreserved characters, none of
// them "." or ".." (so never "//host", which would send clients away).
func validBase(base string) bool {
	if base == "" || base[0] != '/' {
		return false
	}
	return !slices.ContainsFunc(strings.Split(base[1:], "/"), func(seg string) bool {
		if seg == "" || seg == "." || seg == ".." {
			return true
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~$", c) >= 0) {
				return true
			}
		}
		return false
	})
}
