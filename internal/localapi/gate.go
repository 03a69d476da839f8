package localapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The REST API's gate (template.yaml; the why is in internal/apigw's
// authorizer.go): a REST API renames the WWW-Authenticate of every Lambda
// proxy response (remappedREST), so it puts a Lambda REQUEST authorizer
// with the Authorization header as identity source on every resource but
// the token endpoint's. API Gateway answers a request without that header
// with its UNAUTHORIZED gateway response, without calling the authorizer
// ("Use API Gateway Lambda authorizers": a missing identity source is a
// 401), and the template sets that response's headers: the Bearer
// challenge, which gateway responses send as written. A request with the
// header is let through by the authorizer (the same function), whose
// answer API Gateway caches per Authorization value.

// TokenResource is the REST API's resource of the token endpoint (the
// client's /v2/token under the stage named v2): it has no authorizer, so
// that anonymous clients can get a token for public repositories.
const TokenResource = "/token"

// UnauthorizedBody is the body of the REST API's UNAUTHORIZED gateway
// response as template.yaml sets it.
const UnauthorizedBody = `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required: log in (the token endpoint is in the WWW-Authenticate header)"}]}`

// AuthorizerTTL is how long API Gateway keeps an authorizer's answer for
// one Authorization value (template.yaml's authorizerResultTtlInSeconds).
const AuthorizerTTL = 300 * time.Second

// Challenge is the Bearer challenge of the UNAUTHORIZED gateway response
// for a REST API served at base (https://<api>.execute-api.<region>.amazonaws.com
// in AWS, where the template writes it into a stage variable).
func Challenge(base string) string {
	return `Bearer realm="` + base + `/v2/token",service="pier"`
}

// gate is the authorizer's answers by Authorization value.
type gate struct {
	mu      sync.Mutex
	answers map[string]answer
}

type answer struct {
	allow bool
	until time.Time
}

// authorize runs the REST API's gate for r. It returns 0 when r goes on
// to the integration (always, for the other kinds and without Gate), else
// the status it answered.
func (f *Front) authorize(w http.ResponseWriter, r *http.Request) int {
	if f.Kind != REST || !f.Gate {
		return 0
	}
	if _, matched := f.restPath(r); matched == TokenResource {
		return 0
	}
	authz := r.Header.Get("Authorization")
	if strings.TrimSpace(authz) == "" {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Docker-Distribution-Api-Version", "registry/2.0")
		h.Set("WWW-Authenticate", Challenge("http://"+r.Host))
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, UnauthorizedBody)
		return http.StatusUnauthorized
	}
	allow, err := f.authorizer(r, authz)
	if err != nil {
		f.logger().Error("authorizer", "error", err.Error())
		// AUTHORIZER_FAILURE's default: 500.
		return gatewayFail(w, http.StatusInternalServerError, "Internal Server Error")
	}
	if !allow {
		// ACCESS_DENIED's default: 403.
		b, _ := json.Marshal(struct {
			Message string `json:"Message"`
		}{"User is not authorized to access this resource"})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		w.Write(b)
		return http.StatusForbidden
	}
	return 0
}

// authorizer returns the authorizer's answer for Authorization value authz,
// from the cache or by invoking the function with a REQUEST authorizer
// event.
func (f *Front) authorizer(r *http.Request, authz string) (bool, error) {
	f.gate.mu.Lock()
	a, ok := f.gate.answers[authz]
	f.gate.mu.Unlock()
	if ok && time.Now().Before(a.until) {
		return a.allow, nil
	}
	stage, matched := f.restPath(r)
	arn := "arn:aws:execute-api:us-east-1:123456789012:local/" + stage + "/" + r.Method + matched
	event, err := json.Marshal(map[string]any{
		"type":       "REQUEST",
		"methodArn":  arn,
		"resource":   "/{proxy+}",
		"path":       matched,
		"httpMethod": r.Method,
		"headers":    map[string]string{"Authorization": authz},
		"requestContext": map[string]any{
			"stage": stage, "httpMethod": r.Method, "path": r.URL.Path, "apiId": "local", "accountId": "123456789012",
		},
	})
	if err != nil {
		return false, err
	}
	out, err := f.invoke(context.WithoutCancel(r.Context()), event)
	if err != nil {
		return false, err
	}
	var res struct {
		PolicyDocument struct {
			Statement []struct {
				Effect   string
				Resource []string
			}
		} `json:"policyDocument"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return false, err
	}
	allow := false
	for _, st := range res.PolicyDocument.Statement {
		for _, res := range st.Resource {
			if st.Effect == "Allow" && (res == arn || strings.HasSuffix(res, "*") && strings.HasPrefix(arn, strings.TrimSuffix(res, "*"))) {
				allow = true
			}
		}
	}
	f.gate.mu.Lock()
	if f.gate.answers == nil {
		f.gate.answers = map[string]answer{}
	}
	f.gate.answers[authz] = answer{allow: allow, until: time.Now().Add(AuthorizerTTL)}
	f.gate.mu.Unlock()
	return allow, nil
}
