package main

// The auth scenario of the interop suite (interop_test.go): each path's
// registry again, with auth on (pier serve --auth token; the local Lambda
// path with PIER_AUTH=token), its identities made by the real admin
// commands before it serves. The clients log in with their own login
// commands and push and pull; without a login, or as an identity that may
// only pull, they are refused, and nothing lands in the registry.

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pier-registry/pier/internal/randid"
)

// authPublic is the pattern the auth registries let anyone pull.
const authPublic = "public/*"

// authPath is a path's registry with auth on, and the secrets of its
// identities (name → password, or a robot token's secret).
type authPath struct {
	*pierPath
	secrets map[string]string
}

// The identities of the auth registries: name, kind and grants.
var authIdentities = []struct {
	name, kind string
	grants     []string
}{
	// pushes and pulls under auth/ and public/
	{"alice", "user", []string{"auth/*=pull,push", "public/*=pull,push"}},
	// may only pull under auth/
	{"reader", "user", []string{"auth/*=pull"}},
	// sees every repository: the listings that check what landed
	{"auditor", "user", []string{"*=pull"}},
	// a CI robot token for auth/robot/
	{"ci", "robot", []string{"auth/robot/*=pull,push"}},
}

// startAuthPath starts p's registry again with auth on: pier serve --auth
// token, or the local Lambda path of p's kind with PIER_AUTH=token, with
// authPublic public. The identities are made first by the admin commands,
// on the same data directory, or on the same bucket and table prefix as
// the function's (with --create-resources).
func startAuthPath(t *testing.T, p *pierPath) *authPath {
	t.Helper()
	suffix := randid.Hex(4)
	var backend []string
	data := t.TempDir()
	kind := "http"
	for _, k := range []string{"rest", "url"} {
		if strings.HasSuffix(p.name, "-"+k) {
			kind = k
		}
	}
	bucket, prefix := "auth-"+kind+"-"+suffix, "auth-"+kind+"-"+suffix+"-"
	if p.lambda {
		backend = []string{"--backend", "aws", "--bucket", bucket, "--table-prefix", prefix, "--create-resources"}
	} else {
		backend = []string{"--data", data}
	}
	secrets := map[string]string{}
	for _, id := range authIdentities {
		var grants []string
		for _, g := range id.grants {
			grants = append(grants, "--grant", g)
		}
		if id.kind == "robot" {
			r := mustAdmin(t, backend, "", append([]string{"token", "create", id.name}, grants...)...)
			m := printedPassword.FindStringSubmatch(r.stdout)
			if m == nil || m[1] != id.name {
				t.Fatalf("pier token create %s printed no secret:\n%s", id.name, r.output())
			}
			secrets[id.name] = m[2]
			continue
		}
		secrets[id.name] = randid.Hex(12)
		mustAdmin(t, backend, secrets[id.name]+"\n", append([]string{"user", "add", id.name, "--password-stdin"}, grants...)...)
	}

	var inst *instance
	if p.lambda {
		inst = startLocalAPI(t, kind, "PIER_AUTH=token", "PIER_PUBLIC="+authPublic, "PIER_BUCKET="+bucket, "PIER_TABLE_PREFIX="+prefix)
	} else {
		inst = startServer(t, data, "--auth", "token", "--public", authPublic)
	}
	name := p.name + "-auth"
	return &authPath{
		pierPath: &pierPath{name: name, lambda: p.lambda, inst: inst, front: startFront(t, name, inst.addr), tools: p.tools},
		secrets:  secrets,
	}
}

// get answers a GET of path sent straight to the registry (not through
// the front) with the Basic credentials of the identity user.
func (a *authPath) get(t *testing.T, user, path string) (*http.Response, []byte) {
	t.Helper()
	basic := base64.StdEncoding.EncodeToString([]byte(user + ":" + a.secrets[user]))
	return httpGet(t, a.inst.url(path), "Authorization", "Basic "+basic)
}

// catalog is every repository of the registry, as the auditor (who may
// pull all) lists it.
func (a *authPath) catalog(t *testing.T) []string {
	t.Helper()
	resp, body := a.get(t, "auditor", "/v2/_catalog?n=1000")
	var cat struct{ Repositories []string }
	if err := json.Unmarshal(body, &cat); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v2/_catalog as auditor: %s %s", resp.Status, body)
	}
	return cat.Repositories
}

// checkNothingLanded checks, with listings, that no repository under
// prefix exists and that repos have no tags.
func (a *authPath) checkNothingLanded(t *testing.T, prefix string, repos ...string) {
	t.Helper()
	cat := a.catalog(t)
	for _, r := range cat {
		if strings.HasPrefix(r, prefix) {
			t.Errorf("the catalog lists %s after refused pushes: %v", r, cat)
		}
	}
	for _, repo := range repos {
		resp, body := a.get(t, "auditor", "/v2/"+repo+"/tags/list")
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "NAME_UNKNOWN") {
			t.Errorf("tags of %s after a refused push: %s %s; want 404 NAME_UNKNOWN", repo, resp.Status, body)
		}
	}
}

