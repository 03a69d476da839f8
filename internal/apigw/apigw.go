// Package apigw runs an http.Handler behind Amazon API Gateway: it turns
// the Lambda proxy events of an HTTP API (payload 2.0) and of a REST API
// (payload 1.0) into *http.Request values and the handler's answer into
// the matching response event. One Handler serves both front doors:
// Invoke recognises the payload format of each event.
//
// # Requests
//
// The handler sees what net/http would give it: method, path (escaped
// path kept in URL.RawPath for payload 2.0, whose rawPath is as the client
// sent it), raw query (payload 1.0's decoded parameters are escaped again),
// headers (repeated ones from multiValueHeaders; payload 2.0 sends them
// comma-joined, and its cookies as one Cookie header), the body (decoded
// from base64 when isBase64Encoded), ContentLength, Host (the Host header,
// else requestContext.domainName), RemoteAddr (the source IP), TLS (set
// when X-Forwarded-Proto is https) and RequestURI. The context carries
// requestContext.requestId as the request id of httpapi.WithRequestID, so
// logs and error bodies name the id API Gateway knows.
//
// # Base path (stage)
//
// A client's URL may have path segments before /v2 that the handler must
// not see, and the handler's own relative URLs (Location: /v2/...,
// Link: </v2/...>) must get them back:
//
//   - A REST API's default URL has the stage
//     (https://abc123.execute-api.us-east-1.amazonaws.com/prod/v2/...) but
//     the event's path does not.
//   - An HTTP API's named stage (not $default) is in rawPath.
//   - A custom domain's base path mapping may be in the path.
//
// So the public base path of a request is the part of its path before the
// first /v2 segment, when there is one (it is cut off before the handler
// sees the path); otherwise, when the request came through an execute-api
// domain (requestContext.domainName, else Host, contains ".execute-api.")
// with a stage other than $default, it is /<stage>. Through a custom
// domain with no base path it is empty. Response headers Location and Link
// whose URLs are relative paths ("/v2/...") get the base path in front;
// absolute URLs (presigned S3 URLs) are left as they are.
//
// # Responses
//
// Status, headers and body go back in the event of the request's format:
// payload 2.0 comma-joins repeated headers (", " is valid for list headers
// such as Warning and OCI-Tag) and moves Set-Cookie to cookies; payload
// 1.0 uses multiValueHeaders. A body is sent as text when it is valid
// UTF-8 and not declared application/octet-stream (JSON, manifests, error
// bodies), else base64-encoded (blob bytes). A response that would not fit
// in Lambda's 6 MB response payload is not attempted: the client gets a
// 502 with an OCI error body that says why.
package apigw

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
)

// ResponseLimit is the largest response payload, in bytes, that Handler
// returns to Lambda: the JSON of the response event, headers and (encoded)
// body included. Lambda refuses a synchronous response over 6 MB; this is
// 6 MiB, a little under the limit Lambda enforces (6,291,556 bytes).
const ResponseLimit = 6 << 20

// Handler serves API Gateway proxy events with an http.Handler. It is a
// lambda.Handler: lambda.Start(apigw.NewHandler(h)) serves both payload
// formats with one function.
type Handler struct {
	h     http.Handler
	limit int
}

// NewHandler returns a Handler that serves events with h.
func NewHandler(h http.Handler) *Handler {
	return &Handler{h: h, limit: ResponseLimit}
}

// HandleV2 serves an event of an HTTP API (payload format 2.0). The error
// is that of a malformed event (a body that is not base64, an invalid
// method): the handler's own errors are responses.
func (h *Handler) HandleV2(ctx context.Context, e events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	req, err := fromV2(&e)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	res, err := h.serve(ctx, req)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	return res.v2(), nil
}

// HandleV1 serves an event of a REST API (payload format 1.0, which an
// HTTP API may also send).
func (h *Handler) HandleV1(ctx context.Context, e events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	req, err := fromV1(&e)
	if err != nil {
		return events.APIGatewayProxyResponse{}, err
	}
	res, err := h.serve(ctx, req)
	if err != nil {
		return events.APIGatewayProxyResponse{}, err
	}
	return res.v1(), nil
}

// Invoke serves the raw JSON event payload: payload 2.0 when it has
// "version":"2.0" and a rawPath (or requestContext.http.method), payload
// 1.0 when it has an httpMethod, and a REST API's REQUEST authorizer event
// ("type":"REQUEST" and a methodArn), which it allows (authorizer.go). It implements lambda.Handler. The event is
// decoded once, whatever its format.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var e anyEvent
	if err := json.Unmarshal(payload, &e); err != nil {
		return nil, fmt.Errorf("apigw: the event is not an API Gateway proxy event: %w", err)
	}
	var out any
	switch {
	case authorizerEvent(&e):
		res, err := allow(e.MethodArn)
		if err != nil {
			return nil, err
		}
		out = res
	case e.Version == "2.0" && (e.RawPath != "" || e.RequestContext.HTTP.Method != ""):
		res, err := h.HandleV2(ctx, e.v2())
		if err != nil {
			return nil, err
		}
		out = res
	case e.HTTPMethod != "":
		res, err := h.HandleV1(ctx, e.v1())
		if err != nil {
			return nil, err
		}
		out = res
	default:
		return nil, errors.New(`apigw: the event is not an API Gateway proxy event: it has neither "version":"2.0" with "rawPath" (HTTP API) nor "httpMethod" (REST API)`)
	}
	return marshal(out)
}

