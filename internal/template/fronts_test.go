package template

import (
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7/cloudformation/cloudfront"
	"github.com/pier-registry/pier/internal/localapi"
)

// allMethods are the methods of a behavior that forwards every one, sorted.
var allMethods = []string{"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"}

// checkGate checks the REST API's gate: every resource but /token has the
// REQUEST authorizer PierGate (ApiFunction, identity source the
// Authorization header, answers cached for as long as the local front
// caches them), and the UNAUTHORIZED gateway response is the one the local
// front answers: 401, the Bearer challenge naming the token endpoint (on
// the function URL), an OCI error body.
func checkGate(t *testing.T, definition any) {
	t.Helper()
	body, _ := definition.(map[string]any)
	components, _ := body["components"].(map[string]any)
	schemes, _ := components["securitySchemes"].(map[string]any)
	gate, _ := schemes["PierGate"].(map[string]any)
	az, _ := gate["x-amazon-apigateway-authorizer"].(map[string]any)
	if gate["type"] != "apiKey" || gate["in"] != "header" || gate["name"] != "Authorization" ||
		gate["x-amazon-apigateway-authtype"] != "custom" || az["type"] != "request" ||
		az["identitySource"] != "method.request.header.Authorization" || az["authorizerUri"] != apiIntegrationURI ||
		az["authorizerResultTtlInSeconds"] != float64(localapi.AuthorizerTTL.Seconds()) {
		t.Errorf("security scheme PierGate %v: want a REQUEST authorizer of ApiFunction on the Authorization header, cached %v", gate, localapi.AuthorizerTTL)
	}
	paths, _ := body["paths"].(map[string]any)
	for p, item := range paths {
		m, _ := item.(map[string]any)["x-amazon-apigateway-any-method"].(map[string]any)
		sec, _ := m["security"].([]any)
		gated := len(sec) == 1 && sec[0].(map[string]any)["PierGate"] != nil
		if want := p != localapi.TokenResource; gated != want {
			t.Errorf("%s: behind the gate %v, want %v", p, gated, want)
		}
	}
	responses, _ := body["x-amazon-apigateway-gateway-responses"].(map[string]any)
	r, _ := responses["UNAUTHORIZED"].(map[string]any)
	params, _ := r["responseParameters"].(map[string]any)
	templates, _ := r["responseTemplates"].(map[string]any)
	// The function URL's URL ends in "/".
	challenge := strings.Replace(localapi.Challenge("${ApiFunctionUrl.FunctionUrl}"), "}/v2", "}v2", 1)
	if r["statusCode"] != "401" || params["gatewayresponse.header.WWW-Authenticate"] != "'"+challenge+"'" ||
		params["gatewayresponse.header.Docker-Distribution-Api-Version"] != "'registry/2.0'" ||
		params["gatewayresponse.header.Content-Type"] != "'application/json'" ||
		templates["application/json"] != localapi.UnauthorizedBody {
		t.Errorf("UNAUTHORIZED gateway response %v;\nwant 401, WWW-Authenticate '%s', registry/2.0, the body %s", r, challenge, localapi.UnauthorizedBody)
	}
}

// ApiType=url: a function URL of ApiFunction, public at the URL level (Pier
// does the auth), buffered, with both permissions a function URL needs
// since October 2025, the InvokeFunction one only via the URL.
func TestFunctionURL(t *testing.T) {
	tpl := load(t, map[string]any{"ApiType": "url"})
	u, err := tpl.GetLambdaUrlWithName("ApiFunctionUrl")
	if err != nil {
		t.Fatal(err)
	}
	if u.TargetFunctionArn != "${ApiFunction.Arn}" || u.AuthType != "NONE" || deref(u.InvokeMode) != "BUFFERED" || u.Cors != nil {
		t.Errorf("ApiFunctionUrl: target %s, auth %s, mode %s, CORS %v; want ApiFunction, NONE, BUFFERED, none",
			u.TargetFunctionArn, u.AuthType, deref(u.InvokeMode), u.Cors)
	}
	for _, tt := range []struct{ name, action, authType string }{
		{"ApiFunctionUrlPermission", "lambda:InvokeFunctionUrl", "NONE"},
		{"ApiFunctionUrlInvokePermission", "lambda:InvokeFunction", ""},
	} {
		p, err := tpl.GetLambdaPermissionWithName(tt.name)
		if err != nil {
			t.Fatal(err)
		}
		if p.Action != tt.action || p.FunctionName != "${ApiFunction}" || p.Principal != "*" ||
			deref(p.FunctionUrlAuthType) != tt.authType || p.SourceArn != nil {
			t.Errorf("%s: %s of %s by %s (URL auth %q); want %s of ApiFunction by * (URL auth %q)",
				tt.name, p.Action, p.FunctionName, p.Principal, deref(p.FunctionUrlAuthType), tt.action, tt.authType)
		}
	}
	// goformation does not read InvokedViaFunctionUrl (resolve_test.go):
	// the permission's text must have it, or lambda:InvokeFunction would
	// be open to anyone's Invoke call.
	src, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile(`(?ms)^  ApiFunctionUrlInvokePermission:\n(.*?)\n\n`).FindSubmatch(src)
	if block == nil || !slices.Contains(strings.Split(string(block[1]), "\n"), "      InvokedViaFunctionUrl: true") {
		t.Errorf("ApiFunctionUrlInvokePermission does not limit lambda:InvokeFunction to calls via the function URL (InvokedViaFunctionUrl: true)")
	}
	for _, other := range []string{"HttpApi", "RestApi"} {
		if _, ok := tpl.Resources[other]; ok {
			// goformation keeps conditional resources: check the condition.
			if c := tpl.Conditions; c["Is"+strings.TrimSuffix(other, "Api")+"Api"] == true {
				t.Errorf("ApiType=url also makes %s", other)
			}
		}
	}
}

