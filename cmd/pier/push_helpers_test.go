package main

// The machinery of the pier push and pier copy tests (push_test.go):
// images written as OCI layouts and docker save tarballs with
// go-containerregistry, a run of the real binary with a home of its own,
// and a byte-exact check of what a registry serves back.

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	ocilayout "github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// pushRun is one run of pier push or pier copy.
type pushRun struct {
	args           []string
	stdout, stderr string
	err            error
}

// pushHome makes a home directory for pier push with a docker config
// holding creds (host → "user:password"), none when creds is empty.
func pushHome(t *testing.T, creds map[string]string) string {
	t.Helper()
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".docker"), 0o700)
	auths := map[string]map[string]string{}
	for host, c := range creds {
		auths[host] = map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(c))}
	}
	b, _ := json.Marshal(map[string]any{"auths": auths})
	if err := os.WriteFile(filepath.Join(home, ".docker", "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return home
}

// runPush runs `pier ARGS...` with home as HOME (its .docker/config.json
// holds the credentials).
func runPush(t *testing.T, home string, args ...string) pushRun {
	t.Helper()
	cmd := exec.Command(pierBinary(t), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TMPDIR=" + os.TempDir()}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return pushRun{args: args, stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// mustPush is runPush, failing the test when the command fails or does
// not print the destination's repository with digest.
func mustPush(t *testing.T, home string, dest string, root v1.Hash, args ...string) pushRun {
	t.Helper()
	r := runPush(t, home, args...)
	if r.err != nil {
		t.Fatalf("pier %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.err, r.stdout, r.stderr)
	}
	repo := dest
	if i := strings.LastIndex(dest, ":"); i > strings.LastIndex(dest, "/") {
		repo = dest[:i]
	}
	if want := repo + "@" + root.String(); strings.TrimSpace(r.stdout) != want {
		t.Errorf("pier %s printed %q, want %q", strings.Join(args, " "), r.stdout, want)
	}
	return r
}

// content is what a push must put in a registry: its root manifest, and
// every manifest and blob by digest with its size.
type content struct {
	root      v1.Hash
	manifests map[v1.Hash]int64
	blobs     map[v1.Hash]int64
}

// imageContent is the content of img.
func imageContent(t *testing.T, img v1.Image) content {
	t.Helper()
	c := content{manifests: map[v1.Hash]int64{}, blobs: map[v1.Hash]int64{}}
	c.root = c.addImage(t, img)
	return c
}

func (c content) addImage(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	size, _ := img.Size()
	c.manifests[d] = size
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	c.blobs[m.Config.Digest] = m.Config.Size
	for _, l := range m.Layers {
		c.blobs[l.Digest] = l.Size
	}
	return d
}

// indexContent is the content of an index of images.
func indexContent(t *testing.T, idx v1.ImageIndex) content {
	t.Helper()
	c := content{manifests: map[v1.Hash]int64{}, blobs: map[v1.Hash]int64{}}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range m.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		c.addImage(t, img)
	}
	c.root, _ = idx.Digest()
	size, _ := idx.Size()
	c.manifests[c.root] = size
	return c
}

// randomImage is an image of layers random layers of size bytes, read
// back from the OCI layout it is written to in dir under tag (its
// layers gzipped, as images are).
func randomImage(t *testing.T, dir, tag string, size, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(size, layers)
	if err != nil {
		t.Fatal(err)
	}
	return layoutImage(t, dir, tag, img)
}

// rawImage is an image of one layer of size random bytes stored as they
// are (media type application/vnd.oci.image.layer.v1.tar, no gzip: quick
// to make when large), in an OCI layout in dir under tag.
func rawImage(t *testing.T, dir, tag string, size int64) v1.Image {
	t.Helper()
	l, err := random.Layer(size, types.OCIUncompressedLayer)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), l)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	return layoutImage(t, dir, tag, img)
}

// layoutImage writes img to the OCI layout in dir under tag, and returns
// it as the layout holds it.
func layoutImage(t *testing.T, dir, tag string, img v1.Image) v1.Image {
	t.Helper()
	p := openLayoutDir(t, dir)
	if err := p.AppendImage(img, ocilayout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag})); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	back, err := p.Image(d)
	if err != nil {
		t.Fatal(err)
	}
	return back
}

// randomIndex writes an index of n images to the OCI layout in dir under
// tag.
func randomIndex(t *testing.T, dir, tag string, size, layers, n int64) v1.ImageIndex {
	t.Helper()
	idx, err := random.Index(size, layers, n)
	if err != nil {
		t.Fatal(err)
	}
	p := openLayoutDir(t, dir)
	if err := p.AppendIndex(idx, ocilayout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag})); err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	ii, _ := p.ImageIndex()
	back, err := ii.ImageIndex(d)
	if err != nil {
		t.Fatal(err)
	}
	return back
}

// openLayoutDir opens the OCI layout in dir, making it when there is none.
func openLayoutDir(t *testing.T, dir string) ocilayout.Path {
	t.Helper()
	if p, err := ocilayout.FromPath(dir); err == nil {
		return p
	}
	p, err := ocilayout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// dockerArchive writes img as a docker save tarball tagged tag, and
// returns the file and the image as docker load would read it.
func dockerArchive(t *testing.T, img v1.Image, tag string) (string, v1.Image) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "image.tar")
	ref, err := name.NewTag(tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := tarball.WriteToFile(file, ref, img); err != nil {
		t.Fatal(err)
	}
	back, err := tarball.ImageFromPath(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	return file, back
}

// checkPulled pulls every manifest and blob of want from repo of the
// registry at base (http://host) and checks their bytes, and that ref
// (a tag) names the root; hdr are more request headers (Authorization).
func checkPulled(t *testing.T, base, repo, ref string, want content, hdr ...string) {
	t.Helper()
	get := func(kind, d string) []byte {
		resp, body := httpGet(t, base+"/v2/"+repo+"/"+kind+"/"+d, append([]string{"Accept", acceptAll}, hdr...)...)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s %s of %s: %s %s", kind, d, repo, resp.Status, body)
			return nil
		}
		return body
	}
	body := get("manifests", ref)
	if got := "sha256:" + hex.EncodeToString(sha256Of(body)); got != want.root.String() {
		t.Errorf("%s:%s is %s, want %s", repo, ref, got, want.root)
	}
	for kind, set := range map[string]map[v1.Hash]int64{"manifests": want.manifests, "blobs": want.blobs} {
		for d, size := range set {
			b := get(kind, d.String())
			if b == nil {
				continue
			}
			if got := hex.EncodeToString(sha256Of(b)); got != d.Hex || int64(len(b)) != size {
				t.Errorf("%s %s of %s: %d bytes hashing to %s, want %d", kind, d, repo, len(b), got, size)
			}
		}
	}
}

const acceptAll = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, " +
	"application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json"

func sha256Of(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// countLines counts the lines of s holding sub.
func countLines(s, sub string) int {
	n := 0
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}
