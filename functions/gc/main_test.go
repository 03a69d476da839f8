package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/awstest"
	"github.com/pier-registry/pier/internal/gc"
	"github.com/pier-registry/pier/internal/randid"
	"github.com/pier-registry/pier/internal/store"
)

// scheduledEvent is an EventBridge schedule's event, as Lambda receives it.
const scheduledEvent = `{
  "version": "0",
  "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
  "detail-type": "Scheduled Event",
  "source": "aws.events",
  "account": "123456789012",
  "time": "2026-03-12T03:00:00Z",
  "region": "us-east-1",
  "resources": ["arn:aws:events:us-east-1:123456789012:rule/pier-gc"],
  "detail": {}
}`

// TestRun invokes the function, as the schedule does, on the local AWS
// servers: the first run deletes a blob nothing links and the second
// deletes nothing; the log line of each carries the report.
func TestRun(t *testing.T) {
	f, logs, env := newTestFunction(t)
	ctx := context.Background()
	orphan := []byte("a blob no repository links")
	if _, err := f.blobs.Put(ctx, digest.FromBytes(orphan), bytes.NewReader(orphan)); err != nil {
		t.Fatal(err)
	}
	// The first run marks the orphan, the second deletes it, the third
	// finds nothing.
	for i, want := range []int64{0, int64(len(orphan)), 0} {
		line := invoke(t, f, logs)
		if line.Msg != "gc" || line.Bucket != env["PIER_BUCKET"] || line.EventID != "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa" || line.Report.Freed != want {
			t.Errorf("run %d: log line %+v; want %d bytes freed", i+1, line, want)
		}
	}
	if _, err := f.blobs.Stat(ctx, digest.FromBytes(orphan)); err == nil {
		t.Error("the orphan blob is still there")
	}
}

// TestRunRetention invokes the function with a policy keeping the last
// tag of a repository: the first run removes the older tag and its
// manifest and marks the manifest's bytes, the second frees them, the
// third finds nothing.
func TestRunRetention(t *testing.T) {
	f, logs, _ := newTestFunction(t)
	ctx := context.Background()
	var old []byte
	for i, tag := range []string{"v1", "v2"} {
		body := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[],"annotations":{"tag":"` + tag + `"}}`)
		d := digest.FromBytes(body)
		if _, err := f.blobs.Put(ctx, d, bytes.NewReader(body)); err != nil {
			t.Fatal(err)
		}
		m := store.Manifest{Digest: d, MediaType: "application/vnd.oci.image.index.v1+json", Size: int64(len(body)), Body: body}
		if err := f.meta.PutManifest(ctx, "app", m, []string{tag}); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			old = body
			time.Sleep(5 * time.Millisecond) // push times apart
		}
	}
	if err := f.meta.PutPolicy(ctx, store.Policy{Pattern: "app", KeepTags: 1}); err != nil {
		t.Fatal(err)
	}
	oldName := "app@" + digest.FromBytes(old).String()
	for i, want := range []struct {
		tags, manifests string
		freed           int64
	}{
		{"[app:v1]", "[" + oldName + "]", 0},
		{"[]", "[]", int64(len(old))},
		{"[]", "[]", 0},
	} {
		rep := invoke(t, f, logs).Report
		tags, manifests := fmt.Sprint(names(rep.RemovedTags)), fmt.Sprint(names(rep.RemovedManifests))
		if tags != want.tags || manifests != want.manifests || rep.Freed != want.freed {
			t.Errorf("run %d: removed tags %s, manifests %s, freed %d; want %s, %s, %d", i+1, tags, manifests, rep.Freed, want.tags, want.manifests, want.freed)
		}
	}
	if tagged, err := f.meta.Tag(ctx, "app", "v2"); err != nil || tagged.Digest == digest.FromBytes(old) {
		t.Errorf("app:v2 after the runs: %s, %v", tagged.Digest, err)
	}
}

func names(items []gc.Item) []string {
	out := []string{}
	for _, it := range items {
		out = append(out, it.Name)
	}
	return out
}

// logLine is the log line of a run.
type logLine struct {
	Msg     string    `json:"msg"`
	Bucket  string    `json:"bucket"`
	EventID string    `json:"event_id"`
	Report  gc.Report `json:"report"`
}

// invoke runs f once on the scheduled event and returns its last log line.
func invoke(t *testing.T, f *function, logs *bytes.Buffer) logLine {
	t.Helper()
	logs.Reset()
	if err := f.run(context.Background(), json.RawMessage(scheduledEvent)); err != nil {
		t.Fatal(err)
	}
	var line logLine
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &line); err != nil {
		t.Fatal(err)
	}
	return line
}

// newTestFunction returns the function on fresh resources of the local
// AWS servers (grace and settle 1ns), its log and its environment.
func newTestFunction(t *testing.T) (*function, *bytes.Buffer, map[string]string) {
	awstest.Require(t)
	name := randid.Hex(5)
	var logs bytes.Buffer
	env := map[string]string{
		"PIER_BUCKET": "pier-gc-" + name, "PIER_TABLE_PREFIX": "t" + name + "-", "PIER_CREATE_RESOURCES": "true",
		"PIER_GC_GRACE": "1ns", "PIER_GC_SETTLE": "1ns",
	}
	f, err := newFunction(context.Background(), func(k string) string { return env[k] }, &logs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.meta.DeleteTable(context.Background()) })
	return f, &logs, env
}

func TestConfig(t *testing.T) {
	for _, tt := range []struct {
		env map[string]string
		err string
	}{
		{env: map[string]string{}, err: "PIER_BUCKET"},
		{env: map[string]string{"PIER_BACKEND": "local"}, err: "aws backend"},
		{env: map[string]string{"PIER_BUCKET": "b", "PIER_GC_GRACE": "soon"}, err: "PIER_GC_GRACE"},
	} {
		_, err := newFunction(context.Background(), func(k string) string { return tt.env[k] }, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("env %v: error %v, want one about %s", tt.env, err, tt.err)
		}
	}
}
