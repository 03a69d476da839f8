package main

// The large-layer scenarios of the interop suite: the clients push an
// image with a 60 MB layer (random bytes, made once) to the local Lambda
// path with an upload endpoint (startUploads: auth on, a second pier
// serve --backend aws on the same storage), behind each front door (HTTP
// API, REST API, function URL), and pull it back byte-exact. The layer's
// bytes go to the endpoint, and no request over Lambda's payload limit
// reaches the function (the local front doors refuse those: 413 over a
// body limit, API Gateway's 500 for an event Lambda refuses).
//
// Two ways to the endpoint:
//   - upload-route: the front plays a CloudFront distribution that sends
//     the upload requests (/v2/*/blobs/uploads[/*]) on the registry's own
//     host to the endpoint (template.yaml's UploadOrigin). Every client
//     pushes there: crane, oras and skopeo.
//   - upload-endpoint: the function answers the POST that starts an
//     upload with a Location on the endpoint's host (PIER_UPLOAD_URL).
//     crane and skopeo follow it (docker too:
//     lambda-upload-endpoint/docker-large-layer, interop_docker_test.go,
//     which also runs docker through the route: lambda-upload-route);
//     oras (oras-go) refuses a Location on another host, which the
//     scenario checks.
//
//	make interop   # runs them with the rest of the suite

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func TestInteropLargeLayers(t *testing.T) {
	skipUnlessInterop(t)
	tools := interopClients(t)
	im := newSizedAuthImage(t, largeLayer)
	for _, kind := range []string{"http", "rest", "url"} {
		name := map[string]string{"http": "lambda", "rest": "lambda-rest", "url": "lambda-url"}[kind]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, mode := range []struct {
				name    string
				routed  bool
				clients []string
			}{
				{"upload-route", true, []string{"crane", "oras", "skopeo"}},
				{"upload-endpoint", false, []string{"crane", "oras", "skopeo"}},
			} {
				t.Run(mode.name, func(t *testing.T) {
					u := startUploads(t, kind, mode.routed)
					if mode.routed {
						checkRouteChallenge(t, u)
					}
					for _, client := range mode.clients {
						t.Run(client+"-large-layer", func(t *testing.T) {
							start := time.Now()
							interopLargeLayer(t, tools, u, authClientNamed(client), im)
							t.Logf("%s/%s/%s-large-layer: %s", name, mode.name, client, time.Since(start).Round(time.Millisecond))
						})
					}
				})
			}
		})
	}
}

// interopLargeLayer logs in to u's Lambda path with cl, pushes im (its
// 60 MB layer) to large/<client>, checks where the bytes went, and pulls
// the image back from the Lambda path, byte for byte.
//
// In the cross-host mode oras (oras-go) refuses the upload Location on
// the endpoint's host, so it cannot push through the Lambda path at all
// (small blobs neither): the scenario checks that refusal, which is why
// the upload route exists.
func interopLargeLayer(t *testing.T, tools clients, u *uploadPath, cl authClient, im authImage) {
	c := newClientEnv(t, tools)
	c.fronts = []*front{u.lambda, u.upload}
	im.write(t, c)
	r := c.exec(t, strings.NewReader(uploadPassword+"\n"), cl.name, cl.login(u.lambda.host, uploadUser)...)
	if r.err != nil {
		r.fatalf(t, "login to %s as %s failed", u.lambda.host, uploadUser)
	}
	ref := u.lambda.host + "/large/" + cl.name + ":v1"
	if cl.name == "oras" && !u.routed {
		r := c.fails(t, cl.name, cl.push(ref)...)
		outputSays(t, r, "is on a different host than the registry")
		return
	}
	lm, um := u.marks()
	fm := u.functionMark(t)
	push := cl.pushPull(t, c, ref, im)
	if u.routed {
		u.checkRoutedPush(t, lm, um, fm, largeLayer)
	} else {
		u.checkLargePush(t, lm, um, largeLayer)
	}
	if t.Failed() {
		push.errorf(t, "the push whose exchanges are above")
	}
}

// gatewayLine is a line of the local front's log (internal/localapi).
type gatewayLine struct {
	Msg        string `json:"msg"`
	Method     string `json:"method"`
	Path       string `json:"path"`
	To         string `json:"to"`
	EventBytes int    `json:"event_bytes"`
	Status     int    `json:"status"`
}

