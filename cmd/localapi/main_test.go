package main

import (
	"io"
	"os/exec"
	"strings"
	"testing"
)

// TestNotInDeployedBinaries checks that the local front door stays a
// development tool: neither the pier binary nor a Lambda function links
// internal/localapi.
func TestNotInDeployedBinaries(t *testing.T) {
	const pkg = "github.com/pier-registry/pier/internal/localapi"
	for _, target := range []string{"../pier", "../../functions/..."} {
		out, err := exec.Command("go", "list", "-deps", target).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", target, err, out)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 10 {
			t.Fatalf("go list -deps %s lists %d packages: %q", target, len(deps), deps)
		}
		for _, d := range deps {
			if d == pkg {
				t.Errorf("%s depends on %s", target, pkg)
			}
		}
	}
	// And this command does link it: the test would catch the package
	// being renamed.
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil || !strings.Contains(string(out), pkg+"\n") {
		t.Errorf("go list -deps ./cmd/localapi does not list %s: %v\n%s", pkg, err, out)
	}
}

// TestFlags checks the errors of bad flags, before anything listens.
func TestFlags(t *testing.T) {
	env := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no invoke", nil, nil, "--invoke is required"},
		{"bad kind", []string{"--kind", "grpc", "--invoke", "http://127.0.0.1:1/"}, nil, `--kind "grpc": want http, rest or url`},
		{"bad kind from env", []string{"--invoke", "http://127.0.0.1:1/"}, map[string]string{"PIER_LOCAL_API_KIND": "soap"}, `--kind "soap"`},
		{"bad upload origin", []string{"--invoke", "http://127.0.0.1:1/", "--upload-origin", "ftp://x"}, nil, "--upload-origin: upload origin ftp://x"},
		{"bad upload origin from env", []string{"--invoke", "http://127.0.0.1:1/"}, map[string]string{"PIER_LOCAL_API_UPLOAD_ORIGIN": "x:y:z"}, "--upload-origin"},
		{"unknown flag", []string{"--port", "1"}, nil, "flag provided but not defined: -port"},
		{"bad address", []string{"--invoke", "http://127.0.0.1:1/", "--addr", "256.0.0.1:1"}, nil, "256.0.0.1"},
	}
	for _, tt := range tests {
		err := run(tt.args, env(tt.env), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: localapi %s: %v, want an error with %q", tt.name, strings.Join(tt.args, " "), err, tt.want)
		}
	}
}
