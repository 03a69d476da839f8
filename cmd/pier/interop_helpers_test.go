package main

// The machinery of the interop suite (interop_test.go): the pinned
// clients, each run with a configuration of its own, and a recording
// front before each registry that shows what the registry answered.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pier-registry/pier/internal/statusrec"
)

// interopSelected reports whether the interop suite should run: it is
// long and needs the four clients, so it runs when asked for (make
// interop: go test -run Interop) or with PIER_INTEROP=1, not in every
// go test ./...
func interopSelected() bool { return suiteSelected("PIER_INTEROP", "Interop") }

// skipUnlessInterop skips a test of the interop suite when the suite was
// not asked for (interopSelected).
func skipUnlessInterop(t *testing.T) {
	t.Helper()
	if !interopSelected() {
		t.Skip("the interop suite runs with make interop (go test -run Interop ./cmd/pier, under scripts/with-local-aws.sh)")
	}
}

// suiteSelected reports whether a suite that runs only when asked for was:
// with env=1, or by a -run pattern that holds word.
func suiteSelected(env, word string) bool {
	if os.Getenv(env) == "1" {
		return true
	}
	f := flag.Lookup("test.run")
	return f != nil && strings.Contains(f.Value.String(), word)
}

// clients are the paths of the pinned clients (scripts/tools.sh interop),
// and of Debian's docker client when the docker scenarios run
// (interop_docker_test.go).
type clients struct{ crane, oras, regctl, skopeo, docker string }

var (
	clientsOnce sync.Once
	clientsVal  clients
	clientsErr  error
)

// interopClients builds (once, into $PIER_CACHE) or finds the clients.
func interopClients(t *testing.T) clients {
	t.Helper()
	clientsOnce.Do(func() {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command("../../scripts/tools.sh", "interop")
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			clientsErr = fmt.Errorf("scripts/tools.sh interop: %v\n%s", err, stderr.String())
			return
		}
		p := strings.Fields(stdout.String())
		if len(p) != 4 {
			clientsErr = fmt.Errorf("scripts/tools.sh interop printed %q: want the paths of crane, oras, regctl, skopeo", stdout.String())
			return
		}
		clientsVal = clients{crane: p[0], oras: p[1], regctl: p[2], skopeo: p[3]}
	})
	if clientsErr != nil {
		t.Fatal(clientsErr)
	}
	return clientsVal
}

// pierPath is one way Pier runs, as the clients see it: through a front
// that records every exchange.
type pierPath struct {
	name   string    // serve or lambda
	lambda bool      // the local Lambda path (API Gateway's limits)
	inst   *instance // the registry
	front  *front    // what the clients talk to
	other  *pierPath // the other path, for copies between instances
	tools  clients
}

// host is the registry host the clients use.
func (p *pierPath) host() string { return p.front.host }

// ref is repo (with tag or digest) on p, as clients name it.
func (p *pierPath) ref(repo string) string { return p.front.host + "/" + repo }

// api is p as an *instance, for the HTTP helpers (pushChunked, call).
func (p *pierPath) api() *instance { return &instance{addr: p.front.host} }

// ---------------------------------------------------------------------------
// The front: a reverse proxy that records each exchange, can page
// listings and can cut a request off.

// exchange is one request through a front and its answer.
type exchange struct {
	seq          int
	method, uri  string
	contentRange string
	auth         string // the scheme of the request's Authorization (Basic, Bearer), never the credentials
	sent         int64  // request body bytes that reached the front
	status       int
	header       http.Header // the answer's headers that matter here
	body         string      // the start of an error answer's body
	fault        string      // what the front did to the exchange
	note         string      // what else happened to it
	took         time.Duration
}