// marshal encodes v as JSON without HTML escaping (as the Lambda runtime
// does), which keeps Link headers and text bodies as small as they are.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// anyEvent holds the fields of both payload formats that Handler reads, so
// that Invoke decodes an event (with a body of up to 6 MB) only once.
type anyEvent struct {
	// payload 2.0
	Version        string   `json:"version"`
	RouteKey       string   `json:"routeKey"`
	RawPath        string   `json:"rawPath"`
	RawQueryString string   `json:"rawQueryString"`
	Cookies        []string `json:"cookies"`
	// a REST API's REQUEST authorizer (authorizer.go)
	Type      string `json:"type"`
	MethodArn string `json:"methodArn"`
	// payload 1.0
	Resource                        string              `json:"resource"`
	Path                            string              `json:"path"`
	HTTPMethod                      string              `json:"httpMethod"`
	MultiValueHeaders               map[string][]string `json:"multiValueHeaders"`
	MultiValueQueryStringParameters map[string][]string `json:"multiValueQueryStringParameters"`
	// both
	Headers               map[string]string `json:"headers"`
	QueryStringParameters map[string]string `json:"queryStringParameters"`
	PathParameters        map[string]string `json:"pathParameters"`
	StageVariables        map[string]string `json:"stageVariables"`
	Body                  string            `json:"body"`
	IsBase64Encoded       bool              `json:"isBase64Encoded"`
	RequestContext        struct {
		AccountID  string `json:"accountId"`
		APIID      string `json:"apiId"`
		Stage      string `json:"stage"`
		RequestID  string `json:"requestId"`
		DomainName string `json:"domainName"`
		// payload 2.0
		RouteKey string                                               `json:"routeKey"`
		HTTP     events.APIGatewayV2HTTPRequestContextHTTPDescription `json:"http"`
		// payload 1.0
		Protocol     string `json:"protocol"`
		HTTPMethod   string `json:"httpMethod"`
		Path         string `json:"path"`
		ResourcePath string `json:"resourcePath"`
		Identity     struct {
			SourceIP  string `json:"sourceIp"`
			UserAgent string `json:"userAgent"`
		} `json:"identity"`
	} `json:"requestContext"`
}

func (e *anyEvent) v2() events.APIGatewayV2HTTPRequest {
	c := &e.RequestContext
	return events.APIGatewayV2HTTPRequest{
		Version:               e.Version,
		RouteKey:              e.RouteKey,
		RawPath:               e.RawPath,
		RawQueryString:        e.RawQueryString,
		Cookies:               e.Cookies,
		Headers:               e.Headers,
		QueryStringParameters: e.QueryStringParameters,
		PathParameters:        e.PathParameters,
		StageVariables:        e.StageVariables,
		Body:                  e.Body,
		IsBase64Encoded:       e.IsBase64Encoded,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:   c.RouteKey,
			AccountID:  c.AccountID,
			Stage:      c.Stage,
			RequestID:  c.RequestID,
			APIID:      c.APIID,
			DomainName: c.DomainName,
			HTTP:       c.HTTP,
		},
	}
}

func (e *anyEvent) v1() events.APIGatewayProxyRequest {
	c := &e.RequestContext
	return events.APIGatewayProxyRequest{
		Resource:                        e.Resource,
		Path:                            e.Path,
		HTTPMethod:                      e.HTTPMethod,
		Headers:                         e.Headers,
		MultiValueHeaders:               e.MultiValueHeaders,
		QueryStringParameters:           e.QueryStringParameters,
		MultiValueQueryStringParameters: e.MultiValueQueryStringParameters,
		PathParameters:                  e.PathParameters,
		StageVariables:                  e.StageVariables,
		Body:                            e.Body,
		IsBase64Encoded:                 e.IsBase64Encoded,
		RequestContext: events.APIGatewayProxyRequestContext{
			AccountID:    c.AccountID,
			Stage:        c.Stage,
			DomainName:   c.DomainName,
			RequestID:    c.RequestID,
			Protocol:     c.Protocol,
			HTTPMethod:   c.HTTPMethod,
			Path:         c.Path,
			ResourcePath: c.ResourcePath,
			APIID:        c.APIID,
			Identity: events.APIGatewayRequestIdentity{
				SourceIP:  c.Identity.SourceIP,
				UserAgent: c.Identity.UserAgent,
			},
		},
	}
}
