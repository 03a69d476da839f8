package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
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

func TestRun(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1") // nothing listens: a request would fail
	var logs bytes.Buffer
	env := map[string]string{"PIER_BUCKET": "pier-blobs", "PIER_TABLE_PREFIX": "t-"}
	f, err := newFunction(context.Background(), func(k string) string { return env[k] }, &logs)
	if err != nil {
		t.Fatal(err)
	}
	for _, event := range []string{scheduledEvent, `{}`} {
		logs.Reset()
		if err := f.run(context.Background(), json.RawMessage(event)); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
		if len(lines) != 1 {
			t.Fatalf("log %q: want one line", logs.String())
		}
		var line struct {
			Msg     string   `json:"msg"`
			Bucket  string   `json:"bucket"`
			Table   string   `json:"table"`
			DryRun  bool     `json:"dry_run"`
			Would   []string `json:"would"`
			EventID string   `json:"event_id"`
		}
		if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
			t.Fatal(err)
		}
		if line.Msg != "gc" || line.Bucket != "pier-blobs" || line.Table != "t-metadata" || !line.DryRun || len(line.Would) != 3 {
			t.Errorf("log line %s", lines[0])
		}
		if event == scheduledEvent && line.EventID != "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa" {
			t.Errorf("event id %q", line.EventID)
		}
	}
}

func TestConfig(t *testing.T) {
	for _, tt := range []struct {
		env map[string]string
		err string
	}{
		{env: map[string]string{}, err: "PIER_BUCKET"},
		{env: map[string]string{"PIER_BACKEND": "local"}, err: "aws backend"},
	} {
		_, err := newFunction(context.Background(), func(k string) string { return tt.env[k] }, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("env %v: error %v, want one about %s", tt.env, err, tt.err)
		}
	}
}
