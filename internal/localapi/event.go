package localapi

import (
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/pier-registry/pier/internal/randid"
)

// event builds the event of r for the kind's API.
func (f *Front) event(r *http.Request, body []byte) ([]byte, error) {
	encoded, isBase64 := encodeBody(r.Header.Get("Content-Type"), body)
	id := requestID()
	host := r.Host
	now := time.Now()
	if f.Kind == REST {
		// As template.yaml deploys it: the stage is named v2 and the
		// resources are / and /{proxy+}, so that the registry is at the
		// root of the host. path is what the resource matched;
		// requestContext.path is what the client asked for.
		stage, matched := f.restPath(r)
		ev := events.APIGatewayProxyRequest{
			Resource:                        "/{proxy+}",
			Path:                            matched,
			HTTPMethod:                      r.Method,
			Headers:                         map[string]string{},
			MultiValueHeaders:               map[string][]string{},
			QueryStringParameters:           map[string]string{},
			MultiValueQueryStringParameters: map[string][]string{},
			PathParameters:                  map[string]string{"proxy": strings.TrimPrefix(matched, "/")},
			Body:                            encoded,
			IsBase64Encoded:                 isBase64,
			RequestContext: events.APIGatewayProxyRequestContext{
				AccountID:        "123456789012",
				ResourcePath:     "/{proxy+}",
				Stage:            stage,
				RequestID:        id,
				Identity:         events.APIGatewayRequestIdentity{SourceIP: sourceIP(r), UserAgent: r.UserAgent()},
				HTTPMethod:       r.Method,
				APIID:            "local",
				DomainName:       host,
				Protocol:         r.Proto,
				Path:             r.URL.Path,
				RequestTimeEpoch: now.UnixMilli(),
			},
		}
		if matched == "/" {
			ev.Resource, ev.RequestContext.ResourcePath, ev.PathParameters = "/", "/", nil
		}
		for k, vs := range r.Header {
			ev.Headers[k] = vs[len(vs)-1]
			ev.MultiValueHeaders[k] = vs
		}
		ev.Headers["Host"], ev.MultiValueHeaders["Host"] = host, []string{host}
		for k, vs := range r.URL.Query() {
			ev.QueryStringParameters[k] = vs[len(vs)-1]
			ev.MultiValueQueryStringParameters[k] = vs
		}
		return json.Marshal(ev)
	}
	stage := f.Stage
	if stage == "" {
		stage = "$default"
	}
	// An HTTP API with template.yaml's one route, $default; a function
	// URL's event is the same payload 2.0 with routeKey and stage
	// "$default", apiId and domainPrefix the URL's id and domainName
	// <url-id>.lambda-url.<region>.on.aws (the request payload of
	// "Invoking Lambda function URLs", urls-invocation.html). Here the
	// domain is the host the client asked for, as a CloudFront
	// distribution in front of the URL forwards it (x-forwarded-host).
	apiID := "local"
	if f.Kind == URL {
		apiID = "localurl"
	}
	ev := events.APIGatewayV2HTTPRequest{
		Version:         "2.0",
		RouteKey:        "$default",
		RawPath:         r.URL.Path,
		RawQueryString:  r.URL.RawQuery,
		Headers:         map[string]string{},
		Body:            encoded,
		IsBase64Encoded: isBase64,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     "$default",
			AccountID:    "123456789012",
			Stage:        stage,
			RequestID:    id,
			APIID:        apiID,
			DomainName:   host,
			DomainPrefix: apiID,
			Time:         now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: r.Method, Path: r.URL.Path, Protocol: r.Proto, SourceIP: sourceIP(r), UserAgent: r.UserAgent(),
			},
		},
	}
	if q := r.URL.Query(); len(q) > 0 {
		ev.QueryStringParameters = map[string]string{}
		for k, vs := range q {
			ev.QueryStringParameters[k] = strings.Join(vs, ",")
		}
	}
	for k, vs := range r.Header {
		if strings.EqualFold(k, "Cookie") {
			ev.Cookies = append(ev.Cookies, vs...)
			continue
		}
		// HTTP APIs lower-case header names and join repeated values.
		ev.Headers[strings.ToLower(k)] = strings.Join(vs, ",")
	}
	ev.Headers["host"] = host
	return json.Marshal(ev)
}

// restPath returns the REST API's stage and the path under it that the
// resources match: as template.yaml deploys it, the stage is named v2 and
// the resources are / and /{proxy+}, so that the registry is at the root
// of the host.
func (f *Front) restPath(r *http.Request) (stage, matched string) {
	stage = f.Stage
	if stage == "" {
		stage = "v2"
	}
	matched = strings.TrimPrefix(r.URL.Path, "/"+stage)
	if matched == "" {
		matched = "/"
	}
	return stage, matched
}

// encodeBody returns body as API Gateway puts it in an event: text as it
// is, anything else base64-encoded (a REST API with binary media type
// */* encodes every body; so does this front for non-text bodies).
func encodeBody(contentType string, body []byte) (string, bool) {
	if len(body) == 0 {
		return "", false
	}
	ct := strings.ToLower(contentType)
	if strings.HasPrefix(ct, "text/") || strings.Contains(ct, "json") {
		return string(body), false
	}
	return base64.StdEncoding.EncodeToString(body), true
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// requestID returns a request id in the form of a UUID, as API Gateway's.
func requestID() string {
	h := randid.Hex(16)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
