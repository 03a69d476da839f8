// Package localapi is a local stand-in for the front doors of a Lambda
// function run by the Lambda Runtime Interface Emulator (RIE): Amazon API
// Gateway (an HTTP API, payload 2.0, or a REST API, payload 1.0, each with
// a Lambda proxy integration) and a Lambda function URL (payload 2.0 as
// well). It turns each HTTP request into the event the front door sends,
// invokes the function, and turns its answer back into an HTTP response
// as the front door changes it.
//
// It enforces the limits that the real services put on a request, with the
// status codes and bodies they answer: API Gateway takes bodies up to
// 10 MiB, and Lambda takes events up to 6 MB (after the front door has
// base64-encoded a binary body), so a layer pushed in one large request
// never reaches Pier. What each front door does, and the AWS page that
// says so, is written where it is modelled.
package localapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Limits of the real services.
const (
	// MaxBody is API Gateway's payload limit: 10 MiB.
	MaxBody = 10 << 20
	// MaxEvent is Lambda's limit on a synchronous invocation's payload.
	MaxEvent = 6291456
)

// Kind is the kind of API Gateway API.
type Kind string

// The kinds of front door, as PIER_LOCAL_API_KIND names them.
const (
	HTTP Kind = "http" // HTTP API, payload format 2.0
	REST Kind = "rest" // REST API, payload format 1.0
	URL  Kind = "url"  // Lambda function URL, payload format 2.0
)

// Valid reports whether k is a kind the front models.
func (k Kind) Valid() bool { return k == HTTP || k == REST || k == URL }

// Front is the local API Gateway. The zero value is not usable: set Kind
// and InvokeURL.
type Front struct {
	// Kind is the API's kind.
	Kind Kind
	// InvokeURL is the RIE's invocation URL
	// (http://host:port/2015-03-31/functions/function/invocations).
	InvokeURL string
	// InvokeURLs are the invocation URLs of more RIEs. Each RIE is one
	// execution environment, which serves one invocation at a time; the
	// front sends each invocation to a free one, and waits for one when
	// all are busy. So up to 1+len(InvokeURLs) invocations run at once,
	// each in its own process, as Lambda runs concurrent invocations of a
	// function in as many execution environments ("Understanding Lambda
	// function scaling", lambda-concurrency.html), and a slow invocation
	// (a large finish) does not hold the others up.
	InvokeURLs []string
	// Stage is the stage in the events: "$default" for an HTTP API,
	// "v2" for a REST API when empty (as template.yaml deploys them).
	Stage string
	// Client sends the invocations. Default: a client without timeout
	// beyond Timeout.
	Client *http.Client
	// Timeout is the integration timeout: 30 s for an HTTP API, 29 s for
	// a REST API when zero.
	Timeout time.Duration
	// Log receives a line per request. Default slog.Default().
	Log *slog.Logger
	// Gate puts the REST API's gate in front of the function (gate.go), as
	// template.yaml does. Set it when the function has auth on (as in AWS):
	// without a token endpoint behind it, the gate's challenge leads
	// nowhere. Only a REST API has it.
	Gate bool
	// UploadOrigin, when set, puts a CloudFront distribution in front of
	// the front door (template.yaml's Cdn with UploadOrigin, cdn.go): the
	// requests of blob uploads (UploadPathPatterns) go to this origin, the
	// upload endpoint, and never reach the function.
	UploadOrigin *url.URL
	// UploadTimeout is the upload origin's response timeout
	// (OriginResponseTimeout when zero).
	UploadTimeout time.Duration

	// free holds the invocation URLs of the RIEs not serving an
	// invocation (InvokeURL and InvokeURLs), made once.
	freeOnce sync.Once
	free     chan string
	// gate holds the REST API's authorizer answers (gate.go).
	gate gate
	// cdnProxy sends uploads to UploadOrigin (cdn.go), made once.
	cdnOnce  sync.Once
	cdnProxy *httputil.ReverseProxy
}

// gatewayError is the body API Gateway sends with its own errors.
type gatewayError struct {
	Message string `json:"message"`
}

// ServeHTTP sends r through the function (or, for an upload with
// UploadOrigin set, to the upload origin) and writes its answer. Its log
// line says where the request went ("to": function or upload-origin), and
// how large the function's event was when it was invoked.
func (f *Front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var (
		status int
		event  int
		to     = "function"
	)
	if f.isUpload(r) {
		to = "upload-origin"
		status = f.upload(w, r)
	} else {
		status, event = f.serve(w, r)
	}
	f.logger().Info("local api", "kind", string(f.Kind), "method", r.Method, "path", r.URL.Path, "to", to,
		"event_bytes", event, "status", status, "duration_ms", float64(time.Since(start).Microseconds())/1000)
}

func (f *Front) logger() *slog.Logger {
	if f.Log != nil {
		return f.Log
	}
	return slog.Default()
}

