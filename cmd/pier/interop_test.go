package main

// The interop suite: the clients people use (crane, oras, regctl,
// skopeo, pinned by scripts/tools.sh) run user workflows against both ways
// Pier runs: `pier serve` (embedded storage; path "serve") and the local
// Lambda path (scripts/local-api.sh: the Lambda bootstrap under the Runtime
// Interface Emulator behind the local API Gateway front, aws backend on
// DynamoDB Local and versitygw), behind an HTTP API ("lambda"), a REST
// API ("lambda-rest") and a function URL ("lambda-url"). Every scenario
// runs on each path, as
// <path>/<scenario>; each step is checked by what it produced (bytes,
// digests, listings), and a failure names the client, its full command,
// its output and what the registry answered meanwhile.
//
// The clients talk to each registry through a front (interop_helpers_test.go)
// that records every exchange: the evidence for blob mounts, chunk sizes,
// the referrers API and Link paging, and the place to cut a push off.
//
//	make interop   # scripts/with-local-aws.sh go test -count=1 -run Interop ./cmd/pier

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestInterop(t *testing.T) {
	skipUnlessInterop(t)
	tools := interopClients(t)
	start := time.Now()
	serve := startServer(t, t.TempDir())
	lambda := startLocalAPI(t, "http")
	rest := startLocalAPI(t, "rest")
	furl := startLocalAPI(t, "url")
	t.Logf("registries up in %s", time.Since(start).Round(time.Millisecond))
	paths := []*pierPath{
		{name: "serve", inst: serve, front: startFront(t, "serve", serve.addr), tools: tools},
		{name: "lambda", lambda: true, inst: lambda, front: startFront(t, "lambda", lambda.addr), tools: tools},
		// The same function behind a REST API (payload 1.0).
		{name: "lambda-rest", lambda: true, inst: rest, front: startFront(t, "lambda-rest", rest.addr), tools: tools},
		// Behind a Lambda function URL (payload 2.0, no API Gateway).
		{name: "lambda-url", lambda: true, inst: furl, front: startFront(t, "lambda-url", furl.addr), tools: tools},
	}
	paths[0].other, paths[1].other, paths[2].other, paths[3].other = paths[1], paths[0], paths[0], paths[0]
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			for _, sc := range []struct {
				name string
				run  func(*testing.T, *pierPath)
			}{
				{"images", interopImages},
				{"skopeo", interopSkopeo},
				{"copy-mounts", interopCopyMounts},
				{"copy-instances", interopCopyInstances},
				{"artifacts", interopArtifacts},
				{"chunked", interopChunked},
				{"resume", interopResume},
				{"large-single-request", interopLargeSingleRequest},
				{"tags-catalog-deletes", interopTagsCatalogDeletes},
				{"auth", interopAuth}, // the path again, with auth on (interop_auth_test.go)
			} {
				t.Run(sc.name, func(t *testing.T) {
					start := time.Now()
					sc.run(t, p)
					t.Logf("%s/%s: %s", p.name, sc.name, time.Since(start).Round(time.Millisecond))
				})
			}
		})
	}
}

// images are the images that buildImages pushes to repo, without Docker:
// a single-platform image from an empty base (tag base), two platform
// variants of it (amd64, arm64), all by crane, and two-platform indexes of
// these by crane (multi) and by regctl (multi-regctl).
type images struct {
	repo                                   string
	files                                  map[string]string
	base, amd64, arm64, multi, multiRegctl string // digests
}

// refDigest returns the digest of the host/repo@digest that crane prints.
func refDigest(t *testing.T, r *result) string {
	t.Helper()
	_, d, ok := strings.Cut(r.out(), "@")
	if !ok || !strings.HasPrefix(d, "sha256:") {
		r.fatalf(t, "no ref@digest in the output")
	}
	return d
}

func buildImages(t *testing.T, c *clientEnv, repo string) images {
	t.Helper()
	im := images{repo: repo, files: map[string]string{
		"hello.txt": "hello from pier\n", "etc/app.conf": "answer = 42\n", "etc/repo": repo + "\n",
	}}
	c.file(t, "layer.tar", layerTar(t, im.files))
	im.base = refDigest(t, c.run(t, "crane", "append", "--insecure", "--oci-empty-base", "-f", "layer.tar", "-t", repo+":base"))
	im.amd64 = refDigest(t, c.run(t, "crane", "mutate", "--insecure", repo+":base", "--set-platform", "linux/amd64", "-t", repo+":amd64"))
	im.arm64 = refDigest(t, c.run(t, "crane", "mutate", "--insecure", repo+":base", "--set-platform", "linux/arm64", "--label", "org.example=pier", "-t", repo+":arm64"))
	im.multi = refDigest(t, c.run(t, "crane", "index", "append", "--insecure", "-m", repo+":amd64", "-m", repo+":arm64", "-t", repo+":multi"))
	c.run(t, "regctl", "index", "create", repo+":multi-regctl", "--ref", repo+":amd64", "--ref", repo+":arm64")
	im.multiRegctl = c.run(t, "regctl", "image", "digest", repo+":multi-regctl").out()
	return im
}

// checkLayoutImage checks that manifest d of layout l is an image whose
// config is there and whose one layer holds files.
func checkLayoutImage(t *testing.T, r *result, l layout, d string, files map[string]string) manifest {
	t.Helper()
	m := parseManifest(t, r, l.blob(t, d))
	if m.Config == nil || len(m.Layers) != 1 {
		r.fatalf(t, "manifest %s in %s: want a config and one layer: %+v", d, l.dir, m)
	}
	l.blob(t, m.Config.Digest)
	if got := layerFiles(t, l.blob(t, m.Layers[0].Digest)); !mapsEqual(got, files) {
		r.errorf(t, "layer of %s in %s holds %v, want %v", d, l.dir, got, files)
	}
	return m
}

// checkIndex checks that index b lists want (digest → architecture).
func checkIndex(t *testing.T, r *result, b []byte, want map[string]string) {
	t.Helper()
	idx := parseManifest(t, r, b)
	got := map[string]string{}
	for _, m := range idx.Manifests {
		if m.Platform == nil {
			r.fatalf(t, "index entry %s has no platform", m.Digest)
		}
		got[m.Digest] = m.Platform.OS + "/" + m.Platform.Architecture
	}
	if !mapsEqual(got, want) {
		r.fatalf(t, "index lists %v, want %v", got, want)
	}
}

