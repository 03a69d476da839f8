package main

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// These tests run pier push and pier copy, the real binary, against real
// registries (pier serve, on the embedded and the aws backends, and the
// local Lambda path), and pull back what they pushed byte for byte.

// pier push sends an image from an OCI layout (named by tag, or the only
// one), a docker save tarball and an index; a second push of the same
// sends no blob.
func TestPush(t *testing.T) {
	s := startServer(t, t.TempDir())
	home := pushHome(t, nil)

	img := randomImage(t, filepath.Join(t.TempDir(), "layout"), "v1", 300<<10, 3)
	single := t.TempDir()
	randomImage(t, single, "only", 100<<10, 1)
	onlyImg, _ := openLayoutDir(t, single).ImageIndex()
	onlyDesc, _ := onlyImg.IndexManifest()
	onlyImage, _ := onlyImg.Image(onlyDesc.Manifests[0].Digest)
	archive, archived := dockerArchive(t, img, "example.com/app:v1")
	indexDir := filepath.Join(t.TempDir(), "index")
	randomImage(t, indexDir, "other", 10<<10, 1) // a second manifest: the tag must pick
	idx := randomIndex(t, indexDir, "multi", 200<<10, 2, 3)
	imgDir := t.TempDir()
	layoutImage(t, imgDir, "v1", img)

	for _, tc := range []struct {
		name, source, dest string
		want               content
	}{
		{"oci layout by tag", "oci:" + imgDir + ":v1", "push/layout:v1", imageContent(t, img)},
		{"oci layout, its only image", single, "push/single:latest", imageContent(t, onlyImage)},
		{"docker save tarball", "docker-archive:" + archive, "push/archive:v1", imageContent(t, archived)},
		{"docker save tarball by tag", "docker-archive:" + archive + ":example.com/app:v1", "push/archive-by-tag:v2", imageContent(t, archived)},
		{"index from an OCI layout", "oci:" + indexDir + ":multi", "push/index:v1", indexContent(t, idx)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dest := s.addr + "/" + tc.dest
			r := mustPush(t, home, dest, tc.want.root, "push", tc.source, dest)
			repo, tag, _ := strings.Cut(tc.dest, ":")
			checkPulled(t, s.url(""), repo, tag, tc.want)
			if n := countLines(r.stderr, " pushed"); n != len(tc.want.blobs) {
				t.Errorf("%d blobs said pushed, want %d:\n%s", n, len(tc.want.blobs), r.stderr)
			}
			again := mustPush(t, home, dest, tc.want.root, "push", tc.source, dest)
			if want := fmt.Sprintf("%d blobs (0 sent, %d already there)", len(tc.want.blobs), len(tc.want.blobs)); !strings.Contains(again.stderr, want) {
				t.Errorf("a second push says:\n%s\nwant %q", again.stderr, want)
			}
		})
	}
}

// Bad sources and destinations get a clear message, and push nothing.
func TestPushErrors(t *testing.T) {
	s := startServer(t, t.TempDir())
	home := pushHome(t, nil)
	two := t.TempDir()
	randomImage(t, two, "a", 1<<10, 1)
	randomImage(t, two, "b", 1<<10, 1)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no such source", []string{"push", filepath.Join(two, "nope"), s.addr + "/e/x:v1"}, "no such file"},
		{"layout of two without a tag", []string{"push", "oci:" + two, s.addr + "/e/x:v1"}, "holds 2 manifests: name one as oci:"},
		{"unknown tag", []string{"push", "oci:" + two + ":c", s.addr + "/e/x:v1"}, `no manifest tagged "c" (its tags: a, b)`},
		{"bad destination", []string{"push", "oci:" + two + ":a", "UPPER/x"}, "destination"},
		{"one argument", []string{"push", "oci:" + two + ":a"}, "push takes SOURCE and DEST-REF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runPush(t, home, tc.args...)
			if r.err == nil || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("pier %s: %v, stderr:\n%s\nwant a failure saying %q", strings.Join(tc.args, " "), r.err, r.stderr, tc.want)
			}
		})
	}
	resp, body := httpGet(t, s.url("/v2/_catalog"))
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), "e/x") {
		t.Errorf("catalog after the failures: %s %s", resp.Status, body)
	}
}