// serve invokes the function with r's event; it returns the status of
// the answer and the size of the event (0 when none was made: the body
// was refused first; an event over Lambda's limit is made, not sent).
func (f *Front) serve(w http.ResponseWriter, r *http.Request) (int, int) {
	// A function URL has no body limit of its own: the event's 6 MB is
	// the limit, and no body over 6 MB makes an event under it.
	limit := int64(MaxBody)
	if f.Kind == URL {
		limit = MaxEvent
	}
	if r.ContentLength > limit {
		return f.tooLarge(w), 0
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return gatewayFail(w, http.StatusBadRequest, "Bad Request"), 0
	}
	if int64(len(body)) > limit {
		return f.tooLarge(w), 0
	}
	if status := f.authorize(w, r); status != 0 {
		return status, 0
	}
	event, err := f.event(r, body)
	if err != nil {
		return gatewayFail(w, http.StatusInternalServerError, "Internal Server Error"), 0
	}
	if len(event) > MaxEvent {
		return f.eventTooLarge(w), len(event)
	}
	// As in API Gateway, a client that goes away does not end the
	// invocation: the RIE would still be running it, and takes (and
	// crashes on) no second invocation meanwhile.
	out, err := f.invoke(context.WithoutCancel(r.Context()), event)
	if err != nil {
		f.logger().Error("invoke", "error", err.Error())
		if r.Context().Err() == nil && isTimeout(err) {
			return gatewayFail(w, http.StatusGatewayTimeout, "Endpoint request timed out"), len(event)
		}
		return gatewayFail(w, http.StatusInternalServerError, "Internal Server Error"), len(event)
	}
	status, err := f.respond(w, out)
	if err != nil {
		f.logger().Error("function response", "error", err.Error())
		return gatewayFail(w, http.StatusInternalServerError, "Internal Server Error"), len(event)
	}
	return status, len(event)
}

// tooLargeURL is the body of a function URL's 413: Lambda's
// RequestEntityTooLargeException of the Invoke operation (status 413,
// "Lambda quotas": 6 MB of request payload for a synchronous invocation,
// config-rs-invoke-furls.html: BUFFERED function URLs invoke with Invoke).
// The exact body a function URL sends is not documented.
const tooLargeURL = `{"Message":"Request must be smaller than 6291456 bytes for the InvokeFunction operation","Type":"User"}`

// tooLarge answers a request over the limits as the kind's front door does.
func (f *Front) tooLarge(w http.ResponseWriter) int {
	if f.Kind == URL {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		io.WriteString(w, tooLargeURL)
		return http.StatusRequestEntityTooLarge
	}
	// A REST API's REQUEST_TOO_LARGE gateway response cannot be
	// customised ("Amazon API Gateway important notes for REST APIs"):
	// both API Gateway kinds answer with their default body.
	return gatewayFail(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
}

// eventTooLarge answers a request whose body the front door took but
// whose event is over Lambda's 6 MB: Lambda's Invoke refuses it
// (RequestEntityTooLargeException). Before a function URL that is
// Lambda's own 413. API Gateway "treats all invocation and function
// errors as internal errors. If the Lambda API rejects the invocation
// request, API Gateway returns a 500 error code" (Lambda developer guide,
// "Handling Lambda errors with an API Gateway API"), with the body
// {"message": "Internal server error"}; an HTTP API's troubleshooting page
// ("Troubleshooting issues with HTTP API Lambda integrations") shows its
// Lambda integration errors as {"message":"Internal Server Error"}.
func (f *Front) eventTooLarge(w http.ResponseWriter) int {
	switch f.Kind {
	case URL:
		return f.tooLarge(w)
	case REST:
		return gatewayFail(w, http.StatusInternalServerError, "Internal server error")
	default:
		return gatewayFail(w, http.StatusInternalServerError, "Internal Server Error")
	}
}

func gatewayFail(w http.ResponseWriter, status int, msg string) int {
	b, _ := json.Marshal(gatewayError{msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
	return status
}

func isTimeout(err error) bool {
	var ne net.Error
	return err != nil && (strings.Contains(err.Error(), "deadline exceeded") || errors.As(err, &ne) && ne.Timeout())
}

// invoke posts event to the RIE and returns the function's answer.
func (f *Front) invoke(ctx context.Context, event []byte) ([]byte, error) {
	timeout := f.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
		if f.Kind == REST {
			timeout = 29 * time.Second
		}
		if f.Kind == URL {
			// A function URL waits for the function's own timeout
			// (template.yaml: 29 s; Lambda ends the run then).
			timeout = 29 * time.Second
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	invokeURL, err := f.takeRIE(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { f.free <- invokeURL }()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, invokeURL, bytes.NewReader(event))
	if err != nil {
		return nil, err
	}
	client := f.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("invoke: %s: %s", resp.Status, out)
	}
	return out, nil
}