// interopImages: images built without Docker (crane append, mutate, index
// append; regctl index create), pushed, pulled back to OCI layouts (crane
// pull --format oci, regctl image export), compared byte for byte.
func interopImages(t *testing.T, p *pierPath) {
	c := newClientEnv(t, p.tools, p)
	repo := p.ref("interop/images/app")
	im := buildImages(t, c, repo)
	platforms := map[string]string{im.amd64: "linux/amd64", im.arm64: "linux/arm64"}

	// Every client reads the same index bytes, which hash to the digest
	// crane pushed.
	r := c.run(t, "crane", "manifest", "--insecure", repo+":multi")
	craneIdx := r.stdout
	if digestOf(craneIdx) != im.multi {
		r.fatalf(t, "the index hashes to %s; crane pushed %s", digestOf(craneIdx), im.multi)
	}
	checkIndex(t, r, craneIdx, platforms)
	r = c.run(t, "regctl", "manifest", "get", repo+":multi", "--format", "raw-body")
	if !bytes.Equal(r.stdout, craneIdx) {
		r.errorf(t, "regctl reads other index bytes than crane:\n%s\n%s", r.stdout, craneIdx)
	}
	r = c.run(t, "crane", "digest", "--insecure", repo+":amd64")
	if r.out() != im.amd64 {
		r.errorf(t, "crane digest %s, crane mutate pushed %s", r.out(), im.amd64)
	}

	// regctl built an index of the same two images.
	r = c.run(t, "regctl", "manifest", "get", repo+":multi-regctl", "--format", "raw-body")
	regctlIdx := r.stdout
	checkIndex(t, r, regctlIdx, platforms)
	if digestOf(regctlIdx) != im.multiRegctl {
		r.errorf(t, "the index hashes to %s; regctl pushed %s", digestOf(regctlIdx), im.multiRegctl)
	}
	r = c.run(t, "regctl", "image", "digest", repo+":multi-regctl")
	if r.out() != digestOf(regctlIdx) {
		r.errorf(t, "regctl image digest %s, the index bytes hash to %s", r.out(), digestOf(regctlIdx))
	}

	// Pull back with crane into an OCI layout: the layout holds the index
	// and both images, byte for byte.
	r = c.run(t, "crane", "pull", "--insecure", "--format", "oci", repo+":multi", "crane-layout")
	l := layout{filepath.Join(c.dir, "crane-layout"), r}
	if top := l.index(t).Manifests; len(top) != 1 || top[0].Digest != im.multi {
		r.fatalf(t, "the layout's index.json lists %+v, want the index %s", top, im.multi)
	}
	if !bytes.Equal(l.blob(t, im.multi), craneIdx) {
		r.errorf(t, "the index in the layout differs from the registry's")
	}
	for d := range platforms {
		checkLayoutImage(t, r, l, d, im.files)
	}
	l.verify(t)

	// Pull back with regctl image export (an OCI layout in a tar).
	r = c.run(t, "regctl", "image", "export", repo+":multi-regctl", "regctl-export.tar")
	l = layout{filepath.Join(c.dir, "regctl-export"), r}
	untarFile(t, filepath.Join(c.dir, "regctl-export.tar"), l.dir)
	if top := l.index(t).Manifests; len(top) != 1 || top[0].Digest != digestOf(regctlIdx) {
		r.fatalf(t, "the exported index.json lists %+v, want the index %s", top, digestOf(regctlIdx))
	}
	if !bytes.Equal(l.blob(t, digestOf(regctlIdx)), regctlIdx) {
		r.errorf(t, "the exported index differs from the registry's")
	}
	for d := range platforms {
		checkLayoutImage(t, r, l, d, im.files)
	}
	if n := l.verify(t); n != 6 {
		r.errorf(t, "the export holds %d blobs, want 6 (index, 2 manifests, 2 configs, 1 layer)", n)
	}
}

