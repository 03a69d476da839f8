package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/pier-registry/pier/internal/awstest"
	"github.com/pier-registry/pier/internal/randid"
)

// The end-to-end test of sites: oras pushes a site both ways (a layer per
// file, and a directory as one archive) to `pier serve` and to the local
// Lambda path, and headless Chromium opens it.

// sitesSelected reports whether the site tests should run: they need oras
// and Chromium (scripts/tools.sh), so they run when asked for (make sites:
// go test -run Sites) or with PIER_SITES=1.
func sitesSelected() bool { return suiteSelected("PIER_SITES", "Sites") }

// siteTool returns the path that scripts/tools.sh prints for name.
func siteTool(t *testing.T, name string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("../../scripts/tools.sh", name)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("scripts/tools.sh %s: %v\n%s", name, err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

// The pages of the test site. Each page's h1 is blue once style.css
// applies; index.html shows logo.png and links to page2.html; the
// directory push also has docs/index.html, which uses ../style.css.
const (
	siteColor = "rgb(10, 120, 200)"
	siteIndex = `<!doctype html><html><head><title>Pier site</title><link rel="stylesheet" href="style.css"></head>` +
		`<body><h1 id="home">Hello from Pier</h1><img id="logo" src="logo.png" alt="logo"><a id="next" href="page2.html">next</a></body></html>`
	sitePage2 = `<!doctype html><html><head><link rel="stylesheet" href="style.css"></head>` +
		`<body><h1 id="page2">Page two</h1><a id="back" href="./">home</a></body></html>`
	siteDocs = `<!doctype html><html><head><link rel="stylesheet" href="../style.css"></head>` +
		`<body><h1 id="docs">Docs</h1></body></html>`
	siteCSS = "h1 { color: " + siteColor + "; }\n"
)

// siteFiles writes the test site into a new directory www and returns
// the directory that holds it.
func siteFiles(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for x := range 40 {
		for y := range 30 {
			img.Set(x, y, color.RGBA{200, uint8(x * 6), 10, 255})
		}
	}
	var logo bytes.Buffer
	if err := png.Encode(&logo, img); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string][]byte{
		"www/index.html":      []byte(siteIndex),
		"www/page2.html":      []byte(sitePage2),
		"www/style.css":       []byte(siteCSS),
		"www/logo.png":        logo.Bytes(),
		"www/docs/index.html": []byte(siteDocs),
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// siteRegistry is a registry with auth on for the site tests: user may
// pull and push everything, anyone may pull public/*.
type siteRegistry struct {
	inst           *instance
	user, password string
}

func (s *siteRegistry) basic() string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(s.user+":"+s.password))
}

// startSiteRegistry starts pier serve (lambda false) or the local Lambda
// path (HTTP API) with auth on, and its user.
func startSiteRegistry(t *testing.T, lambda bool) *siteRegistry {
	t.Helper()
	s := &siteRegistry{user: "alice", password: randid.Hex(6)}
	data := t.TempDir()
	bucket, prefix := "sites-"+s.password[:8], "sites-"+s.password[:8]+"-"
	backend := []string{"--data", data}
	if lambda {
		awstest.Require(t)
		backend = []string{"--backend", "aws", "--bucket", bucket, "--table-prefix", prefix, "--create-resources"}
	}
	mustAdmin(t, backend, s.password+"\n", "user", "add", s.user, "--password-stdin", "--grant", "*=pull,push")
	if lambda {
		s.inst = startLocalAPI(t, "http", "PIER_AUTH=token", "PIER_PUBLIC=public/*", "PIER_BUCKET="+bucket, "PIER_TABLE_PREFIX="+prefix)
	} else {
		s.inst = startServer(t, data, "--auth", "token", "--public", "public/*")
	}
	return s
}

// orasPush runs oras push in dir with args after the registry's ref.
func (s *siteRegistry) orasPush(t *testing.T, oras, dir, repo string, args ...string) {
	t.Helper()
	cmd := exec.Command(oras, append([]string{"push", "--plain-http", "--username", s.user, "--password-stdin",
		s.inst.addr + "/" + repo}, args...)...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(s.password)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "DOCKER_CONFIG="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("oras push %s: %v\n%s", repo, err, out)
	}
}

// pushSites pushes the test site as public/files:v1 (a layer per file),
// public/dir:v1 (the directory www) and private/files:v1.
func (s *siteRegistry) pushSites(t *testing.T) {
	t.Helper()
	oras := siteTool(t, "oras")
	dir := siteFiles(t)
	www := filepath.Join(dir, "www")
	files := []string{"index.html:text/html", "page2.html:text/html", "style.css:text/css", "logo.png:image/png"}
	s.orasPush(t, oras, www, "public/files:v1", files...)
	s.orasPush(t, oras, dir, "public/dir:v1", "./www") // as the README shows it
	s.orasPush(t, oras, www, "private/files:v1", files...)
}

// pageState is what a page shows, read in the browser.
type pageState struct {
	URL   string `json:"url"`
	H1    string `json:"h1"`
	Color string `json:"color"`
	// Image is the natural width of the page's image (0: not loaded).
	Image  int `json:"image"`
	Sheets int `json:"sheets"`
}

const pageStateJS = `(() => {
	const h = document.querySelector('h1'), i = document.querySelector('img');
	return {url: location.href, h1: h ? h.textContent : '', color: h ? getComputedStyle(h).color : '',
		image: i && i.complete ? i.naturalWidth : 0, sheets: document.styleSheets.length};
})()`

// browser starts headless Chromium with a new profile; it stops at the
// test's end.
func browser(t *testing.T) context.Context {
	t.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(siteTool(t, "chromium")),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
	)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// open navigates the browser to u, runs more actions, and returns what
// the page then shows.
func open(t *testing.T, ctx context.Context, u string, more ...chromedp.Action[chromedp.Void]) pageState {
	t.Helper()
	st, err := tryOpen(ctx, u, more...)
	if err != nil {
		t.Fatalf("open %s: %v", u, err)
	}
	return st
}

// tryOpen is open, returning the browser's error.
func tryOpen(ctx context.Context, u string, more ...chromedp.Action[chromedp.Void]) (pageState, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, append([]chromedp.Action[chromedp.Void]{chromedp.Navigate(u)}, more...)...); err != nil {
		return pageState{}, err
	}
	return chromedp.Run(ctx, chromedp.Evaluate[pageState](pageStateJS))
}

