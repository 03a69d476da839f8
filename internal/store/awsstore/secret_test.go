package awsstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pier-registry/pier/internal/store"
)

// None of the local AWS stand-ins (DynamoDB Local, versitygw) serves
// Secrets Manager, so ReadSecret is not tested against a real server:
// TestSecretKey tests how the secret string becomes a key, and
// TestReadSecretFake sends ReadSecret's one request to a fake that
// answers GetSecretValue from a map, which checks the SDK wiring, the
// request count and the errors, not Secrets Manager itself.

func TestSecretKey(t *testing.T) {
	random32 := bytes.Repeat([]byte{0xa5}, 32)
	random48 := bytes.Repeat([]byte{0x5a, 0xff, 0x01}, 16)
	long := strings.Repeat("k", 40) + "!" // not base64: taken as is
	for _, tt := range []struct {
		name, secret string
		want         []byte // nil: an error
	}{
		{"base64 of 32 bytes", base64.StdEncoding.EncodeToString(random32), random32},
		{"unpadded base64 of 32 bytes", base64.RawStdEncoding.EncodeToString(random32), random32},
		{"base64 with a newline", base64.StdEncoding.EncodeToString(random32) + "\n", random32},
		{"template's secret: 64 letters and digits", strings.Repeat("Ab3d", 16), mustDecode(t, strings.Repeat("Ab3d", 16))},
		{"base64 of 48 bytes", base64.StdEncoding.EncodeToString(random48), random48},
		{"raw string of 41 bytes", long, []byte(long)},
		{"raw string of exactly 32 bytes", strings.Repeat("-", 32), []byte(strings.Repeat("-", 32))},
		// base64 of fewer than 32 bytes, but a long enough string: the
		// string itself.
		{"base64 of 30 bytes is a 40-byte string", base64.StdEncoding.EncodeToString(random32[:30]), []byte(base64.StdEncoding.EncodeToString(random32[:30]))},
		{"too short", "short-secret", nil},
		{"base64 of 16 bytes (24 characters)", base64.StdEncoding.EncodeToString(random32[:16]), nil},
		{"empty", "", nil},
		{"white space", "   \n", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := secretKey(tt.secret)
			if tt.want == nil {
				if err == nil {
					t.Fatalf("secretKey(%q) = %x, want an error", tt.secret, got)
				}
				if tt.secret != "" && strings.TrimSpace(tt.secret) != "" && strings.Contains(err.Error(), tt.secret) {
					t.Errorf("the error %q quotes the secret", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("secretKey(%q): %v", tt.secret, err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("secretKey(%q) = %x, want %x", tt.secret, got, tt.want)
			}
			if len(got) < MinSecretLength {
				t.Errorf("key of %d bytes", len(got))
			}
		})
	}
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReadSecretFake runs ReadSecret against a fake GetSecretValue (see
// above).
func TestReadSecretFake(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	secrets := map[string]map[string]any{
		"arn:aws:secretsmanager:us-east-1:000000000000:secret:pier-key-AbCdEf": {"SecretString": base64.StdEncoding.EncodeToString(key)},
		"short":  {"SecretString": "tiny"},
		"binary": {"SecretBinary": base64.StdEncoding.EncodeToString(key)},
	}
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := r.Header.Get("X-Amz-Target")
		body, _ := io.ReadAll(r.Body)
		var in struct{ SecretId string }
		json.Unmarshal(body, &in)
		asked = append(asked, target+" "+in.SecretId)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		s, ok := secrets[in.SecretId]
		if target != "secretsmanager.GetSecretValue" || !ok {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{
				"__type":  "ResourceNotFoundException",
				"message": "Secrets Manager can't find the specified secret.",
			})
			return
		}
		out := map[string]any{"ARN": in.SecretId, "Name": in.SecretId, "VersionId": "v1"}
		for k, v := range s {
			out[k] = v
		}
		json.NewEncoder(w).Encode(out)
	}))
	defer srv.Close()
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", srv.URL)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_SESSION_TOKEN", "")
	// ReadSecret loads the configuration as a Lambda function does
	// (awsenv.Load), which reads no shared file and refuses the variables
	// that name one.
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", "")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "")
	t.Setenv("AWS_MAX_ATTEMPTS", "1")

	ctx, reqs := store.WithRequests(context.Background())
	arn := "arn:aws:secretsmanager:us-east-1:000000000000:secret:pier-key-AbCdEf"
	got, err := ReadSecret(ctx, nil, arn)
	if err != nil {
		t.Fatalf("ReadSecret: %v", err)
	}
	if !bytes.Equal(got, key) {
		t.Errorf("key %x, want %x", got, key)
	}
	if c := reqs.Counts(); len(c) != 1 || c["secretsmanager.GetSecretValue"] != 1 {
		t.Errorf("requests %v, want one secretsmanager.GetSecretValue", c)
	}
	if len(asked) != 1 || asked[0] != "secretsmanager.GetSecretValue "+arn {
		t.Errorf("the fake was asked %q", asked)
	}

	for _, id := range []string{"short", "binary", "missing", ""} {
		if key, err := ReadSecret(context.Background(), nil, id); err == nil {
			t.Errorf("ReadSecret(%q) = %x, want an error", id, key)
		} else {
			t.Logf("ReadSecret(%q): %v", id, err)
		}
	}
}