// interopSkopeo: skopeo copies docker:// to an oci: layout and back,
// inspects, lists tags and deletes. (The index is regctl's: skopeo 1.9
// cannot keep the digest of crane 0.22's indexes, whose entries carry an
// artifactType it does not know, so --preserve-digests refuses them.)
func interopSkopeo(t *testing.T, p *pierPath) {
	c := newClientEnv(t, p.tools, p)
	repo := p.ref("interop/skopeo/app")
	im := buildImages(t, c, repo)
	idx := c.run(t, "crane", "manifest", "--insecure", repo+":multi-regctl").stdout

	// docker:// → oci: with every platform and the digests kept.
	r := c.run(t, "skopeo", "copy", "--all", "--preserve-digests", "--src-tls-verify=false", "docker://"+repo+":multi-regctl", "oci:oci:multi")
	l := layout{filepath.Join(c.dir, "oci"), r}
	top := l.index(t).Manifests
	if len(top) != 1 || top[0].Digest != im.multiRegctl || top[0].Annotations["org.opencontainers.image.ref.name"] != "multi" {
		r.fatalf(t, "the layout's index.json lists %+v, want %s named multi", top, im.multiRegctl)
	}
	if !bytes.Equal(l.blob(t, im.multiRegctl), idx) {
		r.errorf(t, "the index in the layout differs from the registry's")
	}
	checkLayoutImage(t, r, l, im.amd64, im.files)
	checkLayoutImage(t, r, l, im.arm64, im.files)
	l.verify(t)

	// inspect: the image's digest, platform, layers and the repository's tags.
	r = c.run(t, "skopeo", "inspect", "--tls-verify=false", "docker://"+repo+":amd64")
	var info struct {
		Digest, Architecture, Os string
		RepoTags, Layers         []string
	}
	if err := json.Unmarshal(r.stdout, &info); err != nil {
		r.fatalf(t, "inspect output: %v", err)
	}
	amd := parseManifest(t, r, l.blob(t, im.amd64))
	if info.Digest != im.amd64 || info.Architecture != "amd64" || info.Os != "linux" ||
		!slices.Equal(info.Layers, []string{amd.Layers[0].Digest}) || !slices.Equal(info.RepoTags, []string{"amd64", "arm64", "base", "multi", "multi-regctl"}) {
		r.errorf(t, "inspect says %+v; want digest %s, linux/amd64, layer %s, tags amd64 arm64 base multi multi-regctl", info, im.amd64, amd.Layers[0].Digest)
	}
	r = c.run(t, "skopeo", "inspect", "--raw", "--tls-verify=false", "docker://"+repo+":multi")
	if want := c.run(t, "crane", "manifest", "--insecure", repo+":multi").stdout; !bytes.Equal(r.stdout, want) {
		r.errorf(t, "inspect --raw gives other bytes than crane manifest:\n%s\n%s", r.stdout, want)
	}

	// oci: → docker:// into another repository, digests kept.
	dst := p.ref("interop/skopeo/copy")
	c.run(t, "skopeo", "copy", "--all", "--preserve-digests", "--dest-tls-verify=false", "oci:oci:multi", "docker://"+dst+":multi")
	c.run(t, "skopeo", "copy", "--preserve-digests", "--dest-tls-verify=false", "oci:oci:multi", "docker://"+dst+":amd64")
	r = c.run(t, "crane", "manifest", "--insecure", dst+":multi")
	if !bytes.Equal(r.stdout, idx) {
		r.errorf(t, "the index copied back differs:\n%s\n%s", r.stdout, idx)
	}
	for d := range map[string]bool{im.amd64: true, im.arm64: true} {
		r = c.run(t, "crane", "manifest", "--insecure", dst+"@"+d)
		if !bytes.Equal(r.stdout, l.blob(t, d)) {
			r.errorf(t, "manifest %s copied back differs", d)
		}
	}
	r = c.run(t, "crane", "export", "--insecure", dst+":amd64", "-")
	if got := untar(t, r.stdout); !mapsEqual(got, im.files) {
		r.errorf(t, "the image copied back holds %v, want %v", got, im.files)
	}

	// list-tags.
	r = c.run(t, "skopeo", "list-tags", "--tls-verify=false", "docker://"+dst)
	var tags struct{ Tags []string }
	if err := json.Unmarshal(r.stdout, &tags); err != nil || !slices.Equal(tags.Tags, []string{"amd64", "multi"}) {
		r.fatalf(t, "list-tags: %v %v; want [amd64 multi]", tags.Tags, err)
	}

	// delete (by tag: skopeo deletes the manifest the tag names).
	c.run(t, "skopeo", "delete", "--tls-verify=false", "docker://"+dst+":multi")
	resp, body := httpGet(t, p.api().url("/v2/interop/skopeo/copy/manifests/"+im.multiRegctl))
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "MANIFEST_UNKNOWN") {
		t.Errorf("skopeo delete docker://%s:multi: GET the manifest afterwards: %s %s; want 404 MANIFEST_UNKNOWN", dst, resp.Status, body)
	}
	r = c.run(t, "skopeo", "list-tags", "--tls-verify=false", "docker://"+dst)
	if err := json.Unmarshal(r.stdout, &tags); err != nil || !slices.Equal(tags.Tags, []string{"amd64"}) {
		r.errorf(t, "list-tags after the delete: %v %v; want [amd64]", tags.Tags, err)
	}
	r = c.exec(t, nil, "skopeo", "inspect", "--tls-verify=false", "docker://"+dst+":multi")
	if r.err == nil || !strings.Contains(strings.ToLower(string(r.stderr)), "manifest unknown") {
		r.errorf(t, "inspect of the deleted tag: want a failure that says manifest unknown")
	}
}

// blobsOf returns the config and layer digests of the image manifests
// ds of repo.
func blobsOf(t *testing.T, c *clientEnv, repo string, ds ...string) []string {
	t.Helper()
	var blobs []string
	for _, d := range ds {
		r := c.run(t, "crane", "manifest", "--insecure", repo+"@"+d)
		m := parseManifest(t, r, r.stdout)
		for _, b := range append([]descriptor{*m.Config}, m.Layers...) {
			if !slices.Contains(blobs, b.Digest) {
				blobs = append(blobs, b.Digest)
			}
		}
	}
	return blobs
}

// checkMounted checks that the run put every blob of blobs into repo dst
// by a mount from src (201), and uploaded no bytes to dst.
func checkMounted(t *testing.T, r *result, dst, src string, blobs []string) {
	t.Helper()
	mounted := map[string]bool{}
	for _, e := range r.exchanges(func(e exchange) bool {
		return strings.HasPrefix(e.uri, "/v2/"+dst+"/blobs/uploads/")
	}) {
		u, _ := url.Parse(e.uri)
		q := u.Query()
		switch {
		case e.method == http.MethodPost && q.Has("mount"):
			if q.Get("from") != src || e.status != http.StatusCreated {
				r.errorf(t, "mount %s: want from=%s answered 201", e, src)
			}
			mounted[q.Get("mount")] = true
		case e.method == http.MethodPatch || e.method == http.MethodPut:
			r.errorf(t, "bytes uploaded to %s instead of a mount: %s", dst, e)
		}
	}
	for _, b := range blobs {
		if !mounted[b] {
			r.errorf(t, "blob %s was not mounted from %s into %s", b, src, dst)
		}
	}
}

// interopCopyMounts: copies between repositories of one registry mount
// the blobs (crane copy, regctl image copy) and send no bytes.
func interopCopyMounts(t *testing.T, p *pierPath) {
	c := newClientEnv(t, p.tools, p)
	src := p.ref("interop/mounts/src")
	im := buildImages(t, c, src)

	dst := p.ref("interop/mounts/crane")
	r := c.run(t, "crane", "copy", "--insecure", src+":amd64", dst+":amd64")
	checkMounted(t, r, "interop/mounts/crane", "interop/mounts/src", blobsOf(t, c, src, im.amd64))
	if r = c.run(t, "crane", "digest", "--insecure", dst+":amd64"); r.out() != im.amd64 {
		r.errorf(t, "the copy is %s, want %s", r.out(), im.amd64)
	}

	dst = p.ref("interop/mounts/regctl")
	r = c.run(t, "regctl", "image", "copy", src+":multi", dst+":multi")
	checkMounted(t, r, "interop/mounts/regctl", "interop/mounts/src", blobsOf(t, c, src, im.amd64, im.arm64))
	if r = c.run(t, "regctl", "image", "digest", dst+":multi"); r.out() != im.multi {
		r.errorf(t, "the copy is %s, want %s", r.out(), im.multi)
	}
	r = c.run(t, "crane", "export", "--insecure", "--platform", "linux/arm64", dst+":multi", "-")
	if got := untar(t, r.stdout); !mapsEqual(got, im.files) {
		r.errorf(t, "the copied image holds %v, want %v", got, im.files)
	}

	// Deleting the copy leaves the source whole: the blobs are shared.
	c.run(t, "crane", "delete", "--insecure", p.ref("interop/mounts/crane@"+im.amd64))
	r = c.run(t, "crane", "export", "--insecure", src+":amd64", "-")
	if got := untar(t, r.stdout); !mapsEqual(got, im.files) {
		r.errorf(t, "after deleting the copy the source holds %v, want %v", got, im.files)
	}
}

