package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/config"
	"github.com/pier-registry/pier/internal/server"
	"github.com/pier-registry/pier/internal/store"
	"github.com/pier-registry/pier/internal/store/awsstore"
	"github.com/pier-registry/pier/internal/store/local"
)

func TestGCCommandLocal(t *testing.T) {
	dir := t.TempDir()
	testGCCommand(t, []string{"--data", dir}, localStores(t, dir))
}

func TestGCCommandAWS(t *testing.T) {
	backend := awsBackendFlags(t)
	testGCCommand(t, backend, awsStores(t, backend))
}

func TestGCRetentionCommandLocal(t *testing.T) {
	dir := t.TempDir()
	testGCRetentionCommand(t, []string{"--data", dir}, localStores(t, dir))
}

func TestGCRetentionCommandAWS(t *testing.T) {
	backend := awsBackendFlags(t)
	testGCRetentionCommand(t, backend, awsStores(t, backend))
}

// localStores returns a function that opens the local stores of dir for
// fn, and closes them after it (pier gc opens them next).
func localStores(t *testing.T, dir string) func(func(store.Blobs, store.Metadata)) {
	return func(fn func(store.Blobs, store.Metadata)) {
		blobs, err := local.OpenBlobs(dir)
		if err != nil {
			t.Fatal(err)
		}
		meta, err := local.OpenMetadata(filepath.Join(dir, "metadata.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer meta.Close() // pier gc opens the file next
		fn(blobs, meta)
	}
}

// awsStores returns a function that calls fn with the aws stores of the
// flags backend.
func awsStores(t *testing.T, backend []string) func(func(store.Blobs, store.Metadata)) {
	cfg, err := config.Parse(flag.NewFlagSet("test", flag.ContinueOnError), backend, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	blobs, meta, err := awsstore.Open(context.Background(), server.AWSConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	return func(fn func(store.Blobs, store.Metadata)) { fn(blobs, meta) }
}

// testGCCommand: pier gc --dry-run says what it would delete and deletes
// nothing; pier gc deletes it, and a second run deletes nothing; a linked
// blob stays.
func testGCCommand(t *testing.T, backend []string, stores func(func(store.Blobs, store.Metadata))) {
	ctx := context.Background()
	orphan, kept := []byte("an orphan blob"), []byte("a linked blob")
	stores(func(b store.Blobs, m store.Metadata) {
		for _, data := range [][]byte{orphan, kept} {
			if _, err := b.Put(ctx, digest.FromBytes(data), bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
		}
		if err := m.LinkBlob(ctx, "r", digest.FromBytes(kept), store.BlobLink{Size: int64(len(kept))}); err != nil {
			t.Fatal(err)
		}
	})
	run := func(args ...string) (string, string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		err := runGC(ctx, append(args, backend...), func(string) string { return "" }, adminIO{stdout: &stdout, stderr: &stderr})
		if err != nil {
			t.Fatalf("pier gc %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return stdout.String(), stderr.String()
	}
	for _, tt := range []struct {
		args []string
		want []string
		// emf are the metrics of the run's EMF line on stderr (--emf);
		// nil: no line.
		emf map[string]float64
	}{
		// A dry run deletes nothing: it writes no metrics.
		{[]string{"--dry-run", "--gc-grace=1ns", "--emf"}, []string{
			"would delete  blob " + digest.FromBytes(orphan).String(),
			fmt.Sprintf("would delete 1 blobs (%d bytes)", len(orphan)),
		}, nil},
		{[]string{"--gc-grace=1h", "--emf"}, []string{"deleted 0 blobs (0 bytes)"},
			map[string]float64{"GCRuns": 1, "GCFailures": 0, "GCBlobsDeleted": 0, "GCBytesFreed": 0}},
		{[]string{"--gc-grace=1ns", "--gc-settle=1ns", "--wait", "--emf"}, []string{
			"deleted  blob " + digest.FromBytes(orphan).String(),
			fmt.Sprintf("deleted 1 blobs (%d bytes)", len(orphan)),
		}, map[string]float64{"GCRuns": 1, "GCFailures": 0, "GCBlobsDeleted": 1, "GCBytesFreed": float64(len(orphan)), "GCBlobsMarked": 1}},
		{[]string{"--gc-grace=1ns", "--gc-settle=1ns", "--wait"}, []string{"deleted 0 blobs (0 bytes)"}, nil},
	} {
		out, logs := run(tt.args...)
		var emf map[string]any
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, `"_aws":`) {
				if emf != nil {
					t.Errorf("pier gc %s: more than one EMF line", strings.Join(tt.args, " "))
				}
				if err := json.Unmarshal([]byte(line), &emf); err != nil {
					t.Fatalf("EMF line %s: %v", line, err)
				}
			}
		}
		if (emf != nil) != (tt.emf != nil) {
			t.Errorf("pier gc %s: EMF line %v, want one: %v", strings.Join(tt.args, " "), emf, tt.emf != nil)
		}
		for name, v := range tt.emf {
			if emf[name] != v {
				t.Errorf("pier gc %s: EMF %s = %v, want %v", strings.Join(tt.args, " "), name, emf[name], v)
			}
		}
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("pier gc %s: output does not say %q:\n%s", strings.Join(tt.args, " "), w, out)
			}
		}
		if strings.Contains(out, digest.FromBytes(kept).String()) {
			t.Errorf("pier gc %s: the linked blob is named:\n%s", strings.Join(tt.args, " "), out)
		}
	}
	stores(func(b store.Blobs, m store.Metadata) {
		if _, err := b.Stat(ctx, digest.FromBytes(kept)); err != nil {
			t.Errorf("linked blob: %v", err)
		}
		if _, err := b.Stat(ctx, digest.FromBytes(orphan)); err == nil {
			t.Error("orphan blob still there")
		}
	})
}

// testGCRetentionCommand: with `pier policy set r --keep-tags 1`, pier gc
// --dry-run says which tag and manifest the rule would remove and removes
// nothing; pier gc removes them and frees the manifest's bytes; a second
// run removes nothing.
func testGCRetentionCommand(t *testing.T, backend []string, stores func(func(store.Blobs, store.Metadata))) {
	ctx := context.Background()
	body := func(n int) []byte {
		return []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[],"annotations":{"n":"%d"}}`, n))
	}
	old, kept := body(1), body(2)
	stores(func(b store.Blobs, m store.Metadata) {
		for i, data := range [][]byte{old, kept} {
			d := digest.FromBytes(data)
			if _, err := b.Put(ctx, d, bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
			man := store.Manifest{Digest: d, MediaType: "application/vnd.oci.image.index.v1+json", Size: int64(len(data)), Body: data}
			if err := m.PutManifest(ctx, "r", man, []string{fmt.Sprintf("v%d", i+1)}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond) // push times apart
		}
	})
	var stdout, stderr bytes.Buffer
	if err := runPolicy(ctx, append([]string{"set", "r", "--keep-tags", "1"}, backend...), func(string) string { return "" }, adminIO{stdout: &stdout, stderr: &stderr}); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		err := runGC(ctx, append(args, backend...), func(string) string { return "" }, adminIO{stdout: &stdout, stderr: &stderr})
		if err != nil {
			t.Fatalf("pier gc %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return stdout.String()
	}
	oldName := "r@" + digest.FromBytes(old).String()
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"--dry-run", "--gc-grace=1ns"}, []string{
			"tag r:v1",
			fmt.Sprintf("manifest %s  %d bytes", oldName, len(old)),
			"retention rules: would remove 1 tags, 1 manifests, 0 links",
			fmt.Sprintf("would delete 1 blobs (%d bytes)", len(old)),
		}},
		{[]string{"--gc-grace=1ns", "--gc-settle=1ns", "--wait"}, []string{
			"tag r:v1",
			"retention rules: removed 1 tags, 1 manifests, 0 links",
			fmt.Sprintf("deleted 1 blobs (%d bytes)", len(old)),
		}},
		{[]string{"--gc-grace=1ns", "--gc-settle=1ns", "--wait"}, []string{"deleted 0 blobs (0 bytes)"}},
	} {
		out := run(tt.args...)
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("pier gc %s: output does not say %q:\n%s", strings.Join(tt.args, " "), w, out)
			}
		}
		if strings.Contains(out, "v2") || strings.Contains(out, digest.FromBytes(kept).String()) {
			t.Errorf("pier gc %s: the kept tag is named:\n%s", strings.Join(tt.args, " "), out)
		}
	}
	stores(func(b store.Blobs, m store.Metadata) {
		if got, err := m.Tag(ctx, "r", "v2"); err != nil || got.Digest != digest.FromBytes(kept) {
			t.Errorf("r:v2 after gc: %s, %v", got.Digest, err)
		}
		if _, err := m.Tag(ctx, "r", "v1"); err == nil {
			t.Error("r:v1 still there")
		}
		if _, err := b.Stat(ctx, digest.FromBytes(old)); err == nil {
			t.Error("the removed manifest's bytes are still there")
		}
	})
}