// cdnParams is a custom domain and its certificate.
var cdnParams = map[string]any{
	"ApiType": "url", "DomainName": "registry.example.com",
	"CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-aaaa-bbbb-cccc-123456789abc",
}

// with is params with more set.
func with(params map[string]any, kv ...string) map[string]any {
	m := maps.Clone(params)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// origins are the distribution's origins, without the ones that
// AWS::NoValue removes in CloudFormation (goformation keeps a zero value).
func origins(d *cloudfront.Distribution) []cloudfront.Distribution_Origin {
	var out []cloudfront.Distribution_Origin
	for _, o := range d.DistributionConfig.Origins {
		if o.Id != "" {
			out = append(out, o)
		}
	}
	return out
}

// The CloudFront distribution exists with a domain and a certificate, in
// front of any front door; it forwards every method to the front door,
// and caches only what the function marks cacheable, per Authorization
// value.
func TestCdn(t *testing.T) {
	for _, tt := range []struct {
		params map[string]any
		want   bool
	}{
		{nil, false},
		{map[string]any{"ApiType": "url"}, false},
		{map[string]any{"ApiType": "url", "DomainName": "registry.example.com"}, false},
		{with(cdnParams, "ApiType", "http"), true},
		{with(cdnParams, "ApiType", "rest"), true},
		{cdnParams, true},
	} {
		if got := load(t, tt.params).Conditions["HasCdn"]; got != tt.want {
			t.Errorf("%v: HasCdn %v, want %v", tt.params, got, tt.want)
		}
	}

	tpl := load(t, cdnParams)
	cp, err := tpl.GetCloudFrontCachePolicyWithName("CdnCachePolicy")
	if err != nil {
		t.Fatal(err)
	}
	c := cp.CachePolicyConfig
	key := c.ParametersInCacheKeyAndForwardedToOrigin
	headers := []string{}
	if key.HeadersConfig.Headers != nil {
		headers = key.HeadersConfig.Headers
	}
	if c.DefaultTTL != 0 || c.MinTTL != 0 || key.HeadersConfig.HeaderBehavior != "whitelist" ||
		!slices.Contains(headers, "Authorization") || !slices.Contains(headers, "Accept") ||
		key.CookiesConfig.CookieBehavior != "none" || key.QueryStringsConfig.QueryStringBehavior != "all" ||
		key.EnableAcceptEncodingGzip || deref(key.EnableAcceptEncodingBrotli) {
		t.Errorf("cache policy: default TTL %v, min %v, headers %s %v, cookies %s, query %s, gzip %v;\n"+
			"want nothing kept unless the function says so, keyed per Authorization and Accept, every query string, no compression",
			c.DefaultTTL, c.MinTTL, key.HeadersConfig.HeaderBehavior, headers, key.CookiesConfig.CookieBehavior,
			key.QueryStringsConfig.QueryStringBehavior, key.EnableAcceptEncodingGzip)
	}

	const apiHost = ".execute-api.${AWS::Region}.${AWS::URLSuffix}"
	for apiType, origin := range map[string]string{
		"url":  "${ApiFunctionUrl.FunctionUrl/2}",
		"http": "${HttpApi}" + apiHost,
		"rest": "${RestApi}" + apiHost, // its stage is named v2: /v2/... as the clients send it
	} {
		d, err := load(t, with(cdnParams, "ApiType", apiType)).GetCloudFrontDistributionWithName("Cdn")
		if err != nil {
			t.Fatal(err)
		}
		dc := d.DistributionConfig
		b := dc.DefaultCacheBehavior
		ors := origins(d)
		if !slices.Equal(dc.Aliases, []string{"registry.example.com"}) || dc.ViewerCertificate == nil ||
			deref(dc.ViewerCertificate.AcmCertificateArn) != cdnParams["CertificateArn"] || len(ors) != 1 || len(dc.CacheBehaviors) != 0 {
			t.Fatalf("%s: distribution: aliases %v, certificate %v, %d origins, %d cache behaviors; want one origin, the default behavior only",
				apiType, dc.Aliases, dc.ViewerCertificate, len(ors), len(dc.CacheBehaviors))
		}
		o := ors[0]
		methods := slices.Clone(b.AllowedMethods)
		slices.Sort(methods)
		if o.DomainName != origin || o.CustomOriginConfig == nil || o.CustomOriginConfig.OriginProtocolPolicy != "https-only" ||
			b.TargetOriginId != o.Id || deref(b.CachePolicyId) != "${CdnCachePolicy}" || b.ViewerProtocolPolicy != "https-only" ||
			deref(b.Compress) || !slices.Equal(methods, allMethods) ||
			// Managed-AllViewerExceptHostHeader: a function URL answers only
			// its own Host, an API without a custom domain too.
			deref(b.OriginRequestPolicyId) != "b689b0a8-53d0-40ab-baf2-68738e2966ac" {
			t.Errorf("%s: distribution: origin %s (%v), behaviour %+v: want %s over HTTPS, every method, the cache policy, no compression, every viewer header but Host",
				apiType, o.DomainName, o.CustomOriginConfig, b, origin)
		}
	}

	tpl = load(t, with(cdnParams, "ApiType", "http"))
	out := map[string]any{}
	for k, o := range tpl.Outputs {
		out[k] = o.Value
	}
	if out["RegistryHost"] != "registry.example.com" || out["RegistryUrl"] != "https://registry.example.com" {
		t.Errorf("with a custom domain: RegistryHost %v, RegistryUrl %v", out["RegistryHost"], out["RegistryUrl"])
	}
}

// With UploadOrigin (and a custom domain) the distribution sends the
// requests of uploads, on the registry's host, to the upload endpoint:
// the path patterns the local front routes by, every method, nothing
// cached, every viewer header (Host and Authorization included), over
// HTTPS with the origin response timeout the local front applies. Without
// a custom domain there is no distribution, and UploadOrigin does nothing.
func TestUploadRoute(t *testing.T) {
	const endpoint = "uploads.registry.example.com"
	for _, tt := range []struct {
		params map[string]any
		want   bool
	}{
		{map[string]any{"UploadOrigin": endpoint}, false},
		{with(cdnParams, "UploadOrigin", ""), false},
		{with(cdnParams, "UploadOrigin", endpoint), true},
		{with(cdnParams, "ApiType", "rest", "UploadOrigin", endpoint), true},
	} {
		if got := load(t, tt.params).Conditions["HasUploadRoute"]; got != tt.want {
			t.Errorf("%v: HasUploadRoute %v, want %v", tt.params, got, tt.want)
		}
	}
	for _, apiType := range []string{"http", "rest", "url"} {
		d, err := load(t, with(cdnParams, "ApiType", apiType, "UploadOrigin", endpoint)).GetCloudFrontDistributionWithName("Cdn")
		if err != nil {
			t.Fatal(err)
		}
		ors := origins(d)
		if len(ors) != 2 {
			t.Fatalf("%s: %d origins, want the front door and the upload endpoint", apiType, len(ors))
		}
		o := ors[1]
		if o.DomainName != endpoint || o.CustomOriginConfig == nil || o.CustomOriginConfig.OriginProtocolPolicy != "https-only" ||
			derefInt(o.CustomOriginConfig.OriginReadTimeout) != int(localapi.OriginResponseTimeout.Seconds()) {
			t.Errorf("%s: upload origin %s %+v; want %s over HTTPS, response timeout %v", apiType, o.DomainName, o.CustomOriginConfig, endpoint, localapi.OriginResponseTimeout)
		}
		cbs := d.DistributionConfig.CacheBehaviors
		var patterns []string
		for _, b := range cbs {
			patterns = append(patterns, b.PathPattern)
			methods := slices.Clone(b.AllowedMethods)
			slices.Sort(methods)
			if b.TargetOriginId != o.Id || !slices.Equal(methods, allMethods) || b.ViewerProtocolPolicy != "https-only" || deref(b.Compress) ||
				deref(b.CachePolicyId) != "4135ea2d-6df8-44a3-9df3-4b5a84be39ad" || // Managed-CachingDisabled
				deref(b.OriginRequestPolicyId) != "216adef6-5c7f-47e4-b989-5492eafa07d3" { // Managed-AllViewer
				t.Errorf("%s: behavior %s: %+v; want the upload endpoint, every method, HTTPS, nothing cached, every viewer header", apiType, b.PathPattern, b)
			}
		}
		if !slices.Equal(patterns, localapi.UploadPathPatterns) {
			t.Errorf("%s: upload path patterns %q; the local front routes %q", apiType, patterns, localapi.UploadPathPatterns)
		}
	}
}