// interopCopyInstances: copies from the other Pier (serve ↔ Lambda) with
// crane, regctl and skopeo keep every digest and byte.
func interopCopyInstances(t *testing.T, p *pierPath) {
	c := newClientEnv(t, p.tools, p, p.other)
	src := p.other.ref("interop/to-" + p.name + "/app")
	im := buildImages(t, c, src)
	layers := blobsOf(t, c, src, im.amd64)

	for _, cp := range []struct {
		client, tag string
		args        func(src, dst string) []string
	}{
		{"crane", "multi", func(src, dst string) []string { return []string{"copy", "--insecure", src, dst} }},
		{"regctl", "multi", func(src, dst string) []string { return []string{"image", "copy", src, dst} }},
		{"skopeo", "multi-regctl", func(src, dst string) []string {
			return []string{"copy", "--all", "--preserve-digests", "--src-tls-verify=false", "--dest-tls-verify=false", "docker://" + src, "docker://" + dst}
		}},
	} {
		dst := p.ref("interop/from-" + p.other.name + "/" + cp.client + ":" + cp.tag)
		srcIdx := c.run(t, "crane", "manifest", "--insecure", src+":"+cp.tag).stdout
		r := c.run(t, cp.client, cp.args(src+":"+cp.tag, dst)...)
		dst, _, _ = strings.Cut(dst, ":"+cp.tag)
		if got := c.run(t, "crane", "manifest", "--insecure", dst+":"+cp.tag).stdout; !bytes.Equal(got, srcIdx) {
			r.errorf(t, "the index on %s differs from the one on %s:\n%s\n%s", p.name, p.other.name, got, srcIdx)
		}
		for _, d := range []string{im.amd64, im.arm64} {
			a := c.run(t, "crane", "manifest", "--insecure", src+"@"+d).stdout
			if b := c.run(t, "crane", "manifest", "--insecure", dst+"@"+d).stdout; !bytes.Equal(a, b) {
				r.errorf(t, "manifest %s differs between the instances", d)
			}
		}
		for _, b := range layers {
			a := c.run(t, "crane", "blob", "--insecure", src+"@"+b).stdout
			if got := c.run(t, "crane", "blob", "--insecure", dst+"@"+b).stdout; !bytes.Equal(a, got) || digestOf(got) != b {
				r.errorf(t, "blob %s differs between the instances (%d and %d bytes)", b, len(a), len(got))
			}
		}
	}
}

// noFallbackTags checks that no tag of the run's listings is a referrers
// fallback tag (sha256-<hex>), and that no client wrote or read one.
func noFallbackTags(t *testing.T, r *result, tags []string) {
	t.Helper()
	fallback := regexp.MustCompile(`^sha256-[0-9a-f]{64}`)
	for _, tag := range tags {
		if fallback.MatchString(tag) {
			r.errorf(t, "fallback referrers tag %s in the tag list", tag)
		}
	}
}

