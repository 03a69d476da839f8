package apigw

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/pier-registry/pier/internal/oci"
)

// response is the handler's answer, ready for either format.
type response struct {
	status int
	header http.Header
	body   string
	base64 bool
}

// serve runs the handler on req and returns its response, or the 502 that
// stands for a response too large for Lambda.
func (h *Handler) serve(ctx context.Context, req *request) (*response, error) {
	r, base, err := req.httpRequest(ctx)
	if err != nil {
		return nil, err
	}
	w := &responseWriter{header: http.Header{}, limit: h.limit, head: r.Method == http.MethodHead}
	h.h.ServeHTTP(w, r)
	w.WriteHeader(http.StatusOK) // when the handler wrote nothing
	hdr := w.sent
	if base != "" {
		if v := hdr["Location"]; v != nil {
			for i := range v {
				v[i] = relocate(v[i], base)
			}
		}
		if v := hdr["Link"]; v != nil {
			for i := range v {
				v[i] = relink(v[i], base)
			}
		}
	}
	res := &response{status: w.status, header: hdr}
	if !w.over {
		res.body, res.base64 = encodeBody(hdr.Get("Content-Type"), w.body.Bytes())
		if res.size() <= h.limit {
			return res, nil
		}
	}
	size := w.body.Len()
	if w.over {
		size = -1
	}
	return h.tooLarge(r, res, size), nil
}

// tooLarge is the answer to a request whose response does not fit in a
// Lambda response (size: the body's bytes, -1 when over the limit).
func (h *Handler) tooLarge(r *http.Request, res *response, size int) *response {
	id := res.header.Get("X-Request-Id")
	what := "larger than " + strconv.Itoa(h.limit) + " bytes"
	if size >= 0 {
		what = strconv.Itoa(size) + " bytes, encoded larger than " + strconv.Itoa(h.limit)
	}
	slog.Default().LogAttrs(r.Context(), slog.LevelError, "response too large for Lambda",
		slog.String("request_id", id), slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int("status", res.status), slog.Int("bytes", size))
	e := oci.Errorf(oci.CodeUnsupported,
		"the response to %s %s (%s) does not fit in an AWS Lambda response (6 MB at most): "+
			"blobs are served by redirect to storage on the aws backend; fetch large content from there, or with a Range request",
		r.Method, r.URL.Path, what)
	b, _ := json.Marshal(struct {
		Errors []*oci.Error `json:"errors"`
	}{[]*oci.Error{e}})
	hdr := http.Header{
		"Content-Type":   {"application/json"},
		"Content-Length": {strconv.Itoa(len(b))},
	}
	for _, k := range []string{"X-Request-Id", "Docker-Distribution-Api-Version"} {
		if v := res.header[k]; v != nil {
			hdr[k] = v
		}
	}
	return &response{status: http.StatusBadGateway, header: hdr, body: string(b)}
}

// size is an upper bound of the size of r's response event in JSON.
func (r *response) size() int {
	n := 100 // {"statusCode":...,"headers":{},"body":"","isBase64Encoded":...}
	for k, vs := range r.header {
		n += jsonSize(k) + 8
		for _, v := range vs {
			n += jsonSize(v) + 4
		}
	}
	return n + jsonSize(r.body)
}

// jsonSize is an upper bound of the length of s as a JSON string, quotes
// left out: bytes that encoding/json may escape count 6.
func jsonSize(s string) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20, c == '"', c == '\\', c == '<', c == '>', c == '&':
			n += 5
		case c == 0xe2: // U+2028, U+2029 (3 bytes, escaped in 6)
			n += 3
		case c >= 0x80 && !utf8.RuneStart(c):
			// Invalid UTF-8 is replaced by U+FFFD (3 bytes).
			n += 2
		}
	}
	return n
}

// encodeBody returns body as the text of a response event, or its base64
// form (binary set): empty bodies and valid UTF-8 are text unless the
// content type says the bytes are binary.
func encodeBody(contentType string, body []byte) (text string, binary bool) {
	if len(body) == 0 {
		return "", false
	}
	if utf8.Valid(body) && !binaryType(contentType) {
		return string(body), false
	}
	return base64.StdEncoding.EncodeToString(body), true
}

