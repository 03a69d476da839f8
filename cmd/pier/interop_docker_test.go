package main

// The docker scenarios of the interop suite: Docker itself (Debian's
// docker.io, scripts/tools.sh docker) as a client, with a daemon of the
// test's own (scripts/dockerd.sh: its own data root, exec root and socket,
// no networking, vfs storage), started and stopped by the test. Docker
// treats registries on 127.0.0.0/8 as plain HTTP, so no daemon setting is
// needed for the loopback registries here.
//
// Each path's registry runs with auth on (startAuthPath): docker login as
// a user and as a robot token, docker push of an image that the test
// loads into the daemon (docker load of a tarball it writes: no network),
// docker pull back once the image is gone from the daemon, with the same
// image id and the digest the registry holds; refusals without a login and
// for a pull-only identity show Pier's reason. Then an image with a 60 MB
// layer: on pier serve --backend aws, and on the Lambda path when it sends
// uploads to an upload endpoint (PIER_UPLOAD_URL).
//
//	make interop   # runs them with the rest of the suite

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestInteropDocker(t *testing.T) {
	skipUnlessInterop(t)
	start := time.Now()
	d := startDockerd(t)
	tools := interopClients(t)
	tools.docker = d.client
	t.Logf("dockerd up in %s", time.Since(start).Round(time.Millisecond))

	// The paths of TestInterop, each started by its scenario with auth on
	// (startAuthPath), and the large layers, side by side: they share the
	// daemon, each with images of its own.
	scenario := func(name string, run func(*testing.T)) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			run(t)
			t.Logf("%s: %s", name, time.Since(start).Round(time.Millisecond))
		})
	}
	for _, p := range []*pierPath{
		{name: "serve", tools: tools},
		{name: "lambda", lambda: true, tools: tools},
		{name: "lambda-rest", lambda: true, tools: tools},
	} {
		scenario(p.name+"/docker", func(t *testing.T) { interopDocker(t, d, p) })
	}
	scenario("serve-aws/docker-large-layer", func(t *testing.T) { interopDockerLargeServe(t, d, tools) })
	scenario("lambda-upload-endpoint/docker-large-layer", func(t *testing.T) { interopDockerLargeLambda(t, d, tools) })
	scenario("lambda-upload-route/docker-large-layer", func(t *testing.T) { interopDockerLargeRoute(t, d, tools) })
}

// dockerd is the test's Docker daemon and the client of its version.
type dockerd struct {
	client string // Debian's docker client
	host   string // DOCKER_HOST
}

// startDockerd starts scripts/dockerd.sh in a directory of its own, and
// waits until the daemon answers. The test's end stops it (SIGTERM to its
// PID) and removes the directory. It skips the test only when docker
// cannot be installed here.
func startDockerd(t *testing.T) *dockerd {
	t.Helper()
	out, err := exec.Command("../../scripts/tools.sh", "docker").Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Skipf("the docker scenarios need Debian's docker.io, which cannot be installed here: scripts/tools.sh docker: %v\n%s", err, msg)
	}
	paths := strings.Fields(string(out))
	if len(paths) != 2 {
		t.Fatalf("scripts/tools.sh docker printed %q: want the paths of docker and dockerd", out)
	}
	// A short path: the daemon's sockets must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "pier-dockerd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) }) // after the daemon stopped: cleanups run last first
	sock := filepath.Join(dir, "docker.sock")
	ping := &http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}},
	}
	launch(t, exec.Command("../../scripts/dockerd.sh", dir), "unix://"+sock, "dockerd", syscall.SIGTERM, 60*time.Second, func(*instance) bool {
		resp, err := ping.Get("http://docker/_ping")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return &dockerd{client: paths[0], host: "unix://" + sock}
}

// env is a client environment (its own DOCKER_CONFIG: no credentials
// shared) whose docker talks to d, and whose failures show the exchanges
// of fronts.
func (d *dockerd) env(t *testing.T, tools clients, fronts ...*front) *clientEnv {
	t.Helper()
	c := newClientEnv(t, tools)
	c.env = append(c.env, "DOCKER_HOST="+d.host)
	c.fronts = fronts
	return c
}

// dockerImage is an image as docker load takes it (docker save's layout:
// manifest.json, the config, one uncompressed layer), written by the test.
type dockerImage struct {
	tarball string // the file docker load reads
	tag     string // the tag docker load gives it
	id      string // the image id: the digest of the config
	size    int    // bytes of the layer
}

// newDockerImage writes an image whose layer holds one file of size random
// bytes into dir.
func newDockerImage(t *testing.T, dir, name string, size int) dockerImage {
	t.Helper()
	payload := make([]byte, size)
	rand.Read(payload)
	layer := layerTar(t, map[string]string{"payload.bin": string(payload), "etc/hostname": name + "\n"})
	config := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","created":"2026-01-01T00:00:00Z",`+
		`"config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},`+
		`"rootfs":{"type":"layers","diff_ids":[%q]},"history":[{"created":"2026-01-01T00:00:00Z","created_by":"pier interop"}]}`,
		digestOf(layer)))
	im := dockerImage{tag: "interop/" + name + ":v1", id: digestOf(config), size: len(layer)}
	cfgName := strings.TrimPrefix(im.id, "sha256:") + ".json"
	layerName := strings.TrimPrefix(digestOf(layer), "sha256:") + "/layer.tar"
	manifest, _ := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{im.tag}, "Layers": []string{layerName}}})

	im.tarball = filepath.Join(dir, name+".tar")
	f, err := os.Create(im.tarball)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, e := range []struct {
		name string
		b    []byte
	}{{cfgName, config}, {layerName, layer}, {"manifest.json", manifest}} {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.b); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return im
}