// checkSite opens the site at base in the browser: the home page renders
// with its stylesheet and image, its link leads to the second page, and
// (for the directory push) a directory's URL without its '/' works.
func checkSite(t *testing.T, ctx context.Context, base string, dirs bool) {
	t.Helper()
	home := open(t, ctx, base)
	if home.URL != base || home.H1 != "Hello from Pier" || home.Color != siteColor || home.Image != 40 || home.Sheets != 1 {
		t.Errorf("%s: %+v; want the home page, h1 %s, a 40-pixel image, 1 stylesheet", base, home, siteColor)
	}
	next := open(t, ctx, base, chromedp.Click(chromedp.CSS("#next")), chromedp.WaitVisible(chromedp.CSS("#page2")))
	if next.URL != base+"page2.html" || next.H1 != "Page two" || next.Color != siteColor {
		t.Errorf("link from %s: %+v; want page2.html, styled", base, next)
	}
	back := open(t, ctx, base+"page2.html", chromedp.Click(chromedp.CSS("#back")), chromedp.WaitVisible(chromedp.CSS("#home")))
	if back.URL != base || back.Image != 40 {
		t.Errorf("link back to %s: %+v", base, back)
	}
	if dirs {
		docs := open(t, ctx, base+"docs")
		if docs.URL != base+"docs/" || docs.H1 != "Docs" || docs.Color != siteColor {
			t.Errorf("%sdocs: %+v; want a redirect to docs/, styled by ../style.css", base, docs)
		}
	}
	missing := open(t, ctx, base+"missing.html")
	if !strings.Contains(missing.H1, "404") {
		t.Errorf("%smissing.html: %+v; want a 404 page", base, missing)
	}
}

