package awsenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go/logging"
)

// Unsupported are the SDK's variables that change what
// config.LoadDefaultConfig returns and that Load does not read: Load
// fails when one is set.
var Unsupported = []string{
	"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
	"AWS_DEFAULTS_MODE", "AWS_ENABLE_ENDPOINT_DISCOVERY", "AWS_ACCOUNT_ID_ENDPOINT_MODE",
	"AWS_S3_USE_ARN_REGION", "AWS_S3_DISABLE_MULTIREGION_ACCESS_POINTS", "AWS_S3_DISABLE_EXPRESS_SESSION_AUTH",
	"AWS_DISABLE_REQUEST_COMPRESSION", "AWS_REQUEST_MIN_COMPRESSION_SIZE_BYTES",
	"AWS_DISABLE_CLOCK_SKEW_CORRECTION", "AWS_AUTH_SCHEME_PREFERENCE",
}

// Load returns the SDK's configuration from the process's environment
// (see the package documentation). ctx is unused: Load reads a file at
// most (AWS_CA_BUNDLE) and sends no request.
func Load(context.Context) (aws.Config, error) {
	for _, k := range Unsupported {
		if os.Getenv(k) != "" {
			return aws.Config{}, fmt.Errorf("%s is set: Pier's Lambda functions read the AWS SDK's settings from the environment alone and do not support it (see internal/awsenv)", k)
		}
	}
	var s source
	var err error
	cfg := aws.Config{
		// What config.LoadDefaultConfig sets whatever the environment.
		Logger:       logging.NewStandardLogger(os.Stderr),
		DefaultsMode: aws.DefaultsModeLegacy,
		Region:       first("AWS_REGION", "AWS_DEFAULT_REGION"),
		AppID:        os.Getenv("AWS_SDK_UA_APP_ID"),
		// config.LoadDefaultConfig's defaults of the checksum settings.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported,
	}
	if cfg.Credentials, err = envCredentials(); err != nil {
		return aws.Config{}, err
	}
	if s.ignoreEndpoints, err = boolVar("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"); err != nil {
		return aws.Config{}, err
	}
	if v := os.Getenv("AWS_ENDPOINT_URL"); v != "" && (s.ignoreEndpoints == nil || !*s.ignoreEndpoints) {
		cfg.BaseEndpoint = aws.String(v)
	}
	if v := os.Getenv("AWS_MAX_ATTEMPTS"); v != "" {
		if cfg.RetryMaxAttempts, err = strconv.Atoi(v); err != nil {
			return aws.Config{}, fmt.Errorf("AWS_MAX_ATTEMPTS=%s: %w", v, err)
		}
	}
	if v := os.Getenv("AWS_RETRY_MODE"); v != "" {
		if cfg.RetryMode, err = aws.ParseRetryMode(v); err != nil {
			return aws.Config{}, fmt.Errorf("AWS_RETRY_MODE: %w", err)
		}
	}
	if v := os.Getenv("AWS_CA_BUNDLE"); v != "" {
		if cfg.HTTPClient, err = caBundleClient(v); err != nil {
			return aws.Config{}, err
		}
	}
	if s.fips, err = boolVar("AWS_USE_FIPS_ENDPOINT"); err != nil {
		return aws.Config{}, err
	}
	if s.dualStack, err = boolVar("AWS_USE_DUALSTACK_ENDPOINT"); err != nil {
		return aws.Config{}, err
	}
	if v, ok, err := whenVar("AWS_REQUEST_CHECKSUM_CALCULATION"); err != nil {
		return aws.Config{}, err
	} else if ok {
		cfg.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		if v {
			cfg.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenSupported
		}
	}
	if v, ok, err := whenVar("AWS_RESPONSE_CHECKSUM_VALIDATION"); err != nil {
		return aws.Config{}, err
	} else if ok {
		cfg.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		if v {
			cfg.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenSupported
		}
	}
	cfg.ConfigSources = []any{s}
	return cfg, nil
}