// interopArtifacts: oras pushes an artifact of several files with an
// artifact type and annotations and pulls it back; an SBOM (oras attach)
// and a signature (regctl artifact put --subject) are attached to an
// image, discovered (oras discover, regctl artifact list
// --filter-artifact-type) and copied with the image (regctl image copy
// --referrers, oras cp -r), all through the referrers API: no fallback
// tags.
func interopArtifacts(t *testing.T, p *pierPath) {
	c := newClientEnv(t, p.tools, p)
	mark := p.front.mark()
	repo := p.ref("interop/artifacts/app")

	data := make([]byte, 64<<10)
	rand.Read(data)
	files := map[string][]byte{
		"readme.txt":  []byte("an artifact pushed by oras\n"),
		"config.json": []byte(`{"replicas":3}` + "\n"),
		"data.bin":    data,
	}
	for name, b := range files {
		c.file(t, name, b)
	}
	c.file(t, "annotations.json", []byte(`{"$manifest":{"org.opencontainers.image.title":"bundle","org.example.release":"1.0"},"data.bin":{"org.example.kind":"data"}}`))
	c.run(t, "oras", "push", "--plain-http", "--artifact-type", "application/vnd.example.bundle.v1",
		"--annotation-file", "annotations.json", repo+":bundle", "readme.txt:text/plain", "config.json:application/json", "data.bin")
	r := c.run(t, "oras", "manifest", "fetch", "--plain-http", repo+":bundle")
	m := parseManifest(t, r, r.stdout)
	if m.ArtifactType != "application/vnd.example.bundle.v1" || m.Annotations["org.opencontainers.image.title"] != "bundle" ||
		m.Annotations["org.example.release"] != "1.0" || len(m.Layers) != 3 {
		r.errorf(t, "the artifact's manifest has type %q, annotations %v, %d layers", m.ArtifactType, m.Annotations, len(m.Layers))
	}
	wantTypes := map[string]string{"readme.txt": "text/plain", "config.json": "application/json", "data.bin": "application/vnd.oci.image.layer.v1.tar"}
	for _, l := range m.Layers {
		name := l.Annotations["org.opencontainers.image.title"]
		if l.MediaType != wantTypes[name] || l.Digest != digestOf(files[name]) {
			r.errorf(t, "layer %s: %s %s, want %s %s", name, l.MediaType, l.Digest, wantTypes[name], digestOf(files[name]))
		}
		if name == "data.bin" && l.Annotations["org.example.kind"] != "data" {
			r.errorf(t, "layer data.bin lacks its annotation: %v", l.Annotations)
		}
	}
	r = c.run(t, "oras", "pull", "--plain-http", "-o", "pulled", repo+":bundle")
	for name, b := range files {
		if got, err := os.ReadFile(filepath.Join(c.dir, "pulled", name)); err != nil || !bytes.Equal(got, b) {
			r.errorf(t, "pulled %s: %d bytes (%v), want %d", name, len(got), err, len(b))
		}
	}

	// An image, and an SBOM and a signature attached to it.
	im := buildImages(t, c, repo)
	subject := repo + ":amd64"
	sbom := c.file(t, "sbom.spdx.json", []byte(`{"spdxVersion":"SPDX-2.3","name":"app","packages":[{"name":"hello","versionInfo":"1.0"}]}`))
	r = c.run(t, "oras", "attach", "--plain-http", "--format", "json", "--artifact-type", "application/spdx+json",
		"--annotation", "org.example.kind=sbom", subject, "sbom.spdx.json:application/spdx+json")
	var attached struct{ Digest string }
	if err := json.Unmarshal(r.stdout, &attached); err != nil || attached.Digest == "" {
		r.fatalf(t, "no digest in the output: %v", err)
	}
	sbomDigest := attached.Digest
	if ex := r.exchanges(func(e exchange) bool {
		return e.method == http.MethodPut && strings.Contains(e.uri, "/manifests/") && e.header.Get("OCI-Subject") == im.amd64
	}); len(ex) != 1 {
		r.errorf(t, "want one manifest PUT answered with OCI-Subject %s", im.amd64)
	}
	sig := make([]byte, 256)
	rand.Read(sig)
	c.file(t, "sig.bin", sig)
	r = c.run(t, "regctl", "artifact", "put", "--subject", subject, "--artifact-type", "application/vnd.example.signature.v1",
		"-f", "sig.bin", "-m", "application/vnd.example.signature.v1+octet", "--annotation", "org.example.kind=signature")
	var sigDigest string
	for _, e := range r.exchanges(func(e exchange) bool {
		return e.method == http.MethodPut && strings.Contains(e.uri, "/manifests/") && e.status == http.StatusCreated
	}) {
		sigDigest = e.header.Get("Docker-Content-Digest")
		if e.header.Get("OCI-Subject") != im.amd64 {
			r.errorf(t, "the signature's push was not answered with OCI-Subject %s: %s", im.amd64, e)
		}
	}
	if sigDigest == "" {
		r.fatalf(t, "no manifest push answered 201 with Docker-Content-Digest")
	}

	// Discover them.
	wantReferrers := map[string]string{sbomDigest: "application/spdx+json", sigDigest: "application/vnd.example.signature.v1"}
	discover := func(ref string) {
		t.Helper()
		r := c.run(t, "oras", "discover", "--plain-http", "--format", "json", ref)
		var out struct {
			Referrers []descriptor
		}
		if err := json.Unmarshal(r.stdout, &out); err != nil {
			r.fatalf(t, "discover output: %v", err)
		}
		got := map[string]string{}
		for _, d := range out.Referrers {
			got[d.Digest] = d.ArtifactType
			if kind := d.Annotations["org.example.kind"]; kind != "sbom" && kind != "signature" {
				r.errorf(t, "referrer %s lacks its annotation: %v", d.Digest, d.Annotations)
			}
		}
		if !mapsEqual(got, wantReferrers) {
			r.errorf(t, "discover lists %v, want %v", got, wantReferrers)
		}
		if len(r.exchanges(func(e exchange) bool {
			return e.method == http.MethodGet && strings.Contains(e.uri, "/referrers/") && e.status == http.StatusOK
		})) == 0 {
			r.errorf(t, "oras discover did not use the referrers API")
		}
	}
	discover(subject)
	r = c.run(t, "regctl", "artifact", "list", subject, "--filter-artifact-type", "application/spdx+json", "--format", "{{json .}}")
	var list struct {
		Descriptors []descriptor `json:"descriptors"`
	}
	if err := json.Unmarshal(r.stdout, &list); err != nil || len(list.Descriptors) != 1 || list.Descriptors[0].Digest != sbomDigest {
		r.errorf(t, "artifact list --filter-artifact-type: %+v (%v), want only the SBOM %s", list.Descriptors, err, sbomDigest)
	}
	if len(r.exchanges(func(e exchange) bool {
		return strings.Contains(e.uri, "/referrers/") && strings.Contains(e.uri, "artifactType=") && e.header.Get("OCI-Filters-Applied") == "artifactType"
	})) == 0 {
		r.errorf(t, "the filter was not applied by the registry (no referrers request answered OCI-Filters-Applied: artifactType)")
	}

	// Pull the attached artifacts back.
	r = c.run(t, "oras", "pull", "--plain-http", "-o", "sbom-out", repo+"@"+sbomDigest)
	want, _ := os.ReadFile(sbom)
	if got, err := os.ReadFile(filepath.Join(c.dir, "sbom-out", "sbom.spdx.json")); err != nil || !bytes.Equal(got, want) {
		r.errorf(t, "pulled SBOM: %q (%v), want %q", got, err, want)
	}
	r = c.run(t, "regctl", "artifact", "get", repo+"@"+sigDigest)
	if !bytes.Equal(r.stdout, sig) {
		r.errorf(t, "the signature read back has %d bytes, want the %d pushed", len(r.stdout), len(sig))
	}

	// Copies with referrers.
	c.run(t, "regctl", "image", "copy", "--referrers", subject, p.ref("interop/artifacts/regctl-copy:amd64"))
	discover(p.ref("interop/artifacts/regctl-copy:amd64"))
	c.run(t, "oras", "cp", "-r", "--from-plain-http", "--to-plain-http", subject, p.ref("interop/artifacts/oras-copy:amd64"))
	discover(p.ref("interop/artifacts/oras-copy:amd64"))

	// No fallback tags anywhere: the tag lists, and no client read or
	// wrote one.
	for repo, want := range map[string][]string{
		"interop/artifacts/app":         {"amd64", "arm64", "base", "bundle", "multi", "multi-regctl"},
		"interop/artifacts/regctl-copy": {"amd64"},
		"interop/artifacts/oras-copy":   {"amd64"},
	} {
		r = c.run(t, "crane", "ls", "--insecure", p.ref(repo))
		tags := strings.Fields(r.out())
		noFallbackTags(t, r, tags)
		if !slices.Equal(tags, want) {
			r.errorf(t, "tags %v, want %v", tags, want)
		}
		r = c.run(t, "regctl", "tag", "ls", p.ref(repo))
		noFallbackTags(t, r, strings.Fields(r.out()))
	}
	for _, e := range p.front.since(mark) {
		if strings.HasPrefix(e.uri, "/v2/interop/artifacts/") && regexp.MustCompile(`/manifests/sha256-`).MatchString(e.uri) {
			t.Errorf("a client used the referrers fallback tag: %s", e)
		}
	}
}