// authImage is what the clients push: an image in an OCI layout (crane,
// regctl, skopeo) and the files of an artifact (oras).
type authImage struct {
	manifest, layer []byte
	files           map[string][]byte
}

func newAuthImage(t *testing.T) authImage { return newSizedAuthImage(t, 32<<10) }

// newSizedAuthImage is an authImage whose payload is size random bytes.
func newSizedAuthImage(t *testing.T, size int) authImage {
	t.Helper()
	payload := make([]byte, size)
	rand.Read(payload)
	im := authImage{files: map[string][]byte{"payload.bin": payload, "notes.txt": []byte("pushed with auth on\n")}}
	im.layer = layerTar(t, map[string]string{"payload.bin": string(payload)})
	im.manifest = writeImageLayout(t, t.TempDir(), "v1", im.layer)
	return im
}

// write puts the image's layout (directory image, tag v1) and the
// artifact's files into c's working directory.
func (im authImage) write(t *testing.T, c *clientEnv) {
	t.Helper()
	writeImageLayout(t, filepath.Join(c.dir, "image"), "v1", im.layer)
	for name, b := range im.files {
		c.file(t, name, b)
	}
}

// checkLayout checks that the layout that r wrote at dir holds the
// image's manifest and layer, byte for byte.
func (im authImage) checkLayout(t *testing.T, r *result, dir string) {
	t.Helper()
	l := layout{dir, r}
	if got := l.blob(t, digestOf(im.manifest)); !bytes.Equal(got, im.manifest) {
		r.errorf(t, "the manifest pulled differs from the one pushed:\n%s\n%s", got, im.manifest)
	}
	if got := l.blob(t, digestOf(im.layer)); !bytes.Equal(got, im.layer) {
		r.errorf(t, "the layer pulled (%d bytes) differs from the one pushed (%d)", len(got), len(im.layer))
	}
}

// authClient is how a client logs in, pushes the authImage to ref and
// pulls it back into its working directory (checked by check).
type authClient struct {
	name  string
	login func(host, user string) []string // the password on stdin
	push  func(ref string) []string
	pull  func(ref string) []string
	check func(t *testing.T, c *clientEnv, r *result, im authImage)
}

var authClients = []authClient{
	{
		name: "crane",
		login: func(host, user string) []string {
			return []string{"auth", "login", host, "-u", user, "--password-stdin"}
		},
		push: func(ref string) []string { return []string{"push", "--insecure", "image", ref} },
		pull: func(ref string) []string { return []string{"pull", "--insecure", "--format", "oci", ref, "pulled"} },
		check: func(t *testing.T, c *clientEnv, r *result, im authImage) {
			im.checkLayout(t, r, filepath.Join(c.dir, "pulled"))
		},
	},
	{
		name: "oras",
		login: func(host, user string) []string {
			return []string{"login", "--plain-http", "-u", user, "--password-stdin", host}
		},
		push: func(ref string) []string {
			return []string{"push", "--plain-http", ref, "payload.bin:application/octet-stream", "notes.txt:text/plain"}
		},
		pull: func(ref string) []string { return []string{"pull", "--plain-http", "-o", "pulled", ref} },
		check: func(t *testing.T, c *clientEnv, r *result, im authImage) {
			for name, want := range im.files {
				if got, err := os.ReadFile(filepath.Join(c.dir, "pulled", name)); err != nil || !bytes.Equal(got, want) {
					r.errorf(t, "pulled %s: %d bytes (%v), want the %d pushed", name, len(got), err, len(want))
				}
			}
		},
	},
	{
		name: "regctl",
		login: func(host, user string) []string {
			return []string{"registry", "login", host, "-u", user, "--pass-stdin"}
		},
		push: func(ref string) []string { return []string{"image", "copy", "ocidir://image:v1", ref} },
		pull: func(ref string) []string { return []string{"image", "export", ref, "pulled.tar"} },
		check: func(t *testing.T, c *clientEnv, r *result, im authImage) {
			dir := filepath.Join(c.dir, "pulled")
			untarFile(t, filepath.Join(c.dir, "pulled.tar"), dir)
			im.checkLayout(t, r, dir)
		},
	},
	{
		name: "skopeo",
		login: func(host, user string) []string {
			return []string{"login", "--tls-verify=false", "-u", user, "--password-stdin", host}
		},
		push: func(ref string) []string {
			return []string{"copy", "--preserve-digests", "--dest-tls-verify=false", "oci:image:v1", "docker://" + ref}
		},
		pull: func(ref string) []string {
			return []string{"copy", "--preserve-digests", "--src-tls-verify=false", "docker://" + ref, "oci:pulled:v1"}
		},
		check: func(t *testing.T, c *clientEnv, r *result, im authImage) {
			im.checkLayout(t, r, filepath.Join(c.dir, "pulled"))
		},
	},
}

