package localapi

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/pier-registry/pier/internal/randid"
	"github.com/pier-registry/pier/internal/statusrec"
)

// The upload route: a CloudFront distribution in front of the front door
// (template.yaml's Cdn with UploadOrigin set) sends the requests of blob
// uploads to the upload endpoint (pier serve --backend aws on the same
// bucket, table and signing key) and everything else to the front door.
// The clients stay on the registry's host, so the bytes of a layer never
// reach Lambda, and oras (oras-go refuses an upload Location on a host
// other than the registry's) pushes like docker. API Gateway cannot route
// this way itself: an HTTP API's greedy path variable must end the route,
// and its 10 MB payload limit applies to every integration.
//
// What CloudFront does, and where AWS says so (Amazon CloudFront Developer
// Guide):
//   - Path patterns ("Values that you specify when you create or update a
//     distribution", Path pattern): "*" matches 0 or more characters, "?"
//     exactly one; patterns are case-sensitive; the query string does not
//     take part; the first cache behavior whose pattern matches, in order,
//     applies, the default behavior ("*") last.
//   - The cache behavior allows every method (GET, HEAD, OPTIONS, PUT,
//     POST, PATCH, DELETE: "Allowed HTTP methods"), caches nothing
//     (Managed-CachingDisabled) and forwards every viewer header, cookie
//     and query string (Managed-AllViewer, "Use managed origin request
//     policies"): Host included, and Authorization, which an origin
//     request policy forwards only when it forwards all viewer headers
//     ("Add custom headers to origin requests", Authorization).
//   - "Request and response behavior for custom origins": CloudFront adds
//     X-Amz-Cf-Id, appends the viewer's address to X-Forwarded-For, and
//     removes X-Forwarded-Proto, X-Real-IP, Expect, Proxy-Authorization,
//     Proxy-Connection and the X-Edge-* headers; it forwards to the origin
//     with HTTP/1.1; for PUT, POST, PATCH and DELETE it waits for the
//     origin's answer at most the origin response timeout (template.yaml:
//     60 s) and does not retry. Its answer to the viewer carries Via:
//     <version> <id>.cloudfront.net (CloudFront). The request to the
//     origin carries one as well (API Gateway's sample proxy event, a
//     request that came through CloudFront, has Via, X-Amz-Cf-Id and
//     X-Forwarded-For as here).
//   - "Quotas": request bodies (GET, POST, PUT) up to 20 GB; more gets 413.
//   - With HTTPS to the origin, one name in the origin's certificate must
//     match the origin's domain name or the forwarded Host ("Requiring
//     HTTPS for communication between CloudFront and your custom origin"):
//     the endpoint's own certificate does.
//
// The endpoint answers the whole upload (POST, PATCH, PUT, GET, DELETE)
// with Locations relative to the host the client used (it has no upload
// URL of its own), and checks the client's Bearer token from the
// function's token endpoint (same signing key, same service name).

// UploadPathPatterns are the path patterns of the cache behaviors that
// send uploads to the upload endpoint, as template.yaml writes them: the
// POST that starts an upload (with or without the trailing slash, both of
// which Pier takes) and every request on an upload session. A repository
// whose name has the components blobs/uploads in it also matches; the
// endpoint is a whole registry on the same storage and answers it alike.
var UploadPathPatterns = []string{"/v2/*/blobs/uploads", "/v2/*/blobs/uploads/*"}

// MaxCDNBody is the largest request body CloudFront forwards (20 GB,
// "Maximum file size for HTTP GET, POST, and PUT requests").
const MaxCDNBody = 20 << 30

// OriginResponseTimeout is the upload origin's response timeout in
// template.yaml (OriginReadTimeout).
const OriginResponseTimeout = 60 * time.Second

// MatchPath reports whether path matches the CloudFront path pattern: "*"
// matches any run of characters, "/" included, "?" exactly one, anything
// else itself (case-sensitive). A leading "/" is optional in a pattern.
func MatchPath(pattern, path string) bool {
	if !strings.HasPrefix(pattern, "/") {
		pattern = "/" + pattern
	}
	// Iterative wildcard matching with backtracking to the last "*".
	p, s := 0, 0
	star, mark := -1, 0
	for s < len(path) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == path[s]):
			p++
			s++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, s
			p++
		case star >= 0:
			p = star + 1
			mark++
			s = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// isUpload reports whether r goes to the upload origin.
func (f *Front) isUpload(r *http.Request) bool {
	if f.UploadOrigin == nil {
		return false
	}
	for _, p := range UploadPathPatterns {
		if MatchPath(p, r.URL.Path) {
			return true
		}
	}
	return false
}

// cdnRemoved are the viewer request headers that CloudFront removes
// before it forwards a request to a custom origin (hop-by-hop headers
// aside, which any proxy drops).
var cdnRemoved = []string{"X-Forwarded-Proto", "X-Real-Ip", "Expect", "Proxy-Authorization", "Proxy-Connection"}

