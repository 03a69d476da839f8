package localapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/pier-registry/pier/internal/apigw"
)

// rieOf runs h as a Lambda function behind internal/apigw, as the RIE runs
// the bootstrap, and counts the invocations by kind.
func rieOf(t *testing.T, h http.Handler) (string, func() (authorizer, proxy int)) {
	t.Helper()
	fn := apigw.NewHandler(h)
	var mu sync.Mutex
	var auth, proxy int
	rie := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, _ := io.ReadAll(r.Body)
		mu.Lock()
		if strings.Contains(string(ev), `"type":"REQUEST"`) {
			auth++
		} else {
			proxy++
		}
		mu.Unlock()
		out, err := fn.Invoke(context.Background(), ev)
		if err != nil {
			w.Write([]byte(`{"errorType":"error","errorMessage":"` + err.Error() + `"}`))
			return
		}
		w.Write(out)
	}))
	t.Cleanup(rie.Close)
	return rie.URL, func() (int, int) { mu.Lock(); defer mu.Unlock(); return auth, proxy }
}

// Behind a REST API a request without an Authorization header gets API
// Gateway's own 401, whose WWW-Authenticate (a gateway response's header,
// not remapped) names the token endpoint; the token endpoint and requests
// with credentials reach the function, the authorizer's answer cached per
// credential. Other front doors have no gate.
func TestGate(t *testing.T) {
	pier := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="x"`)
		w.WriteHeader(http.StatusUnauthorized)
	})
	type step struct {
		path, authz       string
		status            int
		challenge         bool // a WWW-Authenticate naming the front's token endpoint
		authorizer, proxy int  // invocations so far
	}
	for _, tt := range []struct {
		kind  Kind
		gate  bool
		steps []step
	}{
		{REST, true, []step{
			{"/v2/", "", 401, true, 0, 0},
			{"/v2/library/a/manifests/v1", "", 401, true, 0, 0},
			{"/v2/token", "", 401, false, 0, 1},
			{"/v2/", "Basic YTpi", 401, false, 1, 2},
			{"/v2/library/a/manifests/v1", "Basic YTpi", 401, false, 1, 3},
			{"/v2/", "Bearer t", 401, false, 2, 4},
		}},
		// Without auth behind it (a local run with auth off), no gate.
		{REST, false, []step{{"/v2/", "", 401, false, 0, 1}}},
		// Only a REST API has one.
		{HTTP, true, []step{{"/v2/", "", 401, false, 0, 1}}},
		{URL, true, []step{{"/v2/", "", 401, false, 0, 1}}},
	} {
		t.Run(fmt.Sprintf("%s gate=%v", tt.kind, tt.gate), func(t *testing.T) {
			rie, count := rieOf(t, pier)
			front := httptest.NewServer(&Front{Kind: tt.kind, InvokeURL: rie, Log: quiet(), Gate: tt.gate})
			defer front.Close()
			want := Challenge(front.URL)
			for _, s := range tt.steps {
				req, _ := http.NewRequest(http.MethodGet, front.URL+s.path, nil)
				if s.authz != "" {
					req.Header.Set("Authorization", s.authz)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				a, p := count()
				got := resp.Header.Get("WWW-Authenticate")
				if resp.StatusCode != s.status || (got == want) != s.challenge || a != s.authorizer || p != s.proxy {
					t.Errorf("GET %s (Authorization %q): %s, WWW-Authenticate %q, %s; %d authorizer and %d proxy invocations;\nwant %d, challenge %v, %d and %d",
						s.path, s.authz, resp.Status, got, body, a, p, s.status, s.challenge, s.authorizer, s.proxy)
				}
				if s.challenge && (resp.Header.Get("Docker-Distribution-Api-Version") != "registry/2.0" || string(body) != UnauthorizedBody) {
					t.Errorf("GET %s: the gateway's 401 has headers %v, body %s", s.path, resp.Header, body)
				}
			}
		})
	}
}
