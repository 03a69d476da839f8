package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestPolicyCommandLocal(t *testing.T) { testPolicyCommand(t, []string{"--data", t.TempDir()}) }

func TestPolicyCommandAWS(t *testing.T) { testPolicyCommand(t, awsBackendFlags(t)) }

// testPolicyCommand: pier policy set, list and rm on the backend of the
// flags backend, and their errors.
func testPolicyCommand(t *testing.T, backend []string) {
	run := func(args ...string) (string, error) {
		var stdout, stderr bytes.Buffer
		err := runPolicy(context.Background(), append(args, backend...), func(string) string { return "" }, adminIO{stdout: &stdout, stderr: &stderr})
		return stdout.String(), err
	}
	for _, tt := range []struct {
		args []string
		out  string // a line of the output, or of the error
		fail bool
	}{
		{args: []string{"list"}, out: "PATTERN  RULES\n"},
		{args: []string{"set", "team/*", "--immutable-tags", "--tag-deleter", "alice", "--tag-deleter", "ci"}, out: "policy team/*: immutable tags, deleted by alice,ci\n"},
		{args: []string{"set", "team/open"}, out: "policy team/open: mutable tags\n"},
		{args: []string{"set", "*", "--immutable-tags"}, out: "policy *: immutable tags, deleted by no one\n"},
		{args: []string{"list"}, out: "PATTERN    RULES\n*          immutable tags, deleted by no one\nteam/*     immutable tags, deleted by alice,ci\nteam/open  mutable tags\n"},
		{args: []string{"rm", "*"}, out: "policy * removed\n"},
		{args: []string{"rm", "*"}, out: "no policy for *", fail: true},
		{args: []string{"set", "te*m"}, out: "bad repository pattern", fail: true},
		{args: []string{"set", "team/*", "--tag-deleter", "bob"}, out: "without --immutable-tags", fail: true},
		{args: []string{"set"}, out: "want 1 argument(s), got 0", fail: true},
		{args: []string{"drop", "x"}, out: "unknown command", fail: true},
		{args: []string{"list"}, out: "PATTERN    RULES\nteam/*     immutable tags, deleted by alice,ci\nteam/open  mutable tags\n"},
		{
			args: []string{"set", "team/app", "--keep-tags", "10", "--tag-pattern", "dev-*", "--untagged-days", "14", "--unlink-days", "7"},
			out:  "policy team/app: mutable tags; keep the last 10 tags matching dev-*; untagged manifests removed after 14 days; unnamed links removed after 7 days\n",
		},
		{args: []string{"set", "ci/*", "--immutable-tags", "--untagged-days=1"}, out: "policy ci/*: immutable tags, deleted by no one; untagged manifests removed after 1 days\n"},
		{args: []string{"list"}, out: "PATTERN    RULES\n" +
			"ci/*       immutable tags, deleted by no one; untagged manifests removed after 1 days\n" +
			"team/*     immutable tags, deleted by alice,ci\n" +
			"team/app   mutable tags; keep the last 10 tags matching dev-*; untagged manifests removed after 14 days; unnamed links removed after 7 days\n" +
			"team/open  mutable tags\n"},
		{args: []string{"set", "x", "--keep-tags", "-1"}, out: "--keep-tags -1: want a number of tags to keep", fail: true},
		{args: []string{"set", "x", "--keep-tags", "many"}, out: "invalid value \"many\" for flag -keep-tags", fail: true},
		{args: []string{"set", "x", "--tag-pattern", "dev-*"}, out: "--tag-pattern without --keep-tags", fail: true},
		{args: []string{"set", "x", "--keep-tags", "3", "--tag-pattern", "dev-["}, out: `--tag-pattern "dev-[": syntax error in pattern`, fail: true},
		{args: []string{"set", "x", "--untagged-days", "-2"}, out: "--untagged-days -2: want a number of days from 1 to 36500", fail: true},
		{args: []string{"set", "x", "--unlink-days", "99999"}, out: "--unlink-days 99999: want a number of days from 1 to 36500", fail: true},
	} {
		out, err := run(tt.args...)
		switch {
		case tt.fail && (err == nil || !strings.Contains(err.Error(), tt.out)):
			t.Errorf("pier policy %s: %v, want an error saying %q", strings.Join(tt.args, " "), err, tt.out)
		case !tt.fail && (err != nil || out != tt.out):
			t.Errorf("pier policy %s: %q, %v; want %q", strings.Join(tt.args, " "), out, err, tt.out)
		}
	}
}
