package config

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

// parse is Parse of the flags args with the environment env.
func parse(env map[string]string, args []string) (Config, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return Parse(fs, args, func(k string) string { return env[k] })
}

func TestBlobLinkCache(t *testing.T) {
	for _, tt := range []struct {
		env     map[string]string
		args    []string
		ttl     time.Duration
		entries int64
		err     string
	}{
		{ttl: 0, entries: 10000},
		{env: map[string]string{"PIER_BLOB_LINK_CACHE_TTL": "5m"}, ttl: 5 * time.Minute, entries: 10000},
		{env: map[string]string{"PIER_BLOB_LINK_CACHE_TTL": "30s", "PIER_BLOB_LINK_CACHE_ENTRIES": "50"}, ttl: 30 * time.Second, entries: 50},
		{env: map[string]string{"PIER_BLOB_LINK_CACHE_TTL": "30s"}, args: []string{"--blob-link-cache-ttl", "0", "--blob-link-cache-entries", "7"}, ttl: 0, entries: 7},
		{env: map[string]string{"PIER_BLOB_LINK_CACHE_TTL": "-1s"}, err: "blob link cache"},
		{args: []string{"--blob-link-cache-entries=-1"}, err: "blob link cache"},
		{env: map[string]string{"PIER_BLOB_LINK_CACHE_TTL": "5"}, err: "PIER_BLOB_LINK_CACHE_TTL"},
	} {
		c, err := parse(tt.env, tt.args)
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("env %v, args %q: error %v, want one about %q", tt.env, tt.args, err, tt.err)
			}
		case err != nil:
			t.Errorf("env %v, args %q: %v", tt.env, tt.args, err)
		case c.BlobLinkCacheTTL != tt.ttl || c.BlobLinkCacheEntries != tt.entries:
			t.Errorf("env %v, args %q: TTL %s, entries %d; want %s, %d", tt.env, tt.args, c.BlobLinkCacheTTL, c.BlobLinkCacheEntries, tt.ttl, tt.entries)
		}
	}
}

func TestStack(t *testing.T) {
	for _, tt := range []struct {
		env   map[string]string
		args  []string
		stack string
		err   string
	}{
		{args: []string{"--backend", "aws", "--stack", "pier-prod"}, stack: "pier-prod"},
		{env: map[string]string{"PIER_BACKEND": "aws", "PIER_STACK": "pier-prod"}, stack: "pier-prod"},
		{args: []string{"--backend", "aws"}, err: "--stack or PIER_STACK"},
		{args: []string{"--stack", "pier-prod"}, err: "--stack needs --backend aws"},
		{args: []string{"--backend", "aws", "--stack", "pier-prod", "--bucket", "b"}, err: "give one or the other"},
	} {
		c, err := parse(tt.env, tt.args)
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("env %v, args %q: error %v, want one about %q", tt.env, tt.args, err, tt.err)
			}
		case err != nil:
			t.Errorf("env %v, args %q: %v", tt.env, tt.args, err)
		case c.Stack != tt.stack:
			t.Errorf("env %v, args %q: stack %q, want %q", tt.env, tt.args, c.Stack, tt.stack)
		}
	}
}