func (e exchange) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%d %s %s", e.seq, e.method, e.uri)
	if e.contentRange != "" {
		fmt.Fprintf(&b, " [Content-Range %s]", e.contentRange)
	}
	if e.auth != "" {
		fmt.Fprintf(&b, " [%s]", e.auth)
	}
	if e.sent > 0 {
		fmt.Fprintf(&b, " [%d bytes]", e.sent)
	}
	if e.status != 0 {
		fmt.Fprintf(&b, " -> %d", e.status)
	}
	for _, k := range []string{"Location", "Range", "Link", "Docker-Content-Digest", "OCI-Subject", "OCI-Filters-Applied", "OCI-Chunk-Max-Length", "WWW-Authenticate"} {
		if v := e.header.Get(k); v != "" {
			if k == "Location" && len(v) > 120 {
				v = v[:120] + "..."
			}
			fmt.Fprintf(&b, " %s: %s", k, v)
		}
	}
	fmt.Fprintf(&b, " (%s)", e.took.Round(time.Millisecond))
	if e.fault != "" {
		fmt.Fprintf(&b, " FAULT: %s", e.fault)
	}
	if e.note != "" {
		fmt.Fprintf(&b, " (%s)", e.note)
	}
	if e.body != "" {
		fmt.Fprintf(&b, "\n      body: %s", e.body)
	}
	return b.String()
}

// fault cuts off a request that match accepts, after skip such requests
// went through: mode "cut" sends the registry half of its body and drops
// both connections (a connection lost mid-request); mode "lose" lets the
// request through and drops the client's connection instead of answering
// (an answer lost on the way back).
type fault struct {
	mode  string
	skip  int
	match func(*http.Request) bool
	fired bool
}

type front struct {
	name     string
	host     string
	upstream *url.URL
	proxy    *httputil.ReverseProxy
	// pagePrefix: tag listings of repositories under it, and the catalog,
	// ask for at most pageSize entries, as if the registry's pages were
	// that small (Pier's are 1000 entries; registries cap n, and clients
	// must follow the Link to the next page).
	pagePrefix string
	pageSize   int

	mu       sync.Mutex
	log      []exchange
	faults   []*fault
	inflight int // requests taken and not yet recorded
}

// startFront runs a front for the registry at addr.
func startFront(t *testing.T, name, addr string) *front {
	t.Helper()
	up, _ := url.Parse("http://" + addr)
	f := &front{name: name, upstream: up, pagePrefix: "/v2/interop/pages/", pageSize: 5}
	f.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(up)
			pr.Out.Host = pr.In.Host
		},
		Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16},
		ErrorLog:  log.New(io.Discard, "", 0),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			rw, _ := w.(*recordingWriter)
			if r.Context().Err() != nil && rw != nil {
				// The client went away (it gave up on the request): no
				// answer reaches it, so none is recorded.
				rw.gone = err
				return
			}
			w.WriteHeader(http.StatusBadGateway)
			fmt.Fprintf(w, "front: %v", err)
		},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.host = ln.Addr().String()
	srv := &http.Server{Handler: f}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return f
}

// arm adds a fault.
func (f *front) arm(mode string, skip int, match func(*http.Request) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, &fault{mode: mode, skip: skip, match: match})
}

// fault returns the fault that r triggers, if any.
func (f *front) fault(r *http.Request) *fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ft := range f.faults {
		if ft.fired || !ft.match(r) {
			continue
		}
		if ft.skip > 0 {
			ft.skip--
			continue
		}
		ft.fired = true
		return ft
	}
	return nil
}

// mark is where the log stands; since(mark) is what came after. Both
// first wait for the requests in flight to be recorded: a client may
// see the end of an answer, or of a cut connection, a moment before the
// front's handler returns and records the exchange.
func (f *front) mark() int {
	f.settle()
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.log)
}

func (f *front) since(m int) []exchange {
	f.settle()
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.log[m:])
}

// settle waits, up to 5 seconds, until no request is in flight.
func (f *front) settle() {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		f.mu.Lock()
		n := f.inflight
		f.mu.Unlock()
		if n == 0 {
			return
		}
	}
}

// begin counts a request in flight until record takes its exchange.
func (f *front) begin() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inflight++
}

func (f *front) record(e exchange) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inflight--
	e.seq = len(f.log) + 1
	f.log = append(f.log, e)
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r  io.ReadCloser
	n  int64
	mu sync.Mutex
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.mu.Lock()
	c.n += int64(n)
	c.mu.Unlock()
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }

func (c *countingReader) count() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// recordingWriter keeps the status (statusrec.Writer), headers and the
// start of an error body of an answer.
type recordingWriter struct {
	statusrec.Writer
	body bytes.Buffer
	gone error // the client went away before the answer
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	n, err := w.Writer.Write(p) // notes the status
	if w.Status >= 400 && w.body.Len() < 1024 {
		w.body.Write(p[:min(n, 1024-w.body.Len())])
	}
	return n, err
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.begin()
	start := time.Now()
	e := exchange{method: r.Method, uri: r.URL.RequestURI(), contentRange: r.Header.Get("Content-Range")}
	e.auth, _, _ = strings.Cut(r.Header.Get("Authorization"), " ")
	if f.pageSize > 0 && r.Method == http.MethodGet &&
		(r.URL.Path == "/v2/_catalog" || strings.HasPrefix(r.URL.Path, f.pagePrefix) && strings.HasSuffix(r.URL.Path, "/tags/list")) {
		q := r.URL.Query()
		if n, err := strconv.Atoi(q.Get("n")); err != nil || n > f.pageSize {
			q.Set("n", strconv.Itoa(f.pageSize))
			r.URL.RawQuery = q.Encode()
			e.uri += fmt.Sprintf(" (front: n=%d)", f.pageSize)
		}
	}
	body := &countingReader{r: r.Body}
	r.Body = body
	defer func() {
		e.sent = body.count()
		e.took = time.Since(start)
		f.record(e)
	}()

	switch ft := f.fault(r); {
	case ft != nil && ft.mode == "cut":
		half := r.ContentLength / 2
		out, _ := http.NewRequest(r.Method, f.upstream.String()+r.URL.RequestURI(),
			io.MultiReader(io.LimitReader(r.Body, half), errReader{}))
		out.Header = r.Header.Clone()
		out.ContentLength = r.ContentLength
		_, err := f.proxy.Transport.RoundTrip(out)
		e.fault = fmt.Sprintf("connection cut after %d of %d body bytes (registry side: %v)", half, r.ContentLength, err)
		hangUp(w)
		return
	case ft != nil && ft.mode == "lose":
		rec := httptest.NewRecorder()
		f.proxy.ServeHTTP(rec, r)
		e.status = rec.Code
		e.header = rec.Header()
		e.fault = fmt.Sprintf("the registry answered %d; the front dropped the connection instead of passing it on", rec.Code)
		hangUp(w)
		return
	}
	rw := &recordingWriter{Writer: statusrec.Writer{ResponseWriter: w}}
	f.proxy.ServeHTTP(rw, r)
	e.status, e.header, e.body = rw.Status, w.Header().Clone(), strings.TrimSpace(rw.body.String())
	if rw.gone != nil {
		e.note = fmt.Sprintf("the client went away before the answer (%v)", rw.gone)
	}
}

// isTokenRequest reports whether e went to Pier's token endpoint.
func isTokenRequest(e exchange) bool {
	return e.uri == "/v2/token" || strings.HasPrefix(e.uri, "/v2/token?")
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("front: connection cut") }