// chunkedPushOf returns the PATCHes of r to repo's uploads and checks that
// each is at most max bytes, was accepted, and that they continue one
// another from byte 0.
func chunkedPushOf(t *testing.T, r *result, repo string, max int64) []exchange {
	t.Helper()
	patches := r.exchanges(func(e exchange) bool {
		return e.method == http.MethodPatch && strings.HasPrefix(e.uri, "/v2/"+repo+"/blobs/uploads/")
	})
	var next int64
	for _, e := range patches {
		var start, end int64
		if _, err := fmt.Sscanf(e.contentRange, "%d-%d", &start, &end); err != nil || start != next || e.sent != end-start+1 {
			r.errorf(t, "chunk %s does not continue the upload at %d", e, next)
		}
		if e.sent > max || e.status != http.StatusAccepted {
			r.errorf(t, "chunk %s: want at most %d bytes, answered 202", e, max)
		}
		next = end + 1
	}
	return patches
}

// interopChunked: regctl pushes an image with a layer of 50 MiB in chunks
// of 4 MiB (regctl registry set --blob-chunk --blob-max), which the Lambda
// path takes; the layer comes back byte for byte.
func interopChunked(t *testing.T, p *pierPath) {
	c := newClientEnv(t, p.tools, p)
	c.run(t, "regctl", "registry", "set", p.host(), "--tls", "disabled", "--blob-chunk", "4194304", "--blob-max", "1048576")
	big := make([]byte, 50<<20)
	rand.Read(big)
	layer := layerTar(t, map[string]string{"big.bin": string(big)})
	m := writeImageLayout(t, filepath.Join(c.dir, "big-layout"), "big", layer)
	repo := "interop/chunked/big"

	r := c.run(t, "regctl", "image", "copy", "ocidir://big-layout:big", p.ref(repo+":v1"))
	took := r.took
	patches := chunkedPushOf(t, r, repo, 4<<20)
	if want := (len(layer) + 4<<20 - 1) / (4 << 20); len(patches) != want {
		r.errorf(t, "%d chunks, want %d of 4 MiB", len(patches), want)
	}
	if bad := r.exchanges(func(e exchange) bool { return e.status >= 413 }); len(bad) > 0 {
		r.errorf(t, "answers of 413 or more: %v", bad)
	}
	r = c.run(t, "regctl", "manifest", "get", p.ref(repo+":v1"), "--format", "raw-body")
	if !bytes.Equal(r.stdout, m) {
		r.errorf(t, "the manifest read back differs:\n%s\n%s", r.stdout, m)
	}
	r = c.run(t, "regctl", "blob", "get", p.ref(repo), digestOf(layer))
	if !bytes.Equal(r.stdout, layer) {
		r.errorf(t, "the layer read back has %d bytes (%s), want the %d pushed (%s)", len(r.stdout), digestOf(r.stdout), len(layer), digestOf(layer))
	}
	t.Logf("%d MiB layer pushed in %d chunks in %s, read back in %s", len(layer)>>20, len(patches), took.Round(time.Millisecond), r.took.Round(time.Millisecond))
}

// interopResume: a chunked push whose connection is cut off mid-chunk, or
// whose answer to a chunk is lost, is resumed by regctl itself and gives
// the blob pushed; so does an upload resumed after asking the registry
// where it stands (GET on the upload, pushChunked).
func interopResume(t *testing.T, p *pierPath) {
	c := newClientEnv(t, p.tools, p)
	c.run(t, "regctl", "registry", "set", p.host(), "--tls", "disabled", "--blob-chunk", "1048576", "--blob-max", "524288")
	for _, mode := range []string{"cut", "lose"} {
		repo := "interop/resume/" + mode
		blob := make([]byte, 6<<20+12345)
		rand.Read(blob)
		path := c.file(t, mode+".bin", blob)
		// The third chunk is the one cut off.
		p.front.arm(mode, 2, func(r *http.Request) bool {
			return r.Method == http.MethodPatch && strings.HasPrefix(r.URL.Path, "/v2/"+repo+"/blobs/uploads/")
		})
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		r := c.exec(t, f, "regctl", "blob", "put", p.ref(repo))
		f.Close()
		if r.err != nil {
			r.fatalf(t, "the push did not survive the %s chunk", mode)
		}
		if r.out() != digestOf(blob) {
			r.errorf(t, "regctl pushed %s, want %s", r.out(), digestOf(blob))
		}
		faulted := r.exchanges(func(e exchange) bool { return e.fault != "" })
		if len(faulted) != 1 {
			r.fatalf(t, "the front cut off %d requests, want 1", len(faulted))
		}
		var after []string
		for _, e := range r.exchanges(func(e exchange) bool { return e.seq > faulted[0].seq }) {
			after = append(after, fmt.Sprintf("%s %s %d", e.method, e.contentRange, e.status))
		}
		// regctl sends the chunk again. Pier takes it (it kept nothing of
		// a cut chunk), or answers 416 with the Range it has (all of a
		// chunk whose answer was lost), and regctl goes on from there.
		patches := r.exchanges(func(e exchange) bool { return e.seq > faulted[0].seq && e.method == http.MethodPatch })
		if len(patches) < 2 || patches[0].contentRange != faulted[0].contentRange {
			r.fatalf(t, "after the %s chunk %s regctl sent %v; want the same chunk again", mode, faulted[0].contentRange, after)
		}
		var start, end, has int64
		fmt.Sscanf(faulted[0].contentRange, "%d-%d", &start, &end)
		switch retry := patches[0]; {
		case mode == "cut" && retry.status == http.StatusAccepted:
		case retry.status == http.StatusRequestedRangeNotSatisfiable:
			if _, err := fmt.Sscanf(retry.header.Get("Range"), "0-%d", &has); err != nil || mode == "lose" && has != end {
				r.errorf(t, "the chunk sent again was answered %s; want a Range of 0-%d", retry, end)
			}
			if want := fmt.Sprintf("%d-", has+1); !strings.HasPrefix(patches[1].contentRange, want) {
				r.errorf(t, "after the 416 regctl sent %s; want the chunk from byte %d", patches[1], has+1)
			}
		default:
			r.errorf(t, "the chunk sent again was answered %s", retry)
		}
		if bad := r.exchanges(func(e exchange) bool { return e.status >= 500 }); len(bad) > 0 {
			r.errorf(t, "5xx answers: %v", bad)
		}
		got := c.run(t, "regctl", "blob", "get", p.ref(repo), digestOf(blob))
		if !bytes.Equal(got.stdout, blob) {
			got.errorf(t, "the blob read back differs (%d bytes, %s)", len(got.stdout), digestOf(got.stdout))
		}
		t.Logf("%s: %s; then %s", mode, faulted[0], strings.Join(after, ", "))
	}

	// The HTTP-level resume: PATCHes, a GET on the upload halfway, the
	// rest from where the registry says the upload stands.
	blob := make([]byte, 5<<20+999)
	rand.Read(blob)
	d := pushChunked(t, p.api(), "interop/resume/http", blob, 1<<20)
	r := c.run(t, "regctl", "blob", "get", p.ref("interop/resume/http"), d)
	if !bytes.Equal(r.stdout, blob) {
		r.errorf(t, "the blob pushed with a resume reads back %d bytes, want %d", len(r.stdout), len(blob))
	}
}