// binaryType reports whether a content type declares arbitrary bytes.
func binaryType(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/octet-stream" || strings.HasPrefix(mt, "image/") ||
		strings.HasPrefix(mt, "audio/") || strings.HasPrefix(mt, "video/")
}

// relocate puts base in front of a Location that is a path ("/v2/...");
// absolute URLs (presigned URLs) and network-path references stay.
func relocate(loc, base string) string {
	if strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//") {
		return base + loc
	}
	return loc
}

// relink puts base in front of the path URLs of a Link header value
// (`</v2/...?last=x>; rel="next"`, possibly several, comma-separated).
func relink(v, base string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(v, '<')
		if i < 0 {
			b.WriteString(v)
			return b.String()
		}
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			b.WriteString(v)
			return b.String()
		}
		b.WriteString(v[:i+1])
		b.WriteString(relocate(v[i+1:i+j], base))
		b.WriteByte('>')
		v = v[i+j+1:]
		// Skip the link's parameters, which may quote '<'.
		k := linkEnd(v)
		b.WriteString(v[:k])
		v = v[k:]
	}
}

// linkEnd returns the index of the comma that ends the parameters of a
// link-value at the start of v (outside quoted strings), or len(v).
func linkEnd(v string) int {
	quoted := false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == ',':
			return i
		}
	}
	return len(v)
}

func (r *response) v2() events.APIGatewayV2HTTPResponse {
	out := events.APIGatewayV2HTTPResponse{
		StatusCode:      r.status,
		Headers:         make(map[string]string, len(r.header)),
		Body:            r.body,
		IsBase64Encoded: r.base64,
	}
	for k, vs := range r.header {
		if k == "Set-Cookie" {
			out.Cookies = append(out.Cookies, vs...)
			continue
		}
		if len(vs) > 0 {
			out.Headers[k] = strings.Join(vs, ", ")
		}
	}
	return out
}

func (r *response) v1() events.APIGatewayProxyResponse {
	mv := make(map[string][]string, len(r.header))
	for k, vs := range r.header {
		if len(vs) > 0 {
			mv[k] = vs
		}
	}
	return events.APIGatewayProxyResponse{
		StatusCode:        r.status,
		MultiValueHeaders: mv,
		Body:              r.body,
		IsBase64Encoded:   r.base64,
	}
}

// responseWriter buffers a response as net/http's server would send it:
// headers are those at WriteHeader (or the first Write), HEAD responses
// and those of status 204 and 304 have no body, a missing Content-Type is
// sniffed. A body beyond limit is dropped (over is set) and its writes
// fail, so that the handler stops.
type responseWriter struct {
	header http.Header
	sent   http.Header
	status int
	body   bytes.Buffer
	limit  int
	over   bool
	head   bool
	wrote  bool // a body write was seen
}

var errTooLarge = errors.New("apigw: response body larger than a Lambda response")

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(status int) {
	if w.sent != nil {
		return
	}
	if status < 100 || status > 999 {
		panic(fmt.Sprintf("apigw: invalid WriteHeader status %d", status))
	}
	if status < 200 {
		return // informational responses are not passed on
	}
	w.status = status
	w.sent = w.header.Clone()
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.sent == nil {
		w.WriteHeader(http.StatusOK)
	}
	if w.status == http.StatusNoContent || w.status == http.StatusNotModified {
		return 0, http.ErrBodyNotAllowed
	}
	if !w.wrote && len(p) > 0 {
		// As net/http does with the first bytes of a body.
		w.wrote = true
		if _, ok := w.sent["Content-Type"]; !ok && w.sent.Get("Content-Encoding") == "" {
			w.sent.Set("Content-Type", http.DetectContentType(p))
		}
	}
	if w.head {
		return len(p), nil
	}
	if w.over || w.body.Len()+len(p) > w.limit {
		w.over = true
		return 0, errTooLarge
	}
	return w.body.Write(p)
}

// Flush is a no-op: the response goes out whole, when the handler is done.
func (w *responseWriter) Flush() {}