// hangUp closes the client's connection without an answer.
func hangUp(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// ---------------------------------------------------------------------------
// The clients, each run with a home, configuration and temporary
// directory of its own, so that nothing of the machine's configuration
// (credentials, registries.conf, regctl hosts) takes part.

type clientEnv struct {
	tools  clients
	dir    string // working directory: the files the commands read and write
	env    []string
	policy string
	fronts []*front // whose exchanges a failure shows
}

// newClientEnv makes an environment whose clients know the hosts of
// paths as plain-HTTP registries (regctl registry set --tls disabled).
func newClientEnv(t *testing.T, tools clients, paths ...*pierPath) *clientEnv {
	t.Helper()
	home := t.TempDir()
	c := &clientEnv{tools: tools, dir: t.TempDir(), policy: filepath.Join(home, "policy.json")}
	for _, d := range []string{".config", ".cache", ".local/share", "run", "tmp", ".docker"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// Debian's containers-common ships this same policy as the default.
	os.WriteFile(c.policy, []byte(`{"default":[{"type":"insecureAcceptAnything"}]}`), 0o644)
	os.WriteFile(filepath.Join(home, "registries.conf"), nil, 0o644)
	c.env = []string{
		"PATH=" + os.Getenv("PATH"),
		"LANG=C.UTF-8",
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"XDG_CACHE_HOME=" + filepath.Join(home, ".cache"),
		"XDG_DATA_HOME=" + filepath.Join(home, ".local/share"),
		"XDG_RUNTIME_DIR=" + filepath.Join(home, "run"),
		"TMPDIR=" + filepath.Join(home, "tmp"),
		"DOCKER_CONFIG=" + filepath.Join(home, ".docker"),
		"REGCTL_CONFIG=" + filepath.Join(home, ".regctl", "config.json"),
		"REGISTRY_AUTH_FILE=" + filepath.Join(home, "auth.json"),
		"CONTAINERS_REGISTRIES_CONF=" + filepath.Join(home, "registries.conf"),
		"NO_COLOR=1",
	}
	for _, p := range paths {
		c.fronts = append(c.fronts, p.front)
		c.run(t, "regctl", "registry", "set", p.host(), "--tls", "disabled")
	}
	return c
}

// file writes name (relative to the working directory) and returns its
// path.
func (c *clientEnv) file(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(c.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// result is a client's run: what a failure shows.
type result struct {
	client  string
	cmdline string
	stdout  []byte
	stderr  []byte
	err     error
	took    time.Duration
	traffic map[*front][]exchange
}

// context is the client, the command, its output and what the registries
// answered meanwhile.
func (r *result) context() string {
	var b strings.Builder
	fmt.Fprintf(&b, "  client:  %s\n  command: %s\n", r.client, r.cmdline)
	status := "exit 0"
	if r.err != nil {
		status = r.err.Error()
	}
	fmt.Fprintf(&b, "  result:  %s after %s\n", status, r.took.Round(time.Millisecond))
	fmt.Fprintf(&b, "  stdout:  %s\n", clip(r.stdout, 3000))
	fmt.Fprintf(&b, "  stderr:  %s\n", clip(r.stderr, 3000))
	for f, ex := range r.traffic {
		if len(ex) == 0 {
			continue
		}
		fmt.Fprintf(&b, "  registry exchanges meanwhile (%s, front %s): %d\n", f.name, f.host, len(ex))
		if len(ex) > 40 {
			fmt.Fprintf(&b, "    ... %d earlier\n", len(ex)-40)
			ex = ex[len(ex)-40:]
		}
		for _, e := range ex {
			fmt.Fprintf(&b, "    %s\n", e)
		}
	}
	return b.String()
}

func clip(b []byte, n int) string {
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		return s[:n] + fmt.Sprintf("... (%d bytes)", len(b))
	}
	return s
}

// fatalf fails the test: what is wrong, then the run's context.
func (r *result) fatalf(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Fatalf("%s: %s\n%s", r.client, fmt.Sprintf(format, args...), r.context())
}

// errorf is fatalf that lets the test go on.
func (r *result) errorf(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Errorf("%s: %s\n%s", r.client, fmt.Sprintf(format, args...), r.context())
}

// out is the trimmed standard output.
func (r *result) out() string { return strings.TrimSpace(string(r.stdout)) }

// exchanges returns the exchanges of the run that match.
func (r *result) exchanges(match func(exchange) bool) []exchange {
	var ex []exchange
	for _, l := range r.traffic {
		for _, e := range l {
			if match(e) {
				ex = append(ex, e)
			}
		}
	}
	return ex
}

// exec runs client with args (skopeo also gets the environment's trust
// policy), with stdin if not nil.
func (c *clientEnv) exec(t *testing.T, stdin io.Reader, client string, args ...string) *result {
	t.Helper()
	bin := map[string]string{"crane": c.tools.crane, "oras": c.tools.oras, "regctl": c.tools.regctl, "skopeo": c.tools.skopeo, "docker": c.tools.docker}[client]
	if bin == "" {
		t.Fatalf("unknown client %q", client)
	}
	if client == "skopeo" {
		args = append([]string{"--policy", c.policy}, args...)
	}
	r := &result{client: client, cmdline: bin + " " + shellJoin(args), traffic: map[*front][]exchange{}}
	marks := make([]int, len(c.fronts))
	for i, f := range c.fronts {
		marks[i] = f.mark()
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Dir, cmd.Env, cmd.Stdin = c.dir, c.env, stdin
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", r.cmdline, err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case r.err = <-done:
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		r.err = fmt.Errorf("killed after 3 minutes: %v", <-done)
	}
	r.took = time.Since(start)
	r.stdout, r.stderr = stdout.Bytes(), stderr.Bytes()
	for i, f := range c.fronts {
		r.traffic[f] = relevant(f, args, f.since(marks[i]))
	}
	return r
}

// relevant returns the exchanges of ex that concern the repositories of
// f that args name (all of them when args name f's host alone, as a
// catalog listing does; the other path's scenarios use the same fronts),
// and the token endpoint's.
func relevant(f *front, args []string, ex []exchange) []exchange {
	var prefixes []string
	for _, a := range args {
		a = strings.TrimPrefix(a, "docker://")
		if a == f.host {
			return ex
		}
		repo, ok := strings.CutPrefix(a, f.host+"/")
		if !ok {
			continue
		}
		if i := strings.IndexAny(repo, ":@"); i >= 0 {
			repo = repo[:i]
		}
		prefixes = append(prefixes, "/v2/"+repo+"/")
	}
	var out []exchange
	for _, e := range ex {
		if e.uri == "/v2/" || isTokenRequest(e) || slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(e.uri, p) }) {
			out = append(out, e)
		}
	}
	return out
}

// run runs a client command that must succeed.
func (c *clientEnv) run(t *testing.T, client string, args ...string) *result {
	t.Helper()
	r := c.exec(t, nil, client, args...)
	if r.err != nil {
		r.fatalf(t, "the command failed")
	}
	return r
}

// fails runs a client command that must fail.
func (c *clientEnv) fails(t *testing.T, client string, args ...string) *result {
	t.Helper()
	r := c.exec(t, nil, client, args...)
	if r.err == nil {
		r.fatalf(t, "the command succeeded; it should have failed")
	}
	return r
}

func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'{}$*?[]|&;<>()\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

// ---------------------------------------------------------------------------
// OCI layouts and blobs, read and written by the test itself.

type descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Platform     *struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
	} `json:"platform,omitempty"`
}

