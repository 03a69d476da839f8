package site

import (
	"encoding/json"
	"path"
	"strings"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/pier-registry/pier/internal/oci"
)

// Annotations of the layers that oras pushes.
const (
	// AnnotationUnpack marks a layer that is a directory, as a gzipped tar.
	AnnotationUnpack = "io.deis.oras.content.unpack"
)

// entry is a file of a site.
type entry struct {
	Digest digest.Digest `json:"digest"`
	Size   int64         `json:"size"`
	// Type is the media type of the file's layer; "" for a file unpacked
	// from an archive.
	Type string `json:"type,omitempty"`
	// Layer: the file is a layer of the manifest (read through the
	// repository's link to it); else it was unpacked from an archive.
	Layer bool `json:"layer,omitempty"`
}

// index is the files of a site by path (clean, relative, '/'-separated).
type index struct {
	Files map[string]entry `json:"files"`
	// dirs holds every directory that has a file under it, with its
	// trailing '/'.
	dirs map[string]bool
}

// archive is a directory layer of a manifest, to unpack.
type archive struct {
	layer v1.Descriptor
	// strip is the prefix that the paths of the archive lose in the site:
	// its directory's when it is the site's root, else "".
	strip string
}

// layout reads a manifest's layers as oras pull lays them out: the files
// of titled layers, and the archives to unpack. It reports false for a
// manifest with neither (not a site).
func layout(m *oci.Manifest) (files map[string]entry, archives []archive, ok bool) {
	files = map[string]entry{}
	for _, l := range m.Layers {
		title, ok := cleanPath(l.Annotations[v1.AnnotationTitle])
		if !ok {
			continue
		}
		if l.Annotations[AnnotationUnpack] == "true" {
			a := archive{layer: l}
			if len(m.Layers) == 1 {
				a.strip = title + "/"
			}
			archives = append(archives, a)
			continue
		}
		files[title] = entry{Digest: l.Digest, Size: l.Size, Type: l.MediaType, Layer: true}
	}
	return files, archives, len(files) > 0 || len(archives) > 0
}

// cleanPath returns p as a site path: relative, clean, '/'-separated, with
// a leading "./" dropped. It reports false for a path that would leave the
// site (absolute, "..") or names its root.
func cleanPath(p string) (string, bool) {
	p = strings.TrimPrefix(p, "./")
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, `\`) {
		return "", false
	}
	c := path.Clean(p)
	if c == "." || c == ".." || strings.HasPrefix(c, "../") {
		return "", false
	}
	return c, true
}

// newIndex makes the index of files.
func newIndex(files map[string]entry) *index {
	x := &index{Files: files}
	x.fill()
	return x
}

// fill computes dirs from Files.
func (x *index) fill() {
	x.dirs = map[string]bool{}
	for p := range x.Files {
		for i := strings.LastIndexByte(p, '/'); i > 0; i = strings.LastIndexByte(p[:i], '/') {
			x.dirs[p[:i+1]] = true
		}
	}
}

// isDir reports whether p (no trailing '/') is a directory of the site.
func (x *index) isDir(p string) bool { return x.dirs[p+"/"] }

// marshal returns the JSON of x, the same for the same files (map keys
// are sorted).
func (x *index) marshal() ([]byte, error) { return json.Marshal(x) }

// parseIndex reads the JSON of an index.
func parseIndex(b []byte) (*index, error) {
	x := new(index)
	if err := json.Unmarshal(b, x); err != nil {
		return nil, err
	}
	if x.Files == nil {
		x.Files = map[string]entry{}
	}
	x.fill()
	return x, nil
}
