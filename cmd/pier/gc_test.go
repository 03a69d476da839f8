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

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/config"
	"github.com/pier-registry/pier/internal/server"
	"github.com/pier-registry/pier/internal/store"
	"github.com/pier-registry/pier/internal/store/awsstore"
	"github.com/pier-registry/pier/internal/store/local"
)

func TestGCCommandLocal(t *testing.T) {
	dir := t.TempDir()
	testGCCommand(t, []string{"--data", dir}, func(fn func(store.Blobs, store.Metadata)) {
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
	})
}

func TestGCCommandAWS(t *testing.T) {
	backend := awsBackendFlags(t)
	cfg, err := config.Parse(flag.NewFlagSet("test", flag.ContinueOnError), backend, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	blobs, meta, err := awsstore.Open(context.Background(), server.AWSConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	testGCCommand(t, backend, func(fn func(store.Blobs, store.Metadata)) { fn(blobs, meta) })
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