// manifest is an image manifest or an index.
type manifest struct {
	MediaType    string            `json:"mediaType"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Config       *descriptor       `json:"config,omitempty"`
	Layers       []descriptor      `json:"layers,omitempty"`
	Manifests    []descriptor      `json:"manifests,omitempty"`
	Subject      *descriptor       `json:"subject,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

func parseManifest(t *testing.T, r *result, b []byte) manifest {
	t.Helper()
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		r.fatalf(t, "not a manifest (%v): %s", err, clip(b, 500))
	}
	return m
}

// layout is an OCI image layout on disk, written by the client command
// by.
type layout struct {
	dir string
	by  *result
}

// fatalf fails the test with the context of the command that wrote the
// layout.
func (l layout) fatalf(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf("layout %s: %s", l.dir, fmt.Sprintf(format, args...))
	if l.by == nil {
		t.Fatal(msg)
	}
	l.by.fatalf(t, "%s", msg)
}

// index reads the layout's index.json.
func (l layout) index(t *testing.T) manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(l.dir, "index.json"))
	if err != nil {
		l.fatalf(t, "%v", err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		l.fatalf(t, "index.json: %v", err)
	}
	return m
}

// blob reads a blob of the layout and checks that it hashes to its name.
func (l layout) blob(t *testing.T, d string) []byte {
	t.Helper()
	alg, hex, _ := strings.Cut(d, ":")
	b, err := os.ReadFile(filepath.Join(l.dir, "blobs", alg, hex))
	if err != nil {
		l.fatalf(t, "blob %s: %v", d, err)
	}
	if got := digestOf(b); got != d {
		l.fatalf(t, "blob %s hashes to %s", d, got)
	}
	return b
}

// verify checks every blob of the layout against its name and returns
// how many there are.
func (l layout) verify(t *testing.T) int {
	t.Helper()
	n := 0
	err := filepath.Walk(filepath.Join(l.dir, "blobs"), func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if got, want := fmt.Sprintf("%x", sha256.Sum256(b)), filepath.Base(p); got != want {
			return fmt.Errorf("blob %s hashes to sha256:%s", p, got)
		}
		n++
		return nil
	})
	if err != nil {
		l.fatalf(t, "%v", err)
	}
	return n
}

