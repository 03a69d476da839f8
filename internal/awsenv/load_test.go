package awsenv_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/pier-registry/pier/internal/awsenv"
)

// lambdaEnv is what Lambda sets for a function.
var lambdaEnv = map[string]string{
	"AWS_REGION": "eu-west-3", "AWS_DEFAULT_REGION": "eu-west-3",
	"AWS_ACCESS_KEY_ID": "ASIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "token",
	"AWS_EXECUTION_ENV": "AWS_Lambda_provided.al2023", "AWS_LAMBDA_FUNCTION_NAME": "api",
}

// setEnv replaces every AWS_ variable of the process by env's (and points
// HOME at an empty directory: no shared file), until the test ends.
func setEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, "") // restored at the end
			os.Unsetenv(k)
		}
	}
	t.Setenv("HOME", t.TempDir())
	for k, v := range env {
		t.Setenv(k, v)
	}
}

// with returns lambdaEnv with more variables (an empty value unsets one).
func with(kv ...string) map[string]string {
	env := map[string]string{}
	for k, v := range lambdaEnv {
		env[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(env, kv[i])
			continue
		}
		env[kv[i]] = kv[i+1]
	}
	return env
}

// outcome is what a configuration makes of the environment: its own
// settings and those of the clients Pier builds from it.
type outcome struct {
	Region, AppID                            string
	BaseEndpoint                             string
	RetryMaxAttempts                         int
	RetryMode                                aws.RetryMode
	DefaultsMode                             aws.DefaultsMode
	RequestChecksum                          aws.RequestChecksumCalculation
	ResponseChecksum                         aws.ResponseChecksumValidation
	Credentials                              aws.Credentials
	S3Endpoint, DynamoDBEndpoint, SMEndpoint string
	S3MaxAttempts, DynamoDBMaxAttempts       int
	S3FIPS, DynamoDBFIPS                     aws.FIPSEndpointState
	S3DualStack                              aws.DualStackEndpointState
	HasLogger, HasHTTPClient                 bool
	RootCAs                                  int
	CredentialsCached                        bool
}

func outcomeOf(t *testing.T, cfg aws.Config) outcome {
	t.Helper()
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatalf("credentials: %v", err)
	}
	_, cached := cfg.Credentials.(*aws.CredentialsCache)
	s3o := s3.NewFromConfig(cfg).Options()
	ddbo := dynamodb.NewFromConfig(cfg).Options()
	smo := secretsmanager.NewFromConfig(cfg).Options()
	o := outcome{
		Region: cfg.Region, AppID: cfg.AppID, BaseEndpoint: str(cfg.BaseEndpoint),
		RetryMaxAttempts: cfg.RetryMaxAttempts, RetryMode: cfg.RetryMode, DefaultsMode: cfg.DefaultsMode,
		RequestChecksum: cfg.RequestChecksumCalculation, ResponseChecksum: cfg.ResponseChecksumValidation,
		Credentials: creds, CredentialsCached: cached,
		S3Endpoint: str(s3o.BaseEndpoint), DynamoDBEndpoint: str(ddbo.BaseEndpoint), SMEndpoint: str(smo.BaseEndpoint),
		S3MaxAttempts: s3o.Retryer.MaxAttempts(), DynamoDBMaxAttempts: ddbo.Retryer.MaxAttempts(),
		S3FIPS: s3o.EndpointOptions.UseFIPSEndpoint, DynamoDBFIPS: ddbo.EndpointOptions.UseFIPSEndpoint,
		S3DualStack:   s3o.EndpointOptions.UseDualStackEndpoint,
		HasLogger:     cfg.Logger != nil,
		HasHTTPClient: cfg.HTTPClient != nil,
	}
	if c, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok {
		tls := c.GetTransport().TLSClientConfig
		if tls != nil && tls.RootCAs != nil {
			o.RootCAs = len(tls.RootCAs.Subjects())
		}
	}
	return o
}

