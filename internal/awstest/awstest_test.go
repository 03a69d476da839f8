package awstest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestRequire runs a test that calls Require in a child process, under
// each environment, and checks what the child's test did.
func TestRequire(t *testing.T) {
	if os.Getenv("AWSTEST_CHILD") == "1" {
		Require(t)
		t.Log("ran")
		return
	}
	cases := []struct {
		name string
		env  []string
		want string // in the child's -v output
		fail bool
	}{
		{name: "no servers", want: "--- SKIP", env: nil},
		{name: "no servers, required", env: []string{RequireEnv + "=1"}, want: "--- FAIL", fail: true},
		{name: "S3 only, required", env: []string{RequireEnv + "=1", "AWS_ENDPOINT_URL_S3=http://127.0.0.1:1"}, want: "--- FAIL", fail: true},
		{name: "servers", env: []string{"AWS_ENDPOINT_URL_S3=http://127.0.0.1:1", "AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:2"}, want: "ran"},
		{name: "servers, required", env: []string{RequireEnv + "=1", "AWS_ENDPOINT_URL=http://127.0.0.1:1"}, want: "ran"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestRequire$", "-test.v")
			env := []string{"AWSTEST_CHILD=1"}
			for _, kv := range os.Environ() {
				k, _, _ := strings.Cut(kv, "=")
				if k != RequireEnv && !strings.HasPrefix(k, "AWS_ENDPOINT_URL") {
					env = append(env, kv)
				}
			}
			cmd.Env = append(env, c.env...)
			out, err := cmd.CombinedOutput()
			if (err != nil) != c.fail {
				t.Errorf("child failed: %v, want failure %v\n%s", err, c.fail, out)
			}
			if !strings.Contains(string(out), c.want) {
				t.Errorf("child output lacks %q:\n%s", c.want, out)
			}
			if !c.fail && c.want == "--- SKIP" && !strings.Contains(string(out), "scripts/with-local-aws.sh") {
				t.Errorf("skip message does not say how to run the test:\n%s", out)
			}
		})
	}
}