// gatewayLines returns the request lines of u's front's log.
func (u *uploadPath) gatewayLines(t *testing.T) []gatewayLine {
	t.Helper()
	f, err := os.Open(u.gatewayLog)
	if err != nil {
		t.Fatalf("the local front's log: %v", err)
	}
	defer f.Close()
	var lines []gatewayLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l gatewayLine
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "local api" {
			lines = append(lines, l)
		}
	}
	return lines
}

// functionMark is where the front's log stands (routed mode; 0 otherwise).
func (u *uploadPath) functionMark(t *testing.T) int {
	if !u.routed {
		return 0
	}
	return len(u.gatewayLines(t))
}

// checkRoutedPush checks, since the marks, a push through the upload
// route of a layer of at least size bytes: the endpoint received the
// layer's bytes in PATCH or PUT requests, each with the client's Bearer
// token from the function's token endpoint, the front sent every upload
// request there, and every request it sent to the function made an
// event within Lambda's payload limit (none answered 413 or 5xx).
func (u *uploadPath) checkRoutedPush(t *testing.T, lambdaMark, uploadMark, functionMark int, size int64) {
	t.Helper()
	sent, ex := u.uploaded(uploadMark)
	for _, e := range ex {
		// The token of the function's token endpoint is good at the
		// endpoint (same signing key and service): no second challenge.
		if e.auth != "Bearer" || e.status == http.StatusUnauthorized {
			t.Errorf("at the upload endpoint: %s; want the client's Bearer token from the function's token endpoint, accepted", e)
		}
	}
	if sent < size {
		t.Errorf("the upload endpoint received %d bytes in PATCH and PUT requests; want the %d of the large layer (%d exchanges)", sent, size, len(ex))
	}
	uploads, invoked := 0, 0
	for _, l := range u.gatewayLines(t)[functionMark:] {
		upload := strings.Contains(l.Path, "/blobs/uploads")
		switch {
		case l.To == "upload-origin":
			uploads++
		case upload:
			t.Errorf("%s %s went to the function, not to the upload endpoint", l.Method, l.Path)
		case l.EventBytes > lambdaPayloadLimit || l.Status == http.StatusRequestEntityTooLarge || l.Status >= 500:
			t.Errorf("%s %s: an event of %d bytes for the function, answered %d", l.Method, l.Path, l.EventBytes, l.Status)
		default:
			invoked++
		}
	}
	if uploads == 0 || invoked == 0 {
		t.Errorf("the front sent %d requests to the upload endpoint and %d to the function; want some of each", uploads, invoked)
	}
	for _, e := range u.lambda.since(lambdaMark) {
		if e.status == http.StatusRequestEntityTooLarge || e.status >= 500 {
			t.Errorf("the Lambda path answered %d: %s", e.status, e)
		}
	}
}

// interopDockerLargeRoute is interopDockerLargeLambda through the upload
// route (HTTP API): docker pushes to the Lambda path's host, whose front
// sends the upload requests to the endpoint.
func interopDockerLargeRoute(t *testing.T, d *dockerd, tools clients) {
	u := startUploads(t, "http", true)
	c := d.env(t, tools, u.lambda, u.upload)
	r := c.exec(t, strings.NewReader(uploadPassword+"\n"), "docker", "login", "-u", uploadUser, "--password-stdin", u.lambda.host)
	if r.err != nil {
		r.fatalf(t, "docker login failed")
	}
	lm, um := u.marks() // after startUploads's probe
	fm := u.functionMark(t)
	interopDockerLarge(t, c, u.lambda.host, "lambda-upload-route")
	u.checkRoutedPush(t, lm, um, fm, largeLayer)
}

// checkRouteChallenge checks that an upload request without credentials,
// which the route sends to the endpoint, is challenged with the token
// endpoint on the registry's host (the Host that CloudFront forwards),
// not the endpoint's, and through CloudFront.
func checkRouteChallenge(t *testing.T, u *uploadPath) {
	t.Helper()
	resp := call(t, http.MethodPost, "http://"+u.lambda.host+"/v2/large/probe/blobs/uploads/", nil)
	resp.Body.Close()
	want := `realm="http://` + u.lambda.host + `/v2/token"`
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), want) ||
		!strings.Contains(resp.Header.Get("Via"), "(CloudFront)") {
		t.Errorf("POST /v2/<name>/blobs/uploads/ without credentials through the route: %s, WWW-Authenticate %q, Via %q; want 401 from the endpoint through CloudFront, with %s",
			resp.Status, resp.Header.Get("WWW-Authenticate"), resp.Header.Get("Via"), want)
	}
}