// str shows an optional string: "<nil>" when there is none.
func str(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// TestLoadLikeTheSDK checks that Load makes of each environment what
// config.LoadDefaultConfig makes of it.
func TestLoadLikeTheSDK(t *testing.T) {
	bundle := writeCABundle(t)
	tests := map[string]map[string]string{
		"lambda":                      lambdaEnv,
		"default region only":         with("AWS_REGION", "", "AWS_DEFAULT_REGION", "ap-south-1"),
		"no session token":            with("AWS_SESSION_TOKEN", ""),
		"old key names":               with("AWS_ACCESS_KEY_ID", "", "AWS_SECRET_ACCESS_KEY", "", "AWS_ACCESS_KEY", "AKIDOLD", "AWS_SECRET_KEY", "old"),
		"account id":                  with("AWS_ACCOUNT_ID", "123456789012"),
		"localstack":                  with("AWS_ENDPOINT_URL", "http://localhost:4566"),
		"local servers":               with("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:7070", "AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"),
		"service over general":        with("AWS_ENDPOINT_URL", "http://localhost:4566", "AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:9000"),
		"ignored endpoints":           with("AWS_ENDPOINT_URL", "http://localhost:4566", "AWS_ENDPOINT_URL_S3", "http://127.0.0.1:7070", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
		"endpoints not ignored":       with("AWS_ENDPOINT_URL", "http://localhost:4566", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "FALSE"),
		"retries":                     with("AWS_MAX_ATTEMPTS", "7", "AWS_RETRY_MODE", "adaptive"),
		"standard retries":            with("AWS_RETRY_MODE", "standard"),
		"ca bundle":                   with("AWS_CA_BUNDLE", bundle),
		"fips":                        with("AWS_USE_FIPS_ENDPOINT", "true"),
		"no fips":                     with("AWS_USE_FIPS_ENDPOINT", "false"),
		"dual stack":                  with("AWS_USE_DUALSTACK_ENDPOINT", "True"),
		"checksums when required":     with("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required", "AWS_RESPONSE_CHECKSUM_VALIDATION", "WHEN_REQUIRED"),
		"checksums when supported":    with("AWS_REQUEST_CHECKSUM_CALCULATION", "when_supported", "AWS_RESPONSE_CHECKSUM_VALIDATION", "when_supported"),
		"app id":                      with("AWS_SDK_UA_APP_ID", "pier"),
		"metadata service settings":   with("AWS_EC2_METADATA_DISABLED", "true", "AWS_EC2_METADATA_V1_DISABLED", "true"),
		"web identity under env keys": with("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent", "AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/x"),
		"container under env keys":    with("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/creds", "AWS_CONTAINER_AUTHORIZATION_TOKEN", "x"),
	}
	for name, env := range tests {
		t.Run(name, func(t *testing.T) {
			setEnv(t, env)
			sdk, err := config.LoadDefaultConfig(context.Background())
			if err != nil {
				t.Fatalf("config.LoadDefaultConfig: %v", err)
			}
			got, err := awsenv.Load(context.Background())
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if g, w := outcomeOf(t, got), outcomeOf(t, sdk); !reflect.DeepEqual(g, w) {
				t.Errorf("Load made\n%+v\nof the environment, config.LoadDefaultConfig\n%+v", g, w)
			}
		})
	}
}

// TestLoadErrors checks that Load fails where config.LoadDefaultConfig
// fails on a bad value, and on what it does not read.
func TestLoadErrors(t *testing.T) {
	bad := map[string]map[string]string{
		"max attempts":      with("AWS_MAX_ATTEMPTS", "many"),
		"retry mode":        with("AWS_RETRY_MODE", "eager"),
		"fips":              with("AWS_USE_FIPS_ENDPOINT", "yes"),
		"dual stack":        with("AWS_USE_DUALSTACK_ENDPOINT", "1"),
		"ignore endpoints":  with("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "on"),
		"request checksum":  with("AWS_REQUEST_CHECKSUM_CALCULATION", "always"),
		"response checksum": with("AWS_RESPONSE_CHECKSUM_VALIDATION", "never"),
		"ca bundle":         with("AWS_CA_BUNDLE", "/nonexistent/bundle.pem"),
	}
	for name, env := range bad {
		t.Run(name, func(t *testing.T) {
			setEnv(t, env)
			if _, err := config.LoadDefaultConfig(context.Background()); err == nil {
				t.Fatal("config.LoadDefaultConfig took the value")
			}
			if _, err := awsenv.Load(context.Background()); err == nil {
				t.Error("Load took the value")
			}
		})
	}
	for _, k := range awsenv.Unsupported {
		t.Run(k, func(t *testing.T) {
			setEnv(t, with(k, "x"))
			if _, err := awsenv.Load(context.Background()); err == nil || !strings.Contains(err.Error(), k) {
				t.Errorf("Load with %s set: error %v, want one that names it", k, err)
			}
		})
	}
	t.Run("no credentials", func(t *testing.T) {
		setEnv(t, with("AWS_ACCESS_KEY_ID", "", "AWS_SECRET_ACCESS_KEY", "", "AWS_SESSION_TOKEN", ""))
		if _, err := awsenv.Load(context.Background()); err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
			t.Errorf("Load without credentials: error %v, want one that names AWS_ACCESS_KEY_ID", err)
		}
	})
}

// writeCABundle writes a PEM file of one self-signed certificate.
func writeCABundle(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "awsenv test"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bundle.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
