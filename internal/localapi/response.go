package localapi

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"

	"github.com/aws/aws-lambda-go/events"
)

// respond writes the function's answer out.
func (f *Front) respond(w http.ResponseWriter, out []byte) (int, error) {
	var probe struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}
	if json.Unmarshal(out, &probe) == nil && probe.ErrorType != "" {
		return 0, fmt.Errorf("function error %s: %s", probe.ErrorType, probe.ErrorMessage)
	}
	var (
		status  int
		headers = http.Header{}
		body    string
		b64     bool
	)
	if f.Kind == REST {
		var resp events.APIGatewayProxyResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			return 0, err
		}
		status, body, b64 = resp.StatusCode, resp.Body, resp.IsBase64Encoded
		mergeHeaders(headers, resp.Headers, resp.MultiValueHeaders)
	} else {
		var resp events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			return 0, err
		}
		status, body, b64 = resp.StatusCode, resp.Body, resp.IsBase64Encoded
		mergeHeaders(headers, resp.Headers, resp.MultiValueHeaders)
		for _, c := range resp.Cookies {
			headers.Add("Set-Cookie", c)
		}
	}
	if status == 0 {
		return 0, fmt.Errorf("function answered no status code")
	}
	raw := []byte(body)
	if b64 {
		var err error
		if raw, err = base64.StdEncoding.DecodeString(body); err != nil {
			return 0, fmt.Errorf("function body: %w", err)
		}
	}
	f.remap(headers)
	keys := make([]string, 0, len(headers))
	for k := range headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		w.Header()[k] = headers[k]
	}
	if len(raw) > 0 || headers.Get("Content-Length") == "" {
		w.Header().Set("Content-Length", fmt.Sprint(len(raw)))
	}
	w.WriteHeader(status)
	w.Write(raw)
	return status, nil
}

// remappedREST are the response headers of a Lambda proxy integration that
// a REST API renames to X-Amzn-Remapped-<name>: the table of headers in
// "Amazon API Gateway important notes for REST APIs" (API Gateway
// Developer Guide, api-gateway-known-issues.html) marks each of them
// "Remapped" for integration responses, whatever the status code. A
// WWW-Authenticate of a 401 is renamed too (reported in
// dherault/serverless-offline#236 and on forum.serverless.com, "HTTP Basic
// auth with Lambda/API Gateway"): clients see no challenge.
var remappedREST = []string{
	"Authorization", "Connection", "Content-Md5", "Max-Forwards", "Server", "User-Agent", "Www-Authenticate",
}

// remap renames the response headers that the kind's API renames. The
// HTTP API's "important notes" and the payload 2.0 response format list
// no renamed response header, nor do Lambda's function URL pages; a REST
// API renames those of remappedREST.
func (f *Front) remap(h http.Header) {
	if f.Kind != REST {
		return
	}
	for _, k := range remappedREST {
		if vs, ok := h[k]; ok {
			delete(h, k)
			h["X-Amzn-Remapped-"+k] = vs
		}
	}
}

// mergeHeaders puts a function response's headers into h: the
// single-valued ones, replaced by the multi-valued ones where both are
// set, as API Gateway does.
func mergeHeaders(h http.Header, single map[string]string, multi map[string][]string) {
	for k, v := range single {
		h.Set(k, v)
	}
	for k, vs := range multi {
		h.Del(k)
		for _, v := range vs {
			h.Add(k, v)
		}
	}
}