// writeImageLayout writes an OCI layout holding one image of the layer
// (an uncompressed tar), tagged ref, and returns the manifest's bytes.
func writeImageLayout(t *testing.T, dir, ref string, layer []byte) []byte {
	t.Helper()
	config := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[%q]}}`, digestOf(layer)))
	m := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`,
		digestOf(config), len(config), digestOf(layer), len(layer)))
	for _, b := range [][]byte{config, layer, m} {
		p := filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(digestOf(b), "sha256:"))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	idx := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[`+
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":%d,`+
		`"annotations":{"org.opencontainers.image.ref.name":%q}}]}`, digestOf(m), len(m), ref)
	os.WriteFile(filepath.Join(dir, "index.json"), []byte(idx), 0o644)
	os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
	return m
}

// layerFiles returns the files of a layer, gzip-compressed or not.
func layerFiles(t *testing.T, b []byte) map[string]string {
	t.Helper()
	if len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	return untar(t, b)
}

// untarFile extracts a tar file into dir.
func untarFile(t *testing.T, tarball, dir string) {
	t.Helper()
	f, err := os.Open(tarball)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("%s: %v", tarball, err)
		}
		p := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			os.MkdirAll(p, 0o755)
		case tar.TypeReg:
			os.MkdirAll(filepath.Dir(p), 0o755)
			b, _ := io.ReadAll(tr)
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// httpGet fetches url from a registry (following redirects) for the
// checks that do not go through a client.
func httpGet(t *testing.T, u string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	m := map[string]string{}
	for i := 0; i+1 < len(hdr); i += 2 {
		m[hdr[i]] = hdr[i+1]
	}
	return do(t, http.MethodGet, u, m, nil)
}

// ---------------------------------------------------------------------------
// The Lambda path with an upload endpoint: what the large-layer scenarios
// (interop_large_test.go, interop_docker_test.go) push to.

// largeLayer is the size of the big layer: well past what one request
// through API Gateway and Lambda takes (10 MB, 6 MB), and past the 4 MiB
// chunks the function advertises; docker, crane and skopeo send it in
// one PATCH, oras in one PUT.
const largeLayer = 60 << 20

// lambdaPayloadLimit is the most a request through the function may
// carry (Lambda's 6 MB; API Gateway's 10 MB is more).
const lambdaPayloadLimit = 6 << 20

// uploadUser may pull and push large/* on an uploadPath, with
// uploadPassword.
const uploadUser, uploadPassword = "alice", "large-layers-password"

// uploadPath is the local Lambda path behind front door kind (http, rest,
// url), with auth on and an upload endpoint: a second pier serve
// --backend aws on the same bucket, table and signing key (the endpoint
// of infra/upload-endpoint). Either the function's upload Locations point
// there (PIER_UPLOAD_URL: the cross-host mode), or, routed, the front
// plays the CloudFront distribution of template.yaml's UploadOrigin,
// which sends the upload requests on the registry's own host to the
// endpoint (PIER_LOCAL_API_UPLOAD_ORIGIN). Either way layer bytes go to
// the endpoint, not through Lambda.
type uploadPath struct {
	lambda *front // the Lambda path: what the clients log in to and push to
	upload *front // the upload endpoint
	// routed: the upload route; gatewayLog is then the local front's log
	// (internal/localapi: a line per request, where it went).
	routed     bool
	gatewayLog string
}

// startUploadPath starts an uploadPath in the cross-host mode.
func startUploadPath(t *testing.T, kind string) *uploadPath { return startUploads(t, kind, false) }

