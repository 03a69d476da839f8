// Package awstest decides, for the tests that need the local AWS servers
// (DynamoDB Local and versitygw, started by scripts/local-aws.sh), whether
// they run, skip or fail: a plain `go test ./...` on a machine without the
// servers skips them with a message that says how to run them, and a run
// that must not skip them (scripts/with-local-aws.sh, and so every make
// target that starts the servers, sets PIER_REQUIRE_LOCAL_AWS=1) fails
// instead.
package awstest

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"testing"
)

// RequireEnv is the variable that turns a skip into a failure when set
// to 1.
const RequireEnv = "PIER_REQUIRE_LOCAL_AWS"

// Running reports whether the environment names the local S3 and DynamoDB
// servers: the env file of scripts/local-aws.sh sets AWS_ENDPOINT_URL_S3
// and AWS_ENDPOINT_URL_DYNAMODB (AWS_ENDPOINT_URL names one endpoint for
// every service).
func Running() bool {
	if os.Getenv("AWS_ENDPOINT_URL") != "" {
		return true
	}
	return os.Getenv("AWS_ENDPOINT_URL_S3") != "" && os.Getenv("AWS_ENDPOINT_URL_DYNAMODB") != ""
}

// Require lets t go on when the local AWS servers run. Otherwise it skips
// t, or fails it when PIER_REQUIRE_LOCAL_AWS=1.
func Require(t testing.TB) {
	t.Helper()
	if Running() {
		return
	}
	const how = "no local AWS servers (AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL_DYNAMODB are unset): run the test under scripts/with-local-aws.sh"
	if os.Getenv(RequireEnv) == "1" {
		t.Fatal(how + " (" + RequireEnv + "=1 forbids skipping)")
	}
	t.Skip(how)
}

// PutURL sends body to a presigned S3 URL with header (the headers signed
// with the URL), as a client does, and returns S3's status.
func PutURL(t testing.TB, url string, header http.Header, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PUT to a presigned URL: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
