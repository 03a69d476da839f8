package apigw

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
)

// A REST API's REQUEST authorizer event is answered with a policy that
// allows the whole stage (API Gateway caches it per Authorization value),
// never served to the handler as a request.
func TestAuthorizer(t *testing.T) {
	served := false
	h := NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served = true }))
	for _, tt := range []struct {
		name, event string
		want        string // the allowed resource; "" for an error
	}{
		{"request", `{"type":"REQUEST","methodArn":"arn:aws:execute-api:eu-west-1:123456789012:abc123/v2/GET/library/a/manifests/v1","resource":"/{proxy+}","path":"/library/a/manifests/v1","httpMethod":"GET","headers":{"Authorization":"Bearer x"}}`,
			"arn:aws:execute-api:eu-west-1:123456789012:abc123/v2/*"},
		{"root", `{"type":"REQUEST","methodArn":"arn:aws:execute-api:eu-west-1:123456789012:abc123/v2/GET/","httpMethod":"GET"}`,
			"arn:aws:execute-api:eu-west-1:123456789012:abc123/v2/*"},
		{"bad arn", `{"type":"REQUEST","methodArn":"nonsense","httpMethod":"GET"}`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := h.Invoke(context.Background(), []byte(tt.event))
			if tt.want == "" {
				if err == nil {
					t.Fatalf("answered %s, want an error", out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var res struct {
				PrincipalID    string `json:"principalId"`
				PolicyDocument struct {
					Statement []struct {
						Effect   string
						Action   []string
						Resource []string
					}
				} `json:"policyDocument"`
			}
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatal(err)
			}
			st := res.PolicyDocument.Statement
			if res.PrincipalID == "" || len(st) != 1 || st[0].Effect != "Allow" ||
				!slices.Equal(st[0].Action, []string{"execute-api:Invoke"}) || !slices.Equal(st[0].Resource, []string{tt.want}) {
				t.Errorf("answer %s; want an Allow of execute-api:Invoke on %s", out, tt.want)
			}
		})
	}
	if served {
		t.Error("an authorizer event reached the handler as a request")
	}
}
