package template

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pier-registry/pier/internal/localapi"
)

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
