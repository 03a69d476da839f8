package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/awstest"
	"github.com/pier-registry/pier/internal/gc"
	"github.com/pier-registry/pier/internal/randid"
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
	awstest.Require(t)
	name := randid.Hex(5)
	var logs bytes.Buffer
	env := map[string]string{
		"PIER_BUCKET": "pier-gc-" + name, "PIER_TABLE_PREFIX": "t" + name + "-", "PIER_CREATE_RESOURCES": "true",
		"PIER_GC_GRACE": "1ns", "PIER_GC_SETTLE": "1ns",
	}
	ctx := context.Background()
	f, err := newFunction(ctx, func(k string) string { return env[k] }, &logs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.meta.DeleteTable(context.Background()) })
	orphan := []byte("a blob no repository links")
	if _, err := f.blobs.Put(ctx, digest.FromBytes(orphan), bytes.NewReader(orphan)); err != nil {
		t.Fatal(err)
	}
	// The first run marks the orphan, the second deletes it, the third
	// finds nothing.
	for i, want := range []int64{0, int64(len(orphan)), 0} {
		logs.Reset()
		if err := f.run(ctx, json.RawMessage(scheduledEvent)); err != nil {
			t.Fatal(err)
		}
		var line struct {
			Msg     string    `json:"msg"`
			Bucket  string    `json:"bucket"`
			EventID string    `json:"event_id"`
			Report  gc.Report `json:"report"`
		}
		lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &line); err != nil {
			t.Fatal(err)
		}
		if line.Msg != "gc" || line.Bucket != env["PIER_BUCKET"] || line.EventID != "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa" || line.Report.Freed != want {
			t.Errorf("run %d: log line %s; want %d bytes freed", i+1, lines[len(lines)-1], want)
		}
	}
	if _, err := f.blobs.Stat(ctx, digest.FromBytes(orphan)); err == nil {
		t.Error("the orphan blob is still there")
	}
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
