package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"

	"github.com/pier-registry/pier/internal/config"
)

// There is no CloudFormation server on this machine: these tests answer
// DescribeStacks from a loopback server, with bodies in the format of
// CloudFormation's query API (XML, as in the DescribeStacks and Common
// Errors pages of the API reference).

// describeStacksAnswer is the answer of DescribeStacks for a stack whose
// outputs are outputs.
func describeStacksAnswer(name, status string, outputs map[string]string) string {
	var b strings.Builder
	for k, v := range outputs {
		fmt.Fprintf(&b, `
          <member>
            <OutputKey>%s</OutputKey>
            <OutputValue>%s</OutputValue>
            <Description>Pier's %s</Description>
          </member>`, k, v, k)
	}
	return `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">
  <DescribeStacksResult>
    <Stacks>
      <member>
        <StackName>` + name + `</StackName>
        <StackId>arn:aws:cloudformation:eu-west-1:123456789012:stack/` + name + `/5b64b1a0-2f6d-11f0-9e2a-0a1b2c3d4e5f</StackId>
        <Description>Pier, a serverless OCI registry</Description>
        <CreationTime>2026-11-30T10:12:44.021Z</CreationTime>
        <StackStatus>` + status + `</StackStatus>
        <DisableRollback>false</DisableRollback>
        <Outputs>` + b.String() + `
        </Outputs>
      </member>
    </Stacks>
  </DescribeStacksResult>
  <ResponseMetadata>
    <RequestId>b9b4b068-3a41-11e5-94eb-example</RequestId>
  </ResponseMetadata>
</DescribeStacksResponse>`
}

// fakeCloudFormation answers DescribeStacks for the stacks it knows (name
// → body) and CloudFormation's ValidationError for the others; it counts
// the calls.
type fakeCloudFormation struct {
	*httptest.Server
	mu    sync.Mutex
	calls []string // Action StackName of each request
}

func startFakeCloudFormation(t *testing.T, stacks map[string]string) *fakeCloudFormation {
	t.Helper()
	f := &fakeCloudFormation{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		name := r.PostForm.Get("StackName")
		f.mu.Lock()
		f.calls = append(f.calls, r.Method+" "+r.PostForm.Get("Action")+" "+name)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		if body, ok := stacks[name]; ok && r.PostForm.Get("Action") == "DescribeStacks" {
			io.WriteString(w, body)
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">
  <Error>
    <Type>Sender</Type>
    <Code>ValidationError</Code>
    <Message>Stack with id `+name+` does not exist</Message>
  </Error>
  <RequestId>3f1b7c2e-0c55-4b0e-9a51-example</RequestId>
</ErrorResponse>`)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeCloudFormation) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// cloudFormationEnv points the SDK at f, with made-up credentials.
func cloudFormationEnv(f *fakeCloudFormation) []string {
	return []string{"AWS_ENDPOINT_URL_CLOUDFORMATION=" + f.URL, "AWS_REGION=eu-west-1",
		"AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=example"}
}

// pier serve --backend aws --stack NAME serves the stack's bucket and
// table: a blob pushed through it is found by a second server started
// with that bucket and table prefix; the stack is read with one
// DescribeStacks.
func TestServeStack(t *testing.T) {
	flags := awsBackendFlags(t) // --backend aws --bucket B --table-prefix P --create-resources
	bucket, prefix := flags[3], flags[5]
	cf := startFakeCloudFormation(t, map[string]string{
		"pier-ci": describeStacksAnswer("pier-ci", "UPDATE_COMPLETE", map[string]string{
			"RegistryUrl": "https://abc123.execute-api.eu-west-1.amazonaws.com",
			"BucketName":  bucket,
			"TableName":   prefix + "metadata",
		}),
	})
	// Only CloudFormation goes to the fake; S3 and DynamoDB stay local.
	t.Setenv("AWS_ENDPOINT_URL_CLOUDFORMATION", cf.URL)
	viaStack := startServer(t, t.TempDir(), "--backend", "aws", "--stack", "pier-ci", "--create-resources",
		"--auth", "token", "--auth-key-file", filepath.Join(t.TempDir(), "auth.key"))
	if got := cf.requests(); len(got) != 1 || got[0] != "POST DescribeStacks pier-ci" {
		t.Errorf("CloudFormation requests: %q; want one POST DescribeStacks pier-ci", got)
	}

	// A user made on the stack's table logs in to the server of the stack.
	mustAdmin(t, flags[:6], "s3cret-password\n", "user", "add", "ci", "--password-stdin", "--grant", "stack/*=pull,push")
	resp, body := do(t, http.MethodGet, viaStack.url("/v2/token?service=pier&scope=repository:stack/app:pull,push"),
		map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("ci:s3cret-password"))}, nil)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"token"`)) {
		t.Fatalf("token for the user of the stack's table: %s %s", resp.Status, body)
	}

	// A blob pushed through it is in the stack's bucket and table.
	direct := startServer(t, t.TempDir(), flags[:6]...)
	blob := make([]byte, 70<<10)
	rand.Read(blob)
	noAuth := startServer(t, t.TempDir(), "--backend", "aws", "--stack", "pier-ci", "--auth", "none", "--chunk-min-length", "0")
	d := pushChunked(t, noAuth, "stack/app", blob, 32<<10)
	if got := pullRedirected(t, direct, "stack/app", d); !bytes.Equal(got, blob) {
		t.Errorf("the blob pushed through --stack reads back from --bucket %s --table-prefix %s as %d bytes, want the %d pushed", bucket, prefix, len(got), len(blob))
	}
}