// startUploads starts an uploadPath on a bucket and table of its own,
// and checks where the POST that starts an upload goes: cross-host, it
// is answered with an absolute Location on the endpoint's host; routed,
// the endpoint answers it (through CloudFront's Via) with a Location
// relative to the host the client used.
func startUploads(t *testing.T, kind string, routed bool) *uploadPath {
	t.Helper()
	flags := awsBackendFlags(t) // --backend aws --bucket B --table-prefix P --create-resources
	key := filepath.Join(t.TempDir(), "auth.key")
	mustAdmin(t, flags, uploadPassword+"\n", "user", "add", uploadUser, "--password-stdin", "--grant", "large/*=pull,push")
	upload := startServer(t, t.TempDir(), append(flags, "--auth", "token", "--auth-key-file", key)...)
	u := &uploadPath{upload: startFront(t, "upload-endpoint", upload.addr), routed: routed}
	env := []string{"PIER_AUTH=token", "PIER_BUCKET=" + flags[3], "PIER_TABLE_PREFIX=" + flags[5], "PIER_AUTH_KEY_FILE=" + key}
	if routed {
		dir := t.TempDir()
		u.gatewayLog = filepath.Join(dir, "gateway.log")
		env = append(env, "PIER_LOCAL_API_DIR="+dir, "PIER_LOCAL_API_UPLOAD_ORIGIN=http://"+u.upload.host)
	} else {
		env = append(env, "PIER_UPLOAD_URL=http://"+u.upload.host)
	}
	lambda := startLocalAPI(t, kind, env...)

	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(uploadUser+":"+uploadPassword))
	// The function's first request is its cold start, which creates the
	// bucket and table here (PIER_CREATE_RESOURCES): on a busy machine it
	// may run out of the emulator's time once, so a 5xx is asked again.
	probe := func() *http.Response {
		return call(t, http.MethodPost, lambda.url("/v2/large/probe/blobs/uploads/"), nil, "Authorization", basic)
	}
	if routed { // the POST goes to the endpoint: wake the function first
		call(t, http.MethodGet, lambda.url("/v2/"), nil, "Authorization", basic)
	}
	resp := probe()
	for try := 1; try < 3 && resp.StatusCode >= 500; try++ {
		t.Logf("POST /v2/<name>/blobs/uploads/ on the Lambda path: %s; asking again", resp.Status)
		resp = probe()
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusAccepted || loc == nil {
		t.Fatalf("POST /v2/<name>/blobs/uploads/ as %s on the Lambda path (%s): %s, Location %q; want 202", uploadUser, kind, resp.Status, resp.Header.Get("Location"))
	}
	switch {
	case routed && (loc.IsAbs() || !strings.HasPrefix(loc.Path, "/v2/large/probe/blobs/uploads/") || !strings.Contains(resp.Header.Get("Via"), "(CloudFront)")):
		t.Fatalf("the front does not route uploads to the endpoint: with PIER_LOCAL_API_UPLOAD_ORIGIN=http://%s, POST /v2/<name>/blobs/uploads/ answered %s with Location %q, Via %q (want 202 from the endpoint through CloudFront, a relative Location)",
			u.upload.host, resp.Status, resp.Header.Get("Location"), resp.Header.Get("Via"))
	case !routed && (!loc.IsAbs() || loc.Host != u.upload.host):
		t.Fatalf("the function does not send uploads to the upload endpoint: with PIER_UPLOAD_URL=http://%s, POST /v2/<name>/blobs/uploads/ answered %s with Location %q (want 202 and an absolute Location on the endpoint's host)",
			u.upload.host, resp.Status, resp.Header.Get("Location"))
	}
	u.lambda = startFront(t, "lambda-"+kind, lambda.addr)
	return u
}

// marks returns the marks of u's fronts, for checkLargePush.
func (u *uploadPath) marks() (lambda, upload int) { return u.lambda.mark(), u.upload.mark() }

// checkLargePush checks the exchanges since the marks (of a push of a
// layer of at least size bytes): the layer's bytes went to the upload
// endpoint in PATCH or PUT requests, and no request over the Lambda
// payload limit went to the Lambda path (its front door refuses those
// with 413, or API Gateway's 500 when Lambda refuses the event, so a push
// that passed sent none; this says so if one did).
func (u *uploadPath) checkLargePush(t *testing.T, lambdaMark, uploadMark int, size int64) {
	t.Helper()
	sent, ex := u.uploaded(uploadMark)
	if sent < size {
		t.Errorf("the upload endpoint received %d bytes in PATCH and PUT requests; want the %d of the large layer (%d exchanges)", sent, size, len(ex))
	}
	for _, e := range u.lambda.since(lambdaMark) {
		if e.sent > lambdaPayloadLimit || e.status == http.StatusRequestEntityTooLarge || e.status >= 500 {
			t.Errorf("a request of %d bytes went to the Lambda path, answered %d: %s", e.sent, e.status, e)
		}
	}
}

// uploaded returns the upload endpoint's exchanges since mark, and the
// body bytes it received in PATCH and PUT requests among them.
func (u *uploadPath) uploaded(mark int) (int64, []exchange) {
	var sent int64
	ex := u.upload.since(mark)
	for _, e := range ex {
		if e.method == http.MethodPatch || e.method == http.MethodPut {
			sent += e.sent
		}
	}
	return sent, ex
}