// load puts the image into the daemon, tagged ref (docker load, docker
// tag).
func (im dockerImage) load(t *testing.T, c *clientEnv, ref string) {
	t.Helper()
	r := c.run(t, "docker", "load", "-i", im.tarball)
	if !strings.Contains(r.out(), im.tag) {
		r.fatalf(t, "docker load did not name %s", im.tag)
	}
	c.run(t, "docker", "tag", im.tag, ref)
}

// remove takes the image out of the daemon, every tag of it.
func (im dockerImage) remove(t *testing.T, c *clientEnv) {
	t.Helper()
	c.run(t, "docker", "rmi", "-f", im.id)
	if r := c.exec(t, nil, "docker", "image", "inspect", im.id); r.err == nil {
		r.fatalf(t, "the image is still in the daemon after docker rmi -f")
	}
}

var pushedDigest = regexp.MustCompile(`: digest: (sha256:[0-9a-f]{64}) size: [0-9]+`)

// push pushes ref (loaded first) and returns the manifest digest that
// docker printed.
func (im dockerImage) push(t *testing.T, c *clientEnv, ref string) (*result, string) {
	t.Helper()
	im.load(t, c, ref)
	r := c.run(t, "docker", "push", ref)
	m := pushedDigest.FindStringSubmatch(r.out())
	if m == nil {
		r.fatalf(t, "docker push printed no digest")
	}
	return r, m[1]
}

// pullBack removes the image from the daemon, pulls ref and checks that
// the daemon has the same image (same id: the same config, whose layer's
// diff id docker checked) by the digest that the push printed.
func (im dockerImage) pullBack(t *testing.T, c *clientEnv, ref, digest string) *result {
	t.Helper()
	im.remove(t, c)
	r := c.run(t, "docker", "pull", ref)
	if !strings.Contains(r.out(), "Digest: "+digest) {
		r.errorf(t, "docker pull did not report the pushed digest %s", digest)
	}
	in := c.run(t, "docker", "image", "inspect", "--format", "{{.Id}} {{json .RepoDigests}}", ref)
	repo, _, _ := strings.Cut(ref, ":v1")
	if want := im.id + ` ["` + repo + "@" + digest + `"]`; in.out() != want {
		in.errorf(t, "the image pulled back is %s; want %s", in.out(), want)
	}
	if len(r.exchanges(func(e exchange) bool {
		return e.method == http.MethodGet && strings.Contains(e.uri, "/blobs/sha256:") && (e.status == http.StatusOK || e.status == http.StatusTemporaryRedirect)
	})) < 2 {
		r.errorf(t, "the pull fetched fewer than 2 blobs (config and layer) from the registry")
	}
	return r
}

// dockerLogin runs docker login as user on a, the secret on stdin.
func (a *authPath) dockerLogin(t *testing.T, c *clientEnv, user string) {
	t.Helper()
	r := c.exec(t, strings.NewReader(a.secrets[user]+"\n"), "docker", "login", "-u", user, "--password-stdin", a.host())
	if r.err != nil || !strings.Contains(r.out(), "Login Succeeded") {
		r.fatalf(t, "docker login as %s failed", user)
	}
}

// checkManifest checks that the registry holds ref's manifest by digest.
func (a *authPath) checkManifest(t *testing.T, repo, tag, digest string) {
	t.Helper()
	resp, body := a.get(t, "auditor", "/v2/"+repo+"/manifests/"+tag)
	if resp.StatusCode != http.StatusOK || digestOf(body) != digest {
		t.Errorf("the registry's %s:%s: %s, digest %s; want 200 and the pushed %s", repo, tag, resp.Status, digestOf(body), digest)
	}
}