func authClientNamed(name string) authClient {
	for _, cl := range authClients {
		if cl.name == name {
			return cl
		}
	}
	panic("no auth client " + name)
}

// login runs cl's login command in c as user, with the secret on stdin.
func (a *authPath) login(t *testing.T, c *clientEnv, cl authClient, user string) {
	t.Helper()
	r := c.exec(t, strings.NewReader(a.secrets[user]+"\n"), cl.name, cl.login(a.host(), user)...)
	if r.err != nil {
		r.fatalf(t, "login as %s failed", user)
	}
}

// pushPull pushes im to ref with cl and pulls it back, byte for byte;
// it returns the push.
func (cl authClient) pushPull(t *testing.T, c *clientEnv, ref string, im authImage) *result {
	t.Helper()
	push := c.run(t, cl.name, cl.push(ref)...)
	pull := c.run(t, cl.name, cl.pull(ref)...)
	cl.check(t, c, pull, im)
	return push
}

// outputSays checks that r's output names one of words (case-insensitive).
func outputSays(t *testing.T, r *result, words ...string) {
	t.Helper()
	out := strings.ToLower(string(r.stdout) + string(r.stderr))
	if !slices.ContainsFunc(words, func(w string) bool { return strings.Contains(out, strings.ToLower(w)) }) {
		r.errorf(t, "the output names none of %q", words)
	}
}

// refused checks that a push r was refused by the registry: it failed,
// saying one of words; some answer was a 401 or 403, and no write (an
// upload, a manifest) was accepted.
func refused(t *testing.T, r *result, words ...string) {
	t.Helper()
	outputSays(t, r, words...)
	if len(r.exchanges(func(e exchange) bool {
		return !isTokenRequest(e) && (e.status == http.StatusUnauthorized || e.status == http.StatusForbidden)
	})) == 0 {
		r.errorf(t, "no answer was 401 or 403")
	}
	if ok := r.exchanges(func(e exchange) bool {
		return !isTokenRequest(e) && e.method != http.MethodGet && e.method != http.MethodHead && e.status >= 200 && e.status < 300
	}); len(ok) > 0 {
		r.errorf(t, "writes were accepted: %v", ok)
	}
}

// checkTokenFlow checks that r went through the token flow: an answer
// 401 with a Bearer challenge whose realm is the token endpoint on the
// host the client used, then a token request (a GET with Basic
// credentials, or the OAuth2 POST) answered 200, then requests with the
// Bearer token that were answered. It returns how the token was asked
// for.
func checkTokenFlow(t *testing.T, r *result, host string) string {
	t.Helper()
	ex := r.exchanges(func(exchange) bool { return true })
	sort.Slice(ex, func(i, j int) bool { return ex[i].seq < ex[j].seq })
	realm := `Bearer realm="http://` + host + `/v2/token"`
	i := slices.IndexFunc(ex, func(e exchange) bool {
		return e.status == http.StatusUnauthorized && strings.HasPrefix(e.header.Get("WWW-Authenticate"), realm)
	})
	if i < 0 {
		r.errorf(t, "no answer 401 with WWW-Authenticate: %s,...", realm)
		return ""
	}
	j := slices.IndexFunc(ex[i:], func(e exchange) bool {
		return isTokenRequest(e) && e.status == http.StatusOK &&
			(e.method == http.MethodGet && e.auth == "Basic" || e.method == http.MethodPost)
	})
	if j < 0 {
		r.errorf(t, "after the challenge %s, no token request (GET with Basic credentials, or POST) answered 200", ex[i])
		return ""
	}
	tok := ex[i+j]
	k := slices.IndexFunc(ex[i+j:], func(e exchange) bool {
		return !isTokenRequest(e) && e.auth == "Bearer" && e.status >= 200 && e.status < 400
	})
	if k < 0 {
		r.errorf(t, "after the token request %s, no request with the Bearer token was answered", tok)
		return ""
	}
	how := tok.method
	if tok.auth != "" {
		how += " with " + tok.auth
	}
	return how
}