// TestSites pushes sites with oras to pier serve and to the local Lambda
// path, and opens them in headless Chromium.
func TestSites(t *testing.T) {
	if !sitesSelected() {
		t.Skip("the site tests need oras and Chromium: run with -run Sites (make sites) or PIER_SITES=1")
	}
	for _, path := range []struct {
		name   string
		lambda bool
	}{{"serve", false}, {"lambda", true}} {
		t.Run(path.name, func(t *testing.T) {
			start := time.Now()
			s := startSiteRegistry(t, path.lambda)
			s.pushSites(t)
			ctx := browser(t)
			root := "http://" + s.inst.addr + "/sites/"
			checkSite(t, ctx, root+"public/files/@v1/", false)
			checkSite(t, ctx, root+"public/dir/@v1/", true)

			// The root without its '/' is redirected to it.
			if st := open(t, ctx, root+"public/dir/@v1"); st.URL != root+"public/dir/@v1/" || st.Image != 40 {
				t.Errorf("public/dir/@v1: %+v; want a redirect to the root with its '/'", st)
			}

			// A private site: refused without credentials (the server asks
			// for Basic ones), shown with them.
			private := root + "private/files/@v1/"
			resp, _ := httpGet(t, private)
			if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("private site, anonymous: %s, WWW-Authenticate %q; want 401 with a Basic challenge", resp.Status, resp.Header.Get("WWW-Authenticate"))
			}
			// Headless Chromium cannot ask its user: it gives up on the
			// challenge, as a user who cancels the prompt does.
			if st, err := tryOpen(ctx, private); err == nil || !strings.Contains(err.Error(), "ERR_INVALID_AUTH_CREDENTIALS") {
				t.Errorf("private site in the browser without credentials: %+v, %v; want net::ERR_INVALID_AUTH_CREDENTIALS", st, err)
			}
			if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
				t.Fatal(err)
			}
			if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": s.basic()}}); err != nil {
				t.Fatal(err)
			}
			checkSite(t, ctx, private, false)
			t.Logf("%s: pushed and checked in %s", path.name, time.Since(start).Round(time.Millisecond))
		})
	}
}

// siteView is the S3 and DynamoDB requests of one view of a site's home
// page (the page, its stylesheet and its image).
type siteView struct{ s3, dynamodb int }

// view GETs the home page of the site at base and its two assets from s,
// checks the answers, and returns the backend requests they made.
func view(t *testing.T, s *instance, base string) siteView {
	t.Helper()
	var v siteView
	for _, f := range []struct{ path, typ string }{{"", "text/html; charset=utf-8"}, {"style.css", "text/css; charset=utf-8"}, {"logo.png", "image/png"}} {
		resp, body := httpGet(t, s.url(base+f.path))
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != f.typ || len(body) == 0 {
			t.Fatalf("GET %s%s: %s, %s, %d bytes", base, f.path, resp.Status, resp.Header.Get("Content-Type"), len(body))
		}
		s3, ddb, ops := s.backendRequests(t, resp.Header.Get("X-Request-Id"))
		t.Logf("GET %-40s S3 %d, DynamoDB %d %v", base+f.path, s3, ddb, ops)
		v.s3 += s3
		v.dynamodb += ddb
	}
	return v
}

