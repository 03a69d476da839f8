package push

import (
	"os"
	"path/filepath"
	"testing"
)

// A source's tag is split off at the first colon after which the path
// exists: tags hold colons (repo:tag), and so may paths.
func TestSplitTag(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"app.tar", "odd:name.tar"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ spec, path, tag string }{
		{dir + "/app.tar", dir + "/app.tar", ""},
		{dir + "/app.tar:v1", dir + "/app.tar", "v1"},
		{dir + "/app.tar:example.com/app:v1", dir + "/app.tar", "example.com/app:v1"},
		{dir + "/odd:name.tar", dir + "/odd:name.tar", ""},
		{dir + "/odd:name.tar:v2", dir + "/odd:name.tar", "v2"},
		{dir + "/missing.tar:v1", dir + "/missing.tar:v1", ""},
	} {
		path, tag := splitTag(tc.spec)
		if path != tc.path || tag != tc.tag {
			t.Errorf("splitTag(%q) = %q, %q; want %q, %q", tc.spec, path, tag, tc.path, tc.tag)
		}
	}
}
