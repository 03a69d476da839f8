package site

import (
	"path"
	"strings"

	"github.com/pier-registry/pier/internal/oci"
)

// Prefix is the path under which sites are served.
const Prefix = "/sites/"

// address is what a /sites/ URL names.
type address struct {
	repo string
	ref  oci.Reference
	// file is the path inside the site, "" for its root; it ends in '/'
	// when the URL's path does.
	file string
	// root: the URL ends at the reference, without the '/' after it.
	root bool
}

// parseAddress parses the path p of a /sites/ URL. It reports false when
// p names no site.
func parseAddress(p string) (address, bool) {
	rest, ok := strings.CutPrefix(p, Prefix)
	if !ok {
		return address{}, false
	}
	i := strings.Index("/"+rest, "/@")
	if i <= 0 {
		return address{}, false
	}
	a := address{repo: rest[:i-1]}
	refAndFile := rest[i+1:]
	ref, file, slash := strings.Cut(refAndFile, "/")
	if !oci.ValidName(a.repo) {
		return address{}, false
	}
	r, err := oci.ParseReference(ref)
	if err != nil {
		return address{}, false
	}
	a.ref, a.file, a.root = r, file, !slash
	return a, true
}

// cleanFile returns the path of the file that f names inside a site: the
// directory's index.html for "" or a path ending in '/'. It reports false
// for a path that is not clean (".", "..", empty segments).
func cleanFile(f string) (string, bool) {
	if f == "" || strings.HasSuffix(f, "/") {
		f += "index.html"
	}
	if path.Clean(f) != f || strings.HasPrefix(f, "/") || f == ".." || strings.HasPrefix(f, "../") {
		return "", false
	}
	return f, true
}
