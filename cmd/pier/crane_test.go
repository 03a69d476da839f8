package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// craneBinary returns the pinned crane that scripts/tools.sh builds (or
// $PIER_CRANE).
func craneBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PIER_CRANE"); p != "" {
		return p
	}
	out, err := exec.Command("../../scripts/tools.sh", "crane").Output()
	if err != nil {
		t.Fatalf("scripts/tools.sh crane: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// crane runs crane with args and returns its standard output.
func crane(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, append(args, "--insecure")...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("crane %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// layerTar returns a tar of files.
func layerTar(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(files[n]))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// untar returns the regular files of a tar stream.
func untar(t *testing.T, b []byte) map[string]string {
	t.Helper()
	files := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			data, _ := io.ReadAll(tr)
			files[strings.TrimPrefix(h.Name, "/")] = string(data)
		}
	}
}

// A fresh `pier serve` takes images built without Docker by crane, and
// gives back the same bytes.
func TestCraneRoundTrip(t *testing.T) {
	bin := craneBinary(t)
	s := startServer(t, t.TempDir())
	dir := t.TempDir()
	repo := s.addr + "/e2e/app"

	files := map[string]string{"hello.txt": "hello from pier\n", "etc/app.conf": "answer = 42\n"}
	layer := filepath.Join(dir, "layer.tar")
	if err := os.WriteFile(layer, layerTar(t, files), 0o644); err != nil {
		t.Fatal(err)
	}

	// Build and push: an OCI image from an empty base, a second image
	// with another config, and a two-platform index of both.
	crane(t, bin, "append", "--oci-empty-base", "-f", layer, "-t", repo+":base")
	crane(t, bin, "mutate", repo+":base", "--set-platform", "linux/amd64", "-t", repo+":v1")
	crane(t, bin, "mutate", repo+":base", "--set-platform", "linux/arm64", "--label", "org.example=pier", "-t", repo+":v2")
	crane(t, bin, "index", "append", "-m", repo+":v1", "-m", repo+":v2", "-t", repo+":multi")

	// Pull back: the manifest's digest is the one pier reports, and the
	// layer's files are the ones pushed.
	manifest := crane(t, bin, "manifest", repo+":v1")
	digest := strings.TrimSpace(string(crane(t, bin, "digest", repo+":v1")))
	if want := fmt.Sprintf("sha256:%x", sha256.Sum256(manifest)); digest != want {
		t.Errorf("crane digest = %s, manifest bytes hash to %s", digest, want)
	}
	var m struct {
		Layers []struct{ Digest string }
	}
	if err := json.Unmarshal(manifest, &m); err != nil || len(m.Layers) != 1 {
		t.Fatalf("manifest %s: %v", manifest, err)
	}
	blob := crane(t, bin, "blob", repo+"@"+m.Layers[0].Digest)
	if got := fmt.Sprintf("sha256:%x", sha256.Sum256(blob)); got != m.Layers[0].Digest {
		t.Errorf("layer blob hashes to %s, want %s", got, m.Layers[0].Digest)
	}
	exported := crane(t, bin, "export", repo+":v1", "-")
	if got := untar(t, exported); !mapsEqual(got, files) {
		t.Errorf("exported files = %v, want %v", got, files)
	}

	// A pull to an OCI layout and a push of the layout elsewhere keep
	// every byte: the layout's index.json, pushed as an index, holds the
	// multi-platform index pulled.
	layout := filepath.Join(dir, "layout")
	crane(t, bin, "pull", "--format", "oci", repo+":multi", layout)
	crane(t, bin, "push", "--index", layout, s.addr+"/e2e/pushed:layout")
	var top struct {
		Manifests []struct{ Digest string }
	}
	if err := json.Unmarshal(crane(t, bin, "manifest", s.addr+"/e2e/pushed:layout"), &top); err != nil || len(top.Manifests) != 1 {
		t.Fatalf("pushed layout index: %v %+v", err, top)
	}
	multi := strings.TrimSpace(string(crane(t, bin, "digest", repo+":multi")))
	if top.Manifests[0].Digest != multi {
		t.Fatalf("pushed layout holds %s, want %s", top.Manifests[0].Digest, multi)
	}
	if a, b := crane(t, bin, "manifest", repo+":multi"), crane(t, bin, "manifest", s.addr+"/e2e/pushed@"+multi); !bytes.Equal(a, b) {
		t.Errorf("index pushed from the layout differs:\n%s\n%s", a, b)
	}
	for _, platform := range []string{"linux/amd64", "linux/arm64"} {
		got := crane(t, bin, "export", "--platform", platform, s.addr+"/e2e/pushed@"+multi, "-")
		if !mapsEqual(untar(t, got), files) {
			t.Errorf("%s: exported files differ", platform)
		}
	}

	// Copy between repositories (blob mounts), tags, catalog, delete.
	crane(t, bin, "copy", repo+":v2", s.addr+"/e2e/copy:v2")
	if a, b := crane(t, bin, "digest", repo+":v2"), crane(t, bin, "digest", s.addr+"/e2e/copy:v2"); !bytes.Equal(a, b) {
		t.Errorf("copied digest %s, want %s", b, a)
	}
	if tags := strings.Fields(string(crane(t, bin, "ls", repo))); !slices.Equal(tags, []string{"base", "multi", "v1", "v2"}) {
		t.Errorf("crane ls = %v, want [base multi v1 v2]", tags)
	}
	catalog := strings.Fields(string(crane(t, bin, "catalog", s.addr)))
	if !slices.Equal(catalog, []string{"e2e/app", "e2e/copy", "e2e/pushed"}) {
		t.Errorf("crane catalog = %v", catalog)
	}
	copyDigest := strings.TrimSpace(string(crane(t, bin, "digest", s.addr+"/e2e/copy:v2")))
	crane(t, bin, "delete", s.addr+"/e2e/copy@"+copyDigest)
	if err := exec.Command(bin, "manifest", "--insecure", s.addr+"/e2e/copy:v2").Run(); err == nil {
		t.Error("the deleted manifest can still be pulled by tag")
	}
	if got := strings.TrimSpace(string(crane(t, bin, "digest", repo+":v2"))); got != copyDigest {
		t.Errorf("deleting the copy changed the source: %s, want %s", got, copyDigest)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