// A registry with a small OCI-Chunk-Max-Length gets PATCH chunks within
// it; a chunk cut off on the way is resumed from the upload's Range.
func TestPushChunked(t *testing.T) {
	const max = 1 << 20
	s := startServer(t, t.TempDir(), "--chunk-min-length", "65536", "--chunk-max-length", fmt.Sprint(max))
	f := startFront(t, "chunked", s.addr)
	home := pushHome(t, nil)
	dir := t.TempDir()
	img := rawImage(t, dir, "v1", 3<<20+12345)
	want := imageContent(t, img)

	for _, tc := range []struct {
		name, repo string
		cut        bool
	}{
		{"chunks", "chunked/app", false},
		{"a chunk cut off", "chunked/resumed", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cut {
				f.arm("cut", 1, func(r *http.Request) bool { return r.Method == http.MethodPatch })
			}
			m := f.mark()
			dest := f.host + "/" + tc.repo + ":v1"
			r := mustPush(t, home, dest, want.root, "push", "oci:"+dir+":v1", dest)
			checkPulled(t, s.url(""), tc.repo, "v1", want)
			log := f.since(m)
			var patches, cuts, statusAfterCut int
			for _, e := range log {
				switch {
				case e.method == http.MethodPatch:
					patches++
					if e.fault != "" {
						cuts++
					} else if e.sent > max || e.contentRange == "" {
						t.Errorf("PATCH of %d bytes, Content-Range %q: want at most %d, with a range", e.sent, e.contentRange, max)
					}
				case e.method == http.MethodPut && e.sent > max:
					t.Errorf("a PUT sent %d bytes, over the chunk limit", e.sent)
				case e.method == http.MethodGet && strings.Contains(e.uri, "/blobs/uploads/") && cuts > 0:
					statusAfterCut++
				}
			}
			if patches < 4 {
				t.Errorf("%d PATCHes for a layer of 3 MiB in chunks of 1 MiB", patches)
			}
			if tc.cut && (cuts != 1 || statusAfterCut == 0 || !strings.Contains(r.stderr, "resuming at")) {
				t.Errorf("cut %d PATCH, %d status GET after it; stderr:\n%s\nexchanges:\n%s", cuts, statusAfterCut, r.stderr, exchanges(log))
			}
		})
	}
}

// A push that fails mid-blob leaves the upload where it stands; the next
// push of the blob to the repository continues it from the registry's
// Range instead of sending it all again.
func TestPushContinuesAnEarlierPush(t *testing.T) {
	s := startServer(t, t.TempDir(), "--chunk-min-length", "65536", "--chunk-max-length", "1048576")
	f := startFront(t, "continue", s.addr)
	home := pushHome(t, nil)
	dir := t.TempDir()
	want := imageContent(t, rawImage(t, dir, "v1", 4<<20))
	dest := f.host + "/continue/app:v1"
	args := []string{"push", "--retries", "0", "--jobs", "1", "oci:" + dir + ":v1", dest}

	// The third chunk is cut off, and with --retries 0 the push fails.
	f.arm("cut", 2, func(r *http.Request) bool { return r.Method == http.MethodPatch })
	if r := runPush(t, home, args...); r.err == nil || !strings.Contains(r.stderr, "chunk 2097152-3145727") {
		t.Fatalf("push with a chunk cut off: %v\n%s\nwant a failure naming the chunk", r.err, r.stderr)
	}
	m := f.mark()
	r := mustPush(t, home, dest, want.root, args...)
	checkPulled(t, s.url(""), "continue/app", "v1", want)
	var posts int
	var patched int64
	for _, e := range f.since(m) {
		if e.method == http.MethodPost {
			posts++
		}
		if e.method == http.MethodPatch {
			patched += e.sent
		}
	}
	// The layer's upload is continued: no new upload, only the bytes from
	// the end of the first two chunks on (the config went in the first
	// push).
	if posts != 0 || patched > 2<<20+1<<19 || !strings.Contains(r.stderr, "continuing the upload of an earlier push at byte") {
		t.Errorf("the second push started %d uploads (want none), sent %d bytes in chunks (want at most the last 2.5 MiB):\n%s\n%s", posts, patched, r.stderr, exchanges(f.since(m)))
	}
}

// exchanges lists a front's log, one exchange a line.
func exchanges(log []exchange) string {
	var b strings.Builder
	for _, e := range log {
		fmt.Fprintln(&b, e)
	}
	return b.String()
}

// pier copy copies an image and an index from a registry to another, and
// within one registry mounts the blobs instead of sending them.
func TestCopy(t *testing.T) {
	a, b := startServer(t, t.TempDir()), startServer(t, t.TempDir())
	home := pushHome(t, nil)
	dir := t.TempDir()
	img := randomImage(t, dir, "img", 200<<10, 2)
	idx := randomIndex(t, dir, "idx", 50<<10, 1, 2)
	for _, tc := range []struct {
		name, tag string
		want      content
	}{
		{"image", "img", imageContent(t, img)},
		{"index", "idx", indexContent(t, idx)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := a.addr + "/copy/src:" + tc.tag
			mustPush(t, home, src, tc.want.root, "push", "oci:"+dir+":"+tc.tag, src)

			dest := b.addr + "/copy/dest:" + tc.tag
			mustPush(t, home, dest, tc.want.root, "copy", src, dest)
			checkPulled(t, b.url(""), "copy/dest", tc.tag, tc.want)

			within := a.addr + "/copy/within:" + tc.tag
			r := mustPush(t, home, within, tc.want.root, "copy", src, within)
			checkPulled(t, a.url(""), "copy/within", tc.tag, tc.want)
			if n := countLines(r.stderr, "mounted from copy/src"); n != len(tc.want.blobs) {
				t.Errorf("%d of %d blobs mounted within the registry:\n%s", n, len(tc.want.blobs), r.stderr)
			}
		})
	}
}

