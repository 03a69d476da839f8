package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pier-registry/pier/internal/auth"
	"github.com/pier-registry/pier/internal/config"
	"github.com/pier-registry/pier/internal/server"
	"github.com/pier-registry/pier/internal/store"
)

// These tests run the admin commands of the real binary, as an operator
// would, and check what they store and print.

// adminRun is one run of an admin command.
type adminRun struct {
	args           []string
	stdout, stderr string
	err            error
}

// output is what the run printed, both streams.
func (r adminRun) output() string { return r.stdout + r.stderr }

// admin runs `pier ARGS... BACKEND...` with stdin.
func admin(t *testing.T, backend []string, stdin string, args ...string) adminRun {
	t.Helper()
	args = append(args, backend...)
	cmd := exec.Command(pierBinary(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return adminRun{args: args, stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// mustAdmin is admin, failing the test when the command fails.
func mustAdmin(t *testing.T, backend []string, stdin string, args ...string) adminRun {
	t.Helper()
	r := admin(t, backend, stdin, args...)
	if r.err != nil {
		t.Fatalf("pier %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.err, r.stdout, r.stderr)
	}
	return r
}

// failAdmin runs a command that must fail, saying want.
func failAdmin(t *testing.T, backend []string, want string, args ...string) adminRun {
	t.Helper()
	r := admin(t, backend, "", args...)
	var exit *exec.ExitError
	if !errors.As(r.err, &exit) {
		t.Errorf("pier %s: %v, want a failure\n%s", strings.Join(r.args, " "), r.err, r.output())
	} else if !strings.Contains(r.stderr, want) {
		t.Errorf("pier %s: stderr %q does not say %q", strings.Join(r.args, " "), r.stderr, want)
	}
	return r
}

func TestAdminLocal(t *testing.T) {
	testAdmin(t, []string{"--data", t.TempDir()})
}

func TestAdminAWS(t *testing.T) {
	testAdmin(t, awsBackendFlags(t))
}

// listRow is a row of `pier user list`.
type listRow struct {
	name, kind, created, expires, grants string
}

// parseList parses the output of `pier user list`.
func parseList(t *testing.T, out string) map[string]listRow {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 || !regexp.MustCompile(`^NAME +KIND +CREATED +EXPIRES +GRANTS$`).MatchString(lines[0]) {
		t.Fatalf("user list: no header line:\n%s", out)
	}
	rows := map[string]listRow{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) < 5 {
			t.Fatalf("user list: short row %q", l)
		}
		expires := f[3]
		rest := f[4:]
		if len(rest) > 0 && rest[0] == "(expired)" {
			expires += " (expired)"
			rest = rest[1:]
		}
		rows[f[0]] = listRow{name: f[0], kind: f[1], created: f[2], expires: expires, grants: strings.Join(rest, " ")}
	}
	return rows
}

var (
	// printedPassword finds the one-time password or secret.
	printedPassword = regexp.MustCompile(`(?m)^log in with username (\S+), password (\S+)$`)
	// bcryptHash is what a stored password looks like.
	bcryptHash = regexp.MustCompile(`\$2[abxy]\$\d\d\$`)
)

// testAdmin runs the admin commands on the backend of the flags backend.
func testAdmin(t *testing.T, backend []string) {
	var outputs []string // everything every command printed
	run := func(stdin string, args ...string) adminRun {
		t.Helper()
		r := mustAdmin(t, backend, stdin, args...)
		outputs = append(outputs, r.output())
		return r
	}
	fail := func(want string, args ...string) {
		t.Helper()
		outputs = append(outputs, failAdmin(t, backend, want, args...).output())
	}
	start := time.Now().Add(-time.Second)

	// A user with a password made by pier, printed once; flags after the
	// name and before it.
	r := run("", "user", "add", "alice", "--grant", "team/*=push,pull", "--grant=*=pull")
	m := printedPassword.FindStringSubmatch(r.stdout)
	if m == nil || m[1] != "alice" || len(m[2]) < 20 {
		t.Fatalf("user add alice printed no password line:\n%s", r.output())
	}
	alicePassword := m[2]
	if !strings.Contains(r.stdout, "shown only now") {
		t.Errorf("user add does not say the password is shown once:\n%s", r.stdout)
	}

	// A user with the password on standard input: never printed.
	const bobPassword = "correct horse battery staple 42"
	r = run(bobPassword+"\n", "user", "add", "--password-stdin", "bob")
	if printedPassword.MatchString(r.stdout) {
		t.Errorf("user add --password-stdin printed a password line:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "no grants") {
		t.Errorf("user add without --grant does not warn that bob has no grants:\n%s", r.stderr)
	}

	// A robot token: the secret is printed once, with the login hint.
	r = run("", "token", "create", "ci", "--grant", "ci/*=pull,push,delete", "--expires", "1h")
	m = printedPassword.FindStringSubmatch(r.stdout)
	if m == nil || m[1] != "ci" || !strings.HasPrefix(m[2], auth.RobotSecretPrefix) {
		t.Fatalf("token create printed no secret line:\n%s", r.output())
	}
	ciSecret := m[2]
	if !strings.Contains(r.stdout, "username ci, password "+ciSecret) {
		t.Errorf("token create does not print the hint `username ci, password <secret>`:\n%s", r.stdout)
	}
	run("", "token", "create", "deploy-bot@acme.example", "--grant", "site/app=pull")

	// Names are taken once, across users and robot tokens.
	fail(`user "alice" already exists`, "user", "add", "alice")
	fail(`robot "ci" already exists`, "user", "add", "ci")
	fail(`user "bob" already exists`, "token", "create", "bob")

	// The listing: every identity, its kind, grants, times; no secret.
	list := run("", "user", "list")
	rows := parseList(t, list.stdout)
	want := map[string]listRow{
		"alice":                   {name: "alice", kind: "user", expires: "-", grants: "team/*=pull,push *=pull"},
		"bob":                     {name: "bob", kind: "user", expires: "-", grants: "none"},
		"ci":                      {name: "ci", kind: "robot", grants: "ci/*=pull,push,delete"},
		"deploy-bot@acme.example": {name: "deploy-bot@acme.example", kind: "robot", expires: "-", grants: "site/app=pull"},
	}
	if len(rows) != len(want) {
		t.Errorf("user list has %d rows, want %d:\n%s", len(rows), len(want), list.stdout)
	}
	for name, w := range want {
		got, ok := rows[name]
		if !ok {
			t.Errorf("user list has no %s:\n%s", name, list.stdout)
			continue
		}
		created, err := time.Parse(time.RFC3339, got.created)
		if err != nil || created.Before(start.Truncate(time.Second)) || created.After(time.Now().Add(time.Second)) {
			t.Errorf("%s: created %q, want the time of the test", name, got.created)
		}
		if name == "ci" {
			exp, err := time.Parse(time.RFC3339, got.expires)
			if err != nil || exp.Sub(created) != time.Hour {
				t.Errorf("ci: expires %q, want an hour after it was created (%s)", got.expires, got.created)
			}
			w.expires = got.expires
		}
		w.created = got.created
		if got != w {
			t.Errorf("user list row\n got %+v\nwant %+v", got, w)
		}
	}

	// What is stored is the hashes, and they check.
	checkStored(t, backend, map[string]string{"alice": alicePassword, "bob": bobPassword, "ci": ciSecret})

	// Removing: each command its kind.
	fail(`"ci" is a robot, not a user`, "user", "rm", "ci")
	fail(`"alice" is a user, not a robot`, "token", "revoke", "alice")
	run("", "user", "rm", "alice")
	run("", "token", "revoke", "ci")
	fail(`no user "alice"`, "user", "rm", "alice")
	fail(`no robot "ci"`, "token", "revoke", "ci")
	rows = parseList(t, run("", "user", "list").stdout)
	if _, ok := rows["alice"]; ok || len(rows) != 2 || rows["bob"].kind != "user" || rows["deploy-bot@acme.example"].kind != "robot" {
		t.Errorf("after rm and revoke, user list has %v; want bob and deploy-bot@acme.example", rows)
	}

	// Bad input stores nothing.
	fail("only letters, digits", "user", "add", "bad/name")
	fail("want 1 to 128 characters", "token", "create", strings.Repeat("a", 129))
	fail(`bad repository pattern "Team/*"`, "user", "add", "carol", "--grant", "Team/*=pull")
	fail(`unknown action "write"`, "user", "add", "carol", "--grant", "team/*=pull,write")
	fail("want PATTERN=ACTIONS", "user", "add", "carol", "--grant", "team/*")
	fail("has no actions", "token", "create", "carol", "--grant", "team/*=")
	fail("want 1 argument(s), got 2", "user", "add", "carol", "dave")
	fail("want 1 argument(s), got 0", "token", "revoke")
	fail("--expires -1h0m0s is negative", "token", "create", "carol", "--expires", "-1h")
	fail(`unknown command "del"`, "user", "del", "bob")
	fail("flag provided but not defined: -expires", "user", "add", "carol", "--expires", "1h")
	if r := admin(t, backend, "", "user", "add", "carol", "--password-stdin"); r.err == nil || !strings.Contains(r.stderr, "no password on standard input") {
		t.Errorf("user add --password-stdin with nothing on stdin: %v %s", r.err, r.stderr)
	}
	if r := admin(t, backend, "one\ntwo\n", "user", "add", "carol", "--password-stdin"); r.err == nil || !strings.Contains(r.stderr, "more than one line") {
		t.Errorf("user add --password-stdin with two lines: %v %s", r.err, r.stderr)
	}
	if _, ok := parseList(t, run("", "user", "list").stdout)["carol"]; ok {
		t.Errorf("a failed user add stored carol")
	}

	// Nothing printed a password, a secret or a hash, except the one
	// time each was made.
	all := strings.Join(outputs, "\n")
	for what, s := range map[string]string{"alice's password": alicePassword, "ci's secret": ciSecret} {
		if n := strings.Count(all, s); n != 1 {
			t.Errorf("%s was printed %d times, want once (when made)", what, n)
		}
	}
	for what, s := range map[string]string{"bob's password": bobPassword, "ci's hash": auth.HashRobotSecret(ciSecret)} {
		if strings.Contains(all, s) {
			t.Errorf("%s was printed", what)
		}
	}
	if bcryptHash.MatchString(all) {
		t.Errorf("a bcrypt hash was printed")
	}
}

// checkStored opens the identities of backend in the test's process and
// checks that each login of creds checks against what is stored, and that
// a wrong one does not.
func checkStored(t *testing.T, backend []string, creds map[string]string) {
	t.Helper()
	cfg, err := config.Parse(flag.NewFlagSet("test", flag.ContinueOnError), backend, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ids, closeStore, err := server.OpenIdentities(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore()
	v := auth.NewVerifier(ids, auth.VerifierOptions{CacheTTL: -1})
	for name, password := range creds {
		id, err := v.Check(ctx, name, password)
		if err != nil {
			t.Errorf("%s cannot log in with what the command printed or read: %v", name, err)
			continue
		}
		stored, err := ids.Identity(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(stored.Secret, password) {
			t.Errorf("%s: the store holds the password itself", name)
		}
		switch id.Kind {
		case store.KindUser:
			if !bcryptHash.MatchString(stored.Secret) {
				t.Errorf("%s: stored secret is not a bcrypt hash", name)
			}
		case store.KindRobot:
			if stored.Secret != auth.HashRobotSecret(password) {
				t.Errorf("%s: stored secret is not the SHA-256 of the robot secret", name)
			}
		}
		if _, err := v.Check(ctx, name, password+"x"); !errors.Is(err, auth.ErrBadCredentials) {
			t.Errorf("%s logs in with a wrong password: %v", name, err)
		}
	}
}

// TestAdminLocalLocked: while `pier serve` has the local backend's
// database open, an admin command fails after the lock timeout saying to
// stop the server; once it has stopped, the command works.
func TestAdminLocalLocked(t *testing.T) {
	data := t.TempDir()
	backend := []string{"--data", data}
	s := startServer(t, data)
	began := time.Now()
	failAdmin(t, backend, "stop the server first", "user", "add", "alice", "--grant", "*=pull")
	if d := time.Since(began); d < 3*time.Second || d > 30*time.Second {
		t.Errorf("the locked command failed after %s: want the lock timeout (5 s)", d)
	}
	s.stop(t)
	mustAdmin(t, backend, "", "user", "add", "alice", "--grant", "*=pull")
	if rows := parseList(t, mustAdmin(t, backend, "", "user", "list").stdout); rows["alice"].kind != "user" {
		t.Errorf("user list after the server stopped: %v", rows)
	}
}

// TestAdminAWSNoTable: an admin command on an aws backend whose table
// does not exist yet says so and how to make it, not DynamoDB's error.
func TestAdminAWSNoTable(t *testing.T) {
	backend := slices.DeleteFunc(awsBackendFlags(t), func(f string) bool { return f == "--create-resources" })
	r := failAdmin(t, backend, "does not exist", "user", "add", "alice", "--grant", "*=pull")
	for _, want := range []string{"metadata", "--create-resources"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr %q does not say %q", r.stderr, want)
		}
	}
	if strings.Contains(r.stderr, "ResourceNotFoundException") || strings.Contains(r.stderr, "api error") {
		t.Errorf("stderr shows DynamoDB's error: %q", r.stderr)
	}
}

// TestAdminHelp checks that each admin command's -h lists exactly its own
// flags and the backend's, not the other flags of pier serve.
func TestAdminHelp(t *testing.T) {
	backend := []string{"backend", "bucket", "create-resources", "data", "table-prefix"}
	tests := []struct {
		args []string
		own  []string
	}{
		{[]string{"user", "add"}, []string{"grant", "password-stdin"}},
		{[]string{"user", "rm"}, nil},
		{[]string{"user", "list"}, nil},
		{[]string{"token", "create"}, []string{"expires", "grant"}},
		{[]string{"token", "revoke"}, nil},
	}
	flagLine := regexp.MustCompile(`(?m)^  -([a-z-]+)`)
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := admin(t, nil, "", append(tt.args, "-h")...)
			if r.err != nil {
				t.Fatalf("pier %s -h: %v\n%s", strings.Join(tt.args, " "), r.err, r.output())
			}
			var got []string
			for _, m := range flagLine.FindAllStringSubmatch(r.stderr, -1) {
				got = append(got, m[1])
			}
			want := slices.Sorted(slices.Values(append(slices.Clone(backend), tt.own...)))
			if !slices.Equal(got, want) {
				t.Errorf("pier %s -h lists flags %v, want %v\n%s", strings.Join(tt.args, " "), got, want, r.stderr)
			}
		})
	}
}