// interopDocker: on p's registry with auth on, docker is refused a push
// without a login, with Pier's reason; logged in as a user it pushes and
// pulls back; as a robot token too; a pull-only user pulls and is refused
// a push; after docker logout a private pull is refused.
func interopDocker(t *testing.T, d *dockerd, p *pierPath) {
	a := startAuthPath(t, p)
	im := newDockerImage(t, t.TempDir(), "docker-"+p.name, 64<<10)

	// Without a login: refused, nothing lands.
	a.dockerRefused(t, d.env(t, p.tools, a.front), im, "auth/anonymous/docker")

	// alice logs in, pushes, and pulls back.
	alice := d.env(t, p.tools, a.front)
	a.dockerLogin(t, alice, "alice")
	ref := a.ref("auth/docker/app:v1")
	push, digest := im.push(t, alice, ref)
	t.Logf("docker push: token request by %s", checkTokenFlow(t, push, a.host()))
	a.checkManifest(t, "auth/docker/app", "v1", digest)
	im.pullBack(t, alice, ref, digest)

	// The robot token: it pushes under auth/robot/, nowhere else.
	ci := d.env(t, p.tools, a.front)
	a.dockerLogin(t, ci, "ci")
	robotRef := a.ref("auth/robot/docker:v1")
	_, robotDigest := im.push(t, ci, robotRef)
	a.checkManifest(t, "auth/robot/docker", "v1", robotDigest)
	im.pullBack(t, ci, robotRef, robotDigest)
	a.dockerRefused(t, ci, im, "auth/elsewhere/docker")

	// reader pulls alice's image and may not push.
	reader := d.env(t, p.tools, a.front)
	a.dockerLogin(t, reader, "reader")
	im.pullBack(t, reader, ref, digest)
	a.dockerRefused(t, reader, im, "auth/reader/docker")

	// After docker logout, alice's private image cannot be pulled.
	alice.run(t, "docker", "logout", a.host())
	r := alice.fails(t, "docker", "pull", ref)
	outputSays(t, r, "denied", "unauthorized")
	showsReason(t, r, "pull", "auth/docker/app")
}

// dockerRefused checks that c's docker is refused a push of im to repo,
// with Pier's reason, and that nothing landed.
func (a *authPath) dockerRefused(t *testing.T, c *clientEnv, im dockerImage, repo string) {
	t.Helper()
	im.load(t, c, a.ref(repo+":v1"))
	r := c.fails(t, "docker", "push", a.ref(repo+":v1"))
	refused(t, r, "denied", "unauthorized")
	showsReason(t, r, "push", repo)
	a.checkNothingLanded(t, repo, repo)
	im.remove(t, c)
}

// showsReason checks that Pier refused r's command with its reason, which
// names the action and the repository, in the body of a 401 or 403, and
// that docker shows that reason. The one exception is docker's: for a
// challenge with error="insufficient_scope" and no error_description,
// docker shows its own words ("denied: requested access to the resource
// is denied"), never the body's message.
func showsReason(t *testing.T, r *result, action, repo string) {
	t.Helper()
	refusals := r.exchanges(func(e exchange) bool {
		return !isTokenRequest(e) && (e.status == http.StatusUnauthorized || e.status == http.StatusForbidden)
	})
	var reason string
	generic := false
	for _, e := range refusals {
		var body struct {
			Errors []struct{ Code, Message string }
		}
		json.Unmarshal([]byte(e.body), &body)
		for _, m := range body.Errors {
			if strings.Contains(m.Message, action) && strings.Contains(m.Message, repo) {
				reason = m.Message
			}
		}
		c := e.header.Get("WWW-Authenticate")
		generic = generic || strings.Contains(c, `error="insufficient_scope"`) && !strings.Contains(c, "error_description=")
	}
	switch {
	case reason == "":
		r.errorf(t, "no refusal (401 or 403) gave a reason naming %s and %s", action, repo)
	case generic:
		outputSays(t, r, "requested access to the resource is denied")
		t.Logf("Pier's reason %q is in the 401's body; docker shows its own words, as the challenge has error=insufficient_scope and no error_description", reason)
	default:
		outputSays(t, r, reason)
	}
}

// interopDockerLarge pushes an image with a 60 MB layer to repository
// large/<name> of host with the docker of c, and pulls it back.
func interopDockerLarge(t *testing.T, c *clientEnv, host, name string) {
	t.Helper()
	im := newDockerImage(t, t.TempDir(), name, largeLayer)
	ref := host + "/large/" + name + ":v1"
	_, digest := im.push(t, c, ref)
	im.pullBack(t, c, ref, digest)
	im.remove(t, c)
}

// interopDockerLargeServe: pier serve --backend aws takes the large layer
// (no request-size limit of its own).
func interopDockerLargeServe(t *testing.T, d *dockerd, tools clients) {
	s := awsServer(t)
	f := startFront(t, "serve-aws", s.addr)
	interopDockerLarge(t, d.env(t, tools, f), f.host, "serve-aws")
}

// interopDockerLargeLambda: the Lambda path (HTTP API), with auth on,
// with an upload endpoint (startUploadPath). docker logs in to the Lambda
// path only; the layer goes to the endpoint, and no request over Lambda's
// 6 MB goes through the function.
func interopDockerLargeLambda(t *testing.T, d *dockerd, tools clients) {
	u := startUploadPath(t, "http")
	c := d.env(t, tools, u.lambda, u.upload)
	r := c.exec(t, strings.NewReader(uploadPassword+"\n"), "docker", "login", "-u", uploadUser, "--password-stdin", u.lambda.host)
	if r.err != nil {
		r.fatalf(t, "docker login failed")
	}
	interopDockerLarge(t, c, u.lambda.host, "lambda-upload")
	u.checkLargePush(t, 0, 0, largeLayer)
}