// pier push logs in with the credentials of docker's config.json: a user
// who may push does; without credentials, or as a user who may only pull,
// the push is refused with the registry's error, and nothing lands.
func TestPushAuth(t *testing.T) {
	data := t.TempDir()
	secrets := map[string]string{"alice": "alice-secret-1", "reader": "reader-secret-2"}
	mustAdmin(t, []string{"--data", data}, secrets["alice"]+"\n", "user", "add", "alice", "--password-stdin", "--grant", "auth/*=pull,push")
	mustAdmin(t, []string{"--data", data}, secrets["reader"]+"\n", "user", "add", "reader", "--password-stdin", "--grant", "auth/*=pull")
	s := startServer(t, data, "--auth", "token")
	dir := t.TempDir()
	img := randomImage(t, dir, "v1", 100<<10, 2)
	want := imageContent(t, img)
	dest := s.addr + "/auth/app:v1"

	r := mustPush(t, pushHome(t, map[string]string{s.addr: "alice:" + secrets["alice"]}), dest, want.root, "push", "oci:"+dir+":v1", dest)
	checkPulled(t, s.url(""), "auth/app", "v1", want, "Authorization", "Basic "+basicAuth("alice", secrets["alice"]))
	if !strings.Contains(r.stderr, "(2 sent") && !strings.Contains(r.stderr, "(3 sent") {
		t.Errorf("alice's push:\n%s", r.stderr)
	}

	for _, tc := range []struct {
		name  string
		creds map[string]string
		want  []string // pieces of the message
	}{
		{"no credentials", nil, []string{"HEAD ", "401 Unauthorized: log in (docker login " + s.addr + ") as an identity that may pull and push auth/refused"}},
		// The registry's OCI error, as it says it.
		{"a user who may only pull", map[string]string{s.addr: "reader:" + secrets["reader"]}, []string{"POST ", "/v2/auth/refused/blobs/uploads/: UNAUTHORIZED: ", "push", "auth/refused"}},
		{"a wrong password", map[string]string{s.addr: "alice:wrong"}, []string{"log in to " + s.addr, "UNAUTHORIZED: authentication failed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			other := s.addr + "/auth/refused:v1"
			r := runPush(t, pushHome(t, tc.creds), "push", "oci:"+dir+":v1", other)
			if r.err == nil {
				t.Errorf("push: succeeded\n%s", r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("push: %v\n%s\nwant a failure saying %q", r.err, r.stderr, w)
				}
			}
			resp, _ := httpGet(t, s.url("/v2/auth/refused/manifests/v1"), "Authorization", "Basic "+basicAuth("alice", secrets["alice"]))
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("the refused push left a manifest: %s", resp.Status)
			}
		})
	}
}

func basicAuth(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}

// On a terminal the progress is redrawn in place: a line per blob under
// way and the total, then each blob's line once it is in the registry.
func TestPushProgressOnTerminal(t *testing.T) {
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("no script(1) to run pier push on a pseudo-terminal")
	}
	s := startServer(t, t.TempDir(), "--chunk-max-length", "1048576")
	dir := t.TempDir()
	img := rawImage(t, dir, "v1", 8<<20)
	want := imageContent(t, img)
	dest := s.addr + "/tty/app:v1"
	cmd := exec.Command(script, "-qefc", strings.Join([]string{pierBinary(t), "push", "oci:" + dir + ":v1", dest}, " "), "/dev/null")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + pushHome(t, nil), "TERM=xterm"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pier push on a terminal: %v\n%q", err, out)
	}
	checkPulled(t, s.url(""), "tty/app", "v1", want)
	text := string(out)
	for _, w := range []string{"\x1b[2K", "total 8.0 MiB / 8.0 MiB", "pushed " + dest, "@" + want.root.String()} {
		if !strings.Contains(text, w) {
			t.Errorf("the terminal shows no %q:\n%q", w, text)
		}
	}
	for d := range want.blobs {
		if !strings.Contains(text, d.String()[:19]) {
			t.Errorf("the terminal shows no line for blob %s:\n%q", d, text)
		}
	}
}