// interopLargeSingleRequest: a layer of 12 MB sent in one request by
// crane, and blobs of 6 MB by oras and skopeo. pier serve takes them; on
// the Lambda path each client gets the front door's refusal at once (413
// beyond a body limit, API Gateway's 500 for a body under its 10 MiB whose
// event Lambda refuses), no hang, and shows it; the 12 MB layer pushed by
// regctl in chunks goes through.
func interopLargeSingleRequest(t *testing.T, p *pierPath) {
	c := newClientEnv(t, p.tools, p)
	big := make([]byte, 12_000_000)
	rand.Read(big)
	files := map[string]string{"big.bin": string(big)}
	layer := layerTar(t, files)
	c.file(t, "big.tar", layer)
	six := make([]byte, 6_000_000)
	rand.Read(six)
	c.file(t, "six.bin", six)
	sixFiles := map[string]string{"six.bin": string(six)}
	writeImageLayout(t, filepath.Join(c.dir, "six-layout"), "six", layerTar(t, sixFiles))
	craneRef, orasRef, skopeoRef := p.ref("interop/large/crane:v1"), p.ref("interop/large/oras:v1"), p.ref("interop/large/skopeo:v1")

	if !p.lambda {
		c.run(t, "crane", "append", "--insecure", "--oci-empty-base", "-f", "big.tar", "-t", craneRef)
		r := c.run(t, "crane", "export", "--insecure", craneRef, "-")
		if got := untar(t, r.stdout); !mapsEqual(got, files) {
			r.errorf(t, "the 12 MB layer reads back wrong (%d files)", len(got))
		}
		c.run(t, "oras", "push", "--plain-http", orasRef, "six.bin")
		r = c.run(t, "oras", "pull", "--plain-http", "-o", "out", orasRef)
		if got, _ := os.ReadFile(filepath.Join(c.dir, "out", "six.bin")); !bytes.Equal(got, six) {
			r.errorf(t, "the 6 MB blob reads back %d bytes", len(got))
		}
		c.run(t, "skopeo", "copy", "--dest-tls-verify=false", "oci:six-layout:six", "docker://"+skopeoRef)
		r = c.run(t, "crane", "export", "--insecure", skopeoRef, "-")
		if got := untar(t, r.stdout); !mapsEqual(got, sixFiles) {
			r.errorf(t, "the 6 MB layer reads back wrong (%d files)", len(got))
		}
		return
	}

	// A 6 MB blob is under API Gateway's 10 MiB but over Lambda's 6 MB
	// once base64-encoded into the event: API Gateway answers 500 for an
	// invocation the Lambda API rejected; a function URL, Lambda's 413.
	refused := http.StatusInternalServerError
	if p.name == "lambda-url" {
		refused = http.StatusRequestEntityTooLarge
	}
	for _, tc := range []struct {
		run    func() *result
		status int
	}{
		{func() *result {
			return c.fails(t, "crane", "append", "--insecure", "--oci-empty-base", "-f", "big.tar", "-t", craneRef)
		}, http.StatusRequestEntityTooLarge},
		{func() *result { return c.fails(t, "oras", "push", "--plain-http", orasRef, "six.bin") }, refused},
		{func() *result {
			return c.fails(t, "skopeo", "copy", "--dest-tls-verify=false", "oci:six-layout:six", "docker://"+skopeoRef)
		}, refused},
	} {
		r := tc.run()
		// Each front door answers with its own fixed body (AWS documents
		// that a REST API's REQUEST_TOO_LARGE cannot be customised), so
		// the clients show the status.
		if want := fmt.Sprint(tc.status); !strings.Contains(string(r.stderr)+string(r.stdout), want) {
			r.errorf(t, "the output does not show %q", want)
		}
		if r.took > 20*time.Second {
			r.errorf(t, "the refusal took %s", r.took)
		}
		if len(r.exchanges(func(e exchange) bool { return e.status == tc.status })) == 0 {
			r.errorf(t, "no exchange was answered %d", tc.status)
		}
		if bad := r.exchanges(func(e exchange) bool { return e.status >= 500 && e.status != tc.status }); len(bad) > 0 {
			r.errorf(t, "other 5xx answers: %v", bad)
		}
	}

	// The same layer in chunks: regctl.
	c.run(t, "regctl", "registry", "set", p.host(), "--tls", "disabled", "--blob-chunk", "4194304", "--blob-max", "4194304")
	writeImageLayout(t, filepath.Join(c.dir, "layout"), "big", layer)
	r := c.run(t, "regctl", "image", "copy", "ocidir://layout:big", p.ref("interop/large/regctl:v1"))
	chunkedPushOf(t, r, "interop/large/regctl", 4<<20)
	r = c.run(t, "crane", "export", "--insecure", p.ref("interop/large/regctl:v1"), "-")
	if got := untar(t, r.stdout); !mapsEqual(got, files) {
		r.errorf(t, "the 12 MB layer pushed in chunks reads back wrong (%d files)", len(got))
	}
}

// pages returns the tag-list or catalog pages of the run: their count,
// and whether each but the last had a Link to the next.
func pages(t *testing.T, r *result, suffix string) int {
	t.Helper()
	ex := r.exchanges(func(e exchange) bool {
		return e.method == http.MethodGet && strings.Contains(strings.SplitN(e.uri, "?", 2)[0], suffix)
	})
	for i, e := range ex {
		if (e.header.Get("Link") != "") != (i < len(ex)-1) {
			r.errorf(t, "page %d of %d: %s", i+1, len(ex), e)
		}
	}
	return len(ex)
}

// catalogDirect lists the registry's repositories without a client or the
// front (one page: Pier's page is 1000).
func catalogDirect(t *testing.T, p *pierPath) []string {
	t.Helper()
	resp, body := httpGet(t, p.inst.url("/v2/_catalog?n=1000"))
	var cat struct{ Repositories []string }
	if err := json.Unmarshal(body, &cat); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v2/_catalog: %s %s", resp.Status, body)
	}
	return cat.Repositories
}