// TestSitesAWSRequests measures the S3 and DynamoDB requests of a page
// view on the aws backend (docs/sites.md): a site served from its layers,
// and one unpacked from a directory, on the first view of a process, a
// later one, and the first view of another process (which reads the
// recorded index instead of unpacking again).
func TestSitesAWSRequests(t *testing.T) {
	if !sitesSelected() {
		t.Skip("the site tests need oras: run with -run Sites (make sites) or PIER_SITES=1")
	}
	flags := awsBackendFlags(t)
	s := startServer(t, t.TempDir(), flags...)
	oras := siteTool(t, "oras")
	dir := siteFiles(t)
	www := filepath.Join(dir, "www")
	push := func(wd, repo string, args ...string) {
		cmd := exec.Command(oras, append([]string{"push", "--plain-http", s.addr + "/" + repo}, args...)...)
		cmd.Dir = wd
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "DOCKER_CONFIG="+t.TempDir())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("oras push %s: %v\n%s", repo, err, out)
		}
	}
	push(dir, "counts/dir:v1", "www")
	// A file over the 1 MiB that come through the registry: a layer of
	// counts/files, and in a directory of its own, counts/big.
	big := make([]byte, 1<<20+1)
	rand.Read(big)
	for _, p := range []string{filepath.Join(www, "big.bin"), filepath.Join(dir, "big", "big.bin")} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, big, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	push(www, "counts/files:v1", "index.html:text/html", "page2.html:text/html", "style.css:text/css", "logo.png:image/png", "big.bin")
	push(dir, "counts/big:v1", "big")

	// cold is a process that has seen nothing of the sites (the pushes
	// went to s, whose blob link cache holds their layers).
	cold := startServer(t, t.TempDir(), flags...)
	for _, step := range []struct {
		name string
		srv  *instance
		base string
		want siteView
	}{
		// Per file: the tag (GetItem), the layer's link (GetItem: the
		// blob link cache is off by default), the bytes (GetObject).
		{"a layer per file, first view of a process", cold, "/sites/counts/files/@v1/", siteView{3, 6}},
		{"a layer per file, later view", cold, "/sites/counts/files/@v1/", siteView{3, 6}},
		// The first view ever unpacks: the tag, the site index record
		// (none), the archive's link (GetItem x3), the archive (GetObject),
		// its 5 files and the index (PutObject x6), the record (PutItem).
		{"a directory, first view (unpacks)", cold, "/sites/counts/dir/@v1/", siteView{10, 6}},
		{"a directory, later view", cold, "/sites/counts/dir/@v1/", siteView{3, 3}},
		// Another process reads the record, the archive's link and the
		// index once.
		{"a directory, first view of another process", s, "/sites/counts/dir/@v1/", siteView{4, 5}},
		{"a directory, later view of another process", s, "/sites/counts/dir/@v1/", siteView{3, 3}},
	} {
		if got := view(t, step.srv, step.base); got != step.want {
			t.Errorf("%s: S3 %d, DynamoDB %d; want S3 %d, DynamoDB %d (docs/sites.md)", step.name, got.s3, got.dynamodb, step.want.s3, step.want.dynamodb)
		}
	}

	// A large file, a layer or unpacked, is a redirect to S3; a HEAD of
	// it is answered by Pier, with no request to S3.
	for _, base := range []string{"/sites/counts/files/@v1/", "/sites/counts/big/@v1/"} {
		resp := call(t, "GET", s.url(base+"big.bin"), nil)
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusTemporaryRedirect || !strings.Contains(loc, "X-Amz-Signature=") {
			t.Errorf("GET %sbig.bin: %s, Location %q; want a 307 to a presigned URL", base, resp.Status, loc)
			continue
		}
		if resp, body := httpGet(t, loc); resp.StatusCode != http.StatusOK || !bytes.Equal(body, big) {
			t.Errorf("GET %sbig.bin from S3: %s, %d bytes; want the file's %d", base, resp.Status, len(body), len(big))
		}
		head := call(t, "HEAD", s.url(base+"big.bin"), nil)
		if s3, _, _ := s.backendRequests(t, head.Header.Get("X-Request-Id")); head.StatusCode != http.StatusOK || head.ContentLength != int64(len(big)) || s3 != 0 {
			t.Errorf("HEAD %sbig.bin: %s, Content-Length %d, %d S3 requests; want 200, %d, none", base, head.Status, head.ContentLength, s3, len(big))
		}
	}
}