// pier serve --stack refuses to start, saying why, when the stack is
// missing or lacks an output that it needs.
func TestServeStackErrors(t *testing.T) {
	cf := startFakeCloudFormation(t, map[string]string{
		"no-table": describeStacksAnswer("no-table", "ROLLBACK_COMPLETE", map[string]string{"BucketName": "b"}),
		"odd-table": describeStacksAnswer("odd-table", "CREATE_COMPLETE", map[string]string{
			"BucketName": "b", "TableName": "registry-items"}),
		"no-key": describeStacksAnswer("no-key", "CREATE_COMPLETE", map[string]string{
			"BucketName": "b", "TableName": "no-key-metadata"}),
	})
	for _, tc := range []struct {
		stack string
		flags []string
		want  string
	}{
		{"pier-missing", nil, "stack pier-missing: operation error CloudFormation: DescribeStacks"},
		{"pier-missing", nil, "Stack with id pier-missing does not exist"},
		{"no-table", nil, "stack no-table (status ROLLBACK_COMPLETE) has no output TableName"},
		{"odd-table", nil, `output TableName is "registry-items", not a Pier table (<prefix>metadata)`},
		{"no-key", nil, "stack no-key has no output TokenSigningKey (the token signing key): give --auth-secret"},
	} {
		args := append([]string{"serve", "--addr", freeAddr(t), "--backend", "aws", "--stack", tc.stack}, tc.flags...)
		cmd := exec.Command(pierBinary(t), args...)
		cmd.Env = append(os.Environ(), cloudFormationEnv(cf)...)
		out, err := cmd.CombinedOutput()
		if _, ok := err.(*exec.ExitError); !ok || !strings.Contains(string(out), tc.want) {
			t.Errorf("pier %s: %v\n%s\nwant a failure saying %q", strings.Join(args, " "), err, out, tc.want)
		}
	}
}

// The stack's signing-key output becomes the server's secret, unless the
// command line names one.
func TestFromStackSigningKey(t *testing.T) {
	const arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:TokenSigningKey-AbC123"
	cf := startFakeCloudFormation(t, map[string]string{
		"pier-prod": describeStacksAnswer("pier-prod", "CREATE_COMPLETE", map[string]string{
			"BucketName": "pier-prod-bucket-1x2y3z", "TableName": "pier-prod-metadata", "TokenSigningKey": arn}),
	})
	client := cloudformation.New(cloudformation.Options{
		Region: "eu-west-1", BaseEndpoint: aws.String(cf.URL),
		Credentials: aws.AnonymousCredentials{},
	})
	for _, tc := range []struct{ given, want string }{{"", arn}, {"my-own-secret", "my-own-secret"}} {
		cfg := config.Config{Backend: "aws", Stack: "pier-prod", Auth: "token", TablePrefix: "pier-", AuthSecret: tc.given}
		got, err := fromStack(context.Background(), cfg, client, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if got.Bucket != "pier-prod-bucket-1x2y3z" || got.TablePrefix != "pier-prod-" || got.AuthSecret != tc.want {
			t.Errorf("given secret %q: bucket %q, table prefix %q, secret %q; want pier-prod-bucket-1x2y3z, pier-prod-, %q",
				tc.given, got.Bucket, got.TablePrefix, got.AuthSecret, tc.want)
		}
	}
}