// upload sends r to the upload origin as CloudFront does, and returns the
// status the viewer got.
func (f *Front) upload(w http.ResponseWriter, r *http.Request) int {
	if r.ContentLength > MaxCDNBody {
		return cdnError(w, http.StatusRequestEntityTooLarge)
	}
	f.cdnOnce.Do(f.newUploadProxy)
	e := edge{host: randid.Hex(16) + ".cloudfront.net (CloudFront)",
		id: base64.URLEncoding.EncodeToString(randid.Bytes(42)), via: viaVersion(r)}
	rec := &statusrec.Writer{ResponseWriter: w}
	f.cdnProxy.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), edgeKey{}, e)))
	return rec.Status
}

// edge is what names one request's pass through CloudFront: the edge
// server, the request's id, the viewer's HTTP version.
type edge struct{ host, id, via string }

type edgeKey struct{}

func edgeOf(ctx context.Context) edge {
	e, _ := ctx.Value(edgeKey{}).(edge)
	return e
}

// setEdgeHeaders sets the headers that CloudFront adds to its answers.
func setEdgeHeaders(h http.Header, e edge, cache string) {
	h.Set("Via", e.via+" "+e.host)
	h.Set("X-Cache", cache)
	h.Set("X-Amz-Cf-Pop", "LOCAL1-C1")
	h.Set("X-Amz-Cf-Id", e.id)
}

// newUploadProxy makes the reverse proxy of the upload route.
func (f *Front) newUploadProxy() {
	origin := f.UploadOrigin
	timeout := f.UploadTimeout
	if timeout == 0 {
		timeout = OriginResponseTimeout
	}
	f.cdnProxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(origin)
			// Managed-AllViewer forwards the viewer's Host.
			pr.Out.Host = pr.In.Host
			// Rewrite starts without the X-Forwarded-* headers; CloudFront
			// forwards X-Forwarded-Host and the others as the viewer sent
			// them, appends to X-Forwarded-For, and drops X-Forwarded-Proto.
			for k, vs := range pr.In.Header {
				if strings.HasPrefix(k, "X-Forwarded-") {
					pr.Out.Header[k] = vs
				}
			}
			for _, k := range cdnRemoved {
				pr.Out.Header.Del(k)
			}
			for k := range pr.Out.Header {
				if strings.HasPrefix(k, "X-Edge-") {
					pr.Out.Header.Del(k)
				}
			}
			xff := sourceIP(pr.In)
			if prior := pr.In.Header.Values("X-Forwarded-For"); len(prior) > 0 {
				xff = strings.Join(prior, ",") + "," + xff
			}
			pr.Out.Header.Set("X-Forwarded-For", xff)
			e := edgeOf(pr.In.Context())
			pr.Out.Header.Set("X-Amz-Cf-Id", e.id)
			via := "1.1 " + e.host
			if prior := pr.In.Header.Get("Via"); prior != "" {
				via = prior + ", " + via
			}
			pr.Out.Header.Set("Via", via)
		},
		// HTTP/1.1 to the origin, at most 10 s to connect (CloudFront's
		// origin connection timeout), the origin response timeout for the
		// answer once the request is sent.
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			ResponseHeaderTimeout: timeout,
			MaxIdleConnsPerHost:   16,
		},
		ModifyResponse: func(resp *http.Response) error {
			setEdgeHeaders(resp.Header, edgeOf(resp.Request.Context()), "Miss from cloudfront")
			return nil
		},
		ErrorLog: log.New(io.Discard, "", 0),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() != nil {
				return // the viewer went away
			}
			f.logger().Error("upload origin", "error", err.Error())
			status := http.StatusBadGateway
			if isTimeout(err) {
				status = http.StatusGatewayTimeout
			}
			setEdgeHeaders(w.Header(), edgeOf(r.Context()), "Error from cloudfront")
			cdnError(w, status)
		},
	}
}

// viaVersion is the HTTP version of r as a Via header writes it.
func viaVersion(r *http.Request) string {
	if r.ProtoMajor >= 2 {
		return fmt.Sprint(r.ProtoMajor) + ".0"
	}
	return fmt.Sprintf("%d.%d", r.ProtoMajor, r.ProtoMinor)
}

// cdnError answers as CloudFront does when it cannot get an answer from
// the origin (or will not forward the request): an HTML page.
func cdnError(w http.ResponseWriter, status int) int {
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<HTML><HEAD><TITLE>ERROR: The request could not be satisfied</TITLE></HEAD><BODY><H1>%d ERROR</H1>"+
		"<H2>The request could not be satisfied.</H2></BODY></HTML>\n", status)
	return status
}

// ParseOrigin parses the upload origin's URL (http://host:port).
func ParseOrigin(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("upload origin %q: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, errors.New("upload origin " + s + ": want http(s)://host[:port]")
	}
	u.Path = ""
	return u, nil
}