// envCredentials returns the credentials of the environment in the cache
// config.LoadDefaultConfig puts them in.
func envCredentials() (aws.CredentialsProvider, error) {
	creds := aws.Credentials{
		AccessKeyID:     first("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY"),
		SecretAccessKey: first("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY"),
		SessionToken:    os.Getenv("AWS_SESSION_TOKEN"),
		AccountID:       os.Getenv("AWS_ACCOUNT_ID"),
		Source:          "EnvConfigCredentials", // config.CredentialsSourceName
	}
	if !creds.HasKeys() {
		return nil, errors.New("no AWS credentials in the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, which Lambda sets): Pier's Lambda functions read no other source (see internal/awsenv)")
	}
	return aws.NewCredentialsCache(credentials.StaticCredentialsProvider{
		Value:  creds,
		Source: []aws.CredentialSource{aws.CredentialSourceEnvVars},
	}), nil
}

// caBundleClient returns the SDK's HTTP client trusting the certificates
// of the PEM file path as well. As with the SDK, only an unreadable file is
// an error.
func caBundleClient(path string) (aws.HTTPClient, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("AWS_CA_BUNDLE: %w", err)
	}
	return awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{}
		}
		if tr.TLSClientConfig.RootCAs == nil {
			tr.TLSClientConfig.RootCAs = x509.NewCertPool()
		}
		tr.TLSClientConfig.RootCAs.AppendCertsFromPEM(pem)
	}), nil
}

// source answers the questions that the service clients ask their
// configuration's sources (cfg.ConfigSources), as the SDK's EnvConfig
// does.
type source struct {
	ignoreEndpoints, fips, dualStack *bool
}

// GetIgnoreConfiguredEndpoints reports AWS_IGNORE_CONFIGURED_ENDPOINT_URLS.
func (s source) GetIgnoreConfiguredEndpoints(context.Context) (bool, bool, error) {
	if s.ignoreEndpoints == nil {
		return false, false, nil
	}
	return *s.ignoreEndpoints, true, nil
}

// GetServiceBaseEndpoint returns AWS_ENDPOINT_URL_<SERVICE> of the
// service sdkID ("Secrets Manager": AWS_ENDPOINT_URL_SECRETS_MANAGER).
func (s source) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	v := os.Getenv("AWS_ENDPOINT_URL_" + strings.ReplaceAll(strings.ToUpper(sdkID), " ", "_"))
	return v, v != "", nil
}

// GetUseFIPSEndpoint reports AWS_USE_FIPS_ENDPOINT.
func (s source) GetUseFIPSEndpoint(context.Context) (aws.FIPSEndpointState, bool, error) {
	switch {
	case s.fips == nil:
		return aws.FIPSEndpointStateUnset, false, nil
	case *s.fips:
		return aws.FIPSEndpointStateEnabled, true, nil
	default:
		return aws.FIPSEndpointStateDisabled, true, nil
	}
}

// GetUseDualStackEndpoint reports AWS_USE_DUALSTACK_ENDPOINT.
func (s source) GetUseDualStackEndpoint(context.Context) (aws.DualStackEndpointState, bool, error) {
	switch {
	case s.dualStack == nil:
		return aws.DualStackEndpointStateUnset, false, nil
	case *s.dualStack:
		return aws.DualStackEndpointStateEnabled, true, nil
	default:
		return aws.DualStackEndpointStateDisabled, true, nil
	}
}

// first returns the first of the variables keys that is set.
func first(keys ...string) string {
	for _, k := range keys {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return ""
}

// boolVar parses the variable key as true or false (any case); nil when
// it is not set.
func boolVar(key string) (*bool, error) {
	v := os.Getenv(key)
	switch {
	case v == "":
		return nil, nil
	case strings.EqualFold(v, "true"):
		return aws.Bool(true), nil
	case strings.EqualFold(v, "false"):
		return aws.Bool(false), nil
	}
	return nil, fmt.Errorf("%s=%s: want true or false", key, v)
}

// whenVar parses the variable key as when_supported (true) or
// when_required (false), in any case; ok is false when it is not set.
func whenVar(key string) (supported, ok bool, err error) {
	switch v := strings.ToLower(os.Getenv(key)); v {
	case "":
		return false, false, nil
	case "when_supported":
		return true, true, nil
	case "when_required":
		return false, true, nil
	}
	return false, false, fmt.Errorf("%s=%s: want when_supported or when_required", key, os.Getenv(key))
}