// interopTagsCatalogDeletes: tag lists and the catalog over several pages
// (the front asks for 5 entries a page; the clients follow Pier's Link),
// regctl's own paging, then deletes of tags and manifests.
func interopTagsCatalogDeletes(t *testing.T, p *pierPath) {
	c := newClientEnv(t, p.tools, p)
	repo := p.ref("interop/pages/app")
	im := buildImages(t, c, repo)
	want := []string{"amd64", "arm64", "base", "multi", "multi-regctl"}
	for i := 1; i <= 8; i++ {
		tag := fmt.Sprintf("t%02d", i)
		c.run(t, "crane", "tag", "--insecure", repo+":amd64", tag)
		want = append(want, tag)
	}
	slices.Sort(want)

	// Whole listings, page by page.
	r := c.run(t, "crane", "ls", "--insecure", repo)
	if got := strings.Fields(r.out()); !slices.Equal(got, want) {
		r.errorf(t, "tags %v, want %v", got, want)
	}
	if n := pages(t, r, "/tags/list"); n != 3 {
		r.errorf(t, "%d tag-list pages, want 3 of at most 5", n)
	}
	for _, args := range [][]string{
		{"regctl", "tag", "ls", repo},
		{"oras", "repo", "tags", "--plain-http", repo},
		{"skopeo", "list-tags", "--tls-verify=false", "docker://" + repo},
	} {
		r = c.run(t, args[0], args[1:]...)
		got := strings.Fields(r.out())
		if args[0] == "skopeo" {
			var list struct{ Tags []string }
			if err := json.Unmarshal(r.stdout, &list); err != nil {
				r.fatalf(t, "list-tags output: %v", err)
			}
			got = list.Tags
		}
		if !slices.Equal(got, want) {
			r.errorf(t, "tags %v, want %v", got, want)
		}
		if n := pages(t, r, "/tags/list"); n != 3 {
			r.errorf(t, "%d tag-list pages, want 3 of at most 5", n)
		}
	}
	// regctl's own paging: --limit (n) and --last.
	r = c.run(t, "regctl", "tag", "ls", "--limit", "4", repo)
	if got := strings.Fields(r.out()); !slices.Equal(got, want[:4]) {
		r.errorf(t, "first page %v, want %v", got, want[:4])
	}
	r = c.run(t, "regctl", "tag", "ls", "--limit", "4", "--last", want[3], repo)
	if got := strings.Fields(r.out()); !slices.Equal(got, want[4:8]) {
		r.errorf(t, "second page %v, want %v", got, want[4:8])
	}

	// The catalog, with crane and oras (which follow the Link) and regctl
	// (one page a command: --limit and --last), against Pier's own listing
	// before and after (the other path may add repositories meanwhile).
	for _, client := range []string{"crane", "oras", "regctl"} {
		before := catalogDirect(t, p)
		var got []string
		switch client {
		case "crane":
			r = c.run(t, "crane", "catalog", "--insecure", p.host())
			got = strings.Fields(r.out())
		case "oras":
			r = c.run(t, "oras", "repo", "ls", "--plain-http", p.host())
			got = strings.Fields(r.out())
		default:
			for last := ""; ; {
				args := []string{"repo", "ls", "--limit", "5", p.host()}
				if last != "" {
					args = append(args, "--last", last)
				}
				r = c.run(t, "regctl", args...)
				page := strings.Fields(r.out())
				if len(page) > 5 {
					r.fatalf(t, "a page of %d repositories, want at most 5", len(page))
				}
				if len(page) == 0 {
					break
				}
				got = append(got, page...)
				last = page[len(page)-1]
			}
		}
		after := catalogDirect(t, p)
		if !slices.IsSorted(got) || !slices.Contains(got, "interop/pages/app") || len(slices.Compact(slices.Clone(got))) != len(got) {
			r.errorf(t, "catalog %v: want it sorted, without duplicates, with interop/pages/app", got)
		}
		for _, repo := range before {
			if !slices.Contains(got, repo) {
				r.errorf(t, "catalog lacks %s", repo)
			}
		}
		for _, repo := range got {
			if !slices.Contains(after, repo) {
				r.errorf(t, "catalog lists %s, which the registry does not have", repo)
			}
		}
		if n, want := pages(t, r, "/v2/_catalog"), (len(got)+4)/5; client != "regctl" && n < want {
			r.errorf(t, "%d catalog pages for %d repositories; want %d of at most 5", n, len(got), want)
		}
	}

	// Deletes: tags (crane delete, regctl tag delete), then manifests
	// (regctl manifest delete, crane delete by digest), which take their
	// tags with them.
	c.run(t, "crane", "delete", "--insecure", repo+":t01")
	r = c.run(t, "regctl", "tag", "delete", repo+":t02")
	if len(r.exchanges(func(e exchange) bool {
		return e.method == http.MethodDelete && strings.HasSuffix(e.uri, "/manifests/t02") && e.status == http.StatusAccepted
	})) != 1 || len(r.exchanges(func(e exchange) bool { return e.method == http.MethodPut })) > 0 {
		r.errorf(t, "want a DELETE of the tag answered 202, and no manifest pushed (regctl's fallback for registries that cannot delete tags)")
	}
	c.run(t, "regctl", "manifest", "delete", repo+"@"+im.arm64)
	c.run(t, "crane", "delete", "--insecure", repo+"@"+im.base)
	want = slices.DeleteFunc(want, func(tag string) bool { return slices.Contains([]string{"t01", "t02", "arm64", "base"}, tag) })
	r = c.run(t, "crane", "ls", "--insecure", repo)
	if got := strings.Fields(r.out()); !slices.Equal(got, want) {
		r.errorf(t, "tags after the deletes %v, want %v", got, want)
	}
	for _, d := range []string{im.arm64, im.base} {
		resp, body := httpGet(t, p.api().url("/v2/interop/pages/app/manifests/"+d))
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "MANIFEST_UNKNOWN") {
			t.Errorf("deleted manifest %s: GET answers %s %s; want 404 MANIFEST_UNKNOWN", d, resp.Status, body)
		}
	}
	r = c.run(t, "crane", "digest", "--insecure", repo+":t03")
	if r.out() != im.amd64 {
		r.errorf(t, "t03 names %s after the deletes, want %s", r.out(), im.amd64)
	}
	r = c.fails(t, "crane", "manifest", "--insecure", repo+":t01")
	if !strings.Contains(string(r.stderr), "MANIFEST_UNKNOWN") {
		r.errorf(t, "the deleted tag: want MANIFEST_UNKNOWN")
	}
}