// interopAuth: on p's registry with auth on (startAuthPath), each client
// is refused a push without a login (401) and a pull of a private
// repository; anyone pulls a public one; each client logs in with its own
// command as a user and pushes and pulls back; crane and regctl as a
// robot token; and a pull-only identity is refused its pushes, which
// leave nothing behind.
func interopAuth(t *testing.T, p *pierPath) {
	a := startAuthPath(t, p)
	im := newAuthImage(t)
	// refusedSays is what a refusal's output may say. Behind a REST API a
	// 401 of Pier's own (a token without the right) loses its challenge,
	// which AWS renames X-Amzn-Remapped-WWW-Authenticate (the gate's 401
	// keeps it: internal/localapi's gate.go); regctl then says so.
	refusedSays := func(words ...string) []string {
		if p.name == "lambda-rest" {
			return append(words, "empty challenge header")
		}
		return words
	}
	repo := func(client string) string { return "auth/" + client + "/app" }

	// Without a login: every push is refused with a 401, and nothing lands.
	anon := newClientEnv(t, p.tools, a.pierPath)
	im.write(t, anon)
	var anonRepos []string
	for _, cl := range authClients {
		r := anon.fails(t, cl.name, cl.push(a.ref("auth/anonymous/"+cl.name+":v1"))...)
		refused(t, r, refusedSays("401", "unauthorized")...)
		anonRepos = append(anonRepos, "auth/anonymous/"+cl.name)
	}
	a.checkNothingLanded(t, "auth/anonymous/", anonRepos...)

	// alice logs in with each client's own command, pushes and pulls back;
	// each push goes through the token flow.
	flows := map[string]string{}
	for _, cl := range authClients {
		c := newClientEnv(t, p.tools, a.pierPath)
		im.write(t, c)
		a.login(t, c, cl, "alice")
		r := cl.pushPull(t, c, a.ref(repo(cl.name)+":v1"), im)
		flows[cl.name] = checkTokenFlow(t, r, a.host())
	}
	t.Logf("token requests of the pushes: %v", flows)
	if cat := a.catalog(t); !slices.Equal(cat, []string{repo("crane"), repo("oras"), repo("regctl"), repo("skopeo")}) {
		t.Errorf("catalog after alice's pushes: %v", cat)
	}

	// Without a login, the private repositories cannot be pulled.
	for _, cl := range authClients {
		r := anon.fails(t, cl.name, cl.pull(a.ref(repo(cl.name)+":v1"))...)
		outputSays(t, r, refusedSays("401", "unauthorized")...)
	}

	// A public repository: anyone pulls it, no one pushes to it without
	// a login.
	alice := newClientEnv(t, p.tools, a.pierPath)
	im.write(t, alice)
	a.login(t, alice, authClientNamed("crane"), "alice")
	alice.run(t, "crane", "push", "--insecure", "image", a.ref("public/site:v1"))
	for _, name := range []string{"crane", "regctl", "skopeo"} {
		cl := authClientNamed(name)
		pub := newClientEnv(t, p.tools, a.pierPath)
		r := pub.run(t, name, cl.pull(a.ref("public/site:v1"))...)
		cl.check(t, pub, r, im)
	}
	r := anon.run(t, "oras", "manifest", "fetch", "--plain-http", a.ref("public/site:v1"))
	if !bytes.Equal(r.stdout, im.manifest) {
		r.errorf(t, "the public manifest reads back differently:\n%s\n%s", r.stdout, im.manifest)
	}
	r = anon.fails(t, "crane", "push", "--insecure", "image", a.ref("public/anonymous:v1"))
	refused(t, r, refusedSays("401", "unauthorized")...)
	a.checkNothingLanded(t, "public/anonymous", "public/anonymous")

	// The robot token, with crane and regctl: it pushes under auth/robot/
	// and nowhere else.
	for _, name := range []string{"crane", "regctl"} {
		cl := authClientNamed(name)
		c := newClientEnv(t, p.tools, a.pierPath)
		im.write(t, c)
		a.login(t, c, cl, "ci")
		r := cl.pushPull(t, c, a.ref("auth/robot/"+name+":v1"), im)
		checkTokenFlow(t, r, a.host())
		if name == "crane" {
			r = c.fails(t, "crane", "push", "--insecure", "image", a.ref("auth/elsewhere:v1"))
			refused(t, r, refusedSays("401", "unauthorized", "denied")...)
		}
	}
	a.checkNothingLanded(t, "auth/elsewhere", "auth/elsewhere")

	// reader may pull but not push: each client logs in as reader, pulls
	// alice's repository and is refused a push; nothing lands.
	var readerRepos []string
	for _, cl := range authClients {
		c := newClientEnv(t, p.tools, a.pierPath)
		im.write(t, c)
		a.login(t, c, cl, "reader")
		pull := c.run(t, cl.name, cl.pull(a.ref(repo(cl.name)+":v1"))...)
		cl.check(t, c, pull, im)
		r := c.fails(t, cl.name, cl.push(a.ref("auth/reader/"+cl.name+":v1"))...)
		refused(t, r, refusedSays("denied", "unauthorized")...)
		readerRepos = append(readerRepos, "auth/reader/"+cl.name)
	}
	a.checkNothingLanded(t, "auth/reader/", readerRepos...)
}
