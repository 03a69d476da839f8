package awsstore

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// MinSecretLength is the fewest bytes of key that ReadSecret returns: the
// shortest signing key internal/auth takes (auth.MinKeyLength).
const MinSecretLength = 32

// ReadSecret returns the key held by the AWS Secrets Manager secret id (its
// name or ARN; its current version), for the token signing key that the
// template creates. It loads the SDK's configuration with load as
// NewClients does with Config.LoadAWS (nil: awsenv.Load; AWS_REGION,
// AWS_ENDPOINT_URL_SECRETS_MANAGER, ...), sends one
// GetSecretValue, counted in the context's store.Requests as
// secretsmanager.GetSecretValue, and is meant to be called once, at a
// cold start.
//
// The secret must be a SecretString (not SecretBinary). Surrounding white
// space is trimmed, then:
//
//   - when the string is standard base64 (padded or not) of at least 32
//     bytes, the key is the decoded bytes;
//   - otherwise the key is the string's own bytes, which must be at least
//     32 of them.
//
// The template's secret (64 letters and digits, made by Secrets Manager)
// is valid unpadded base64, so its key is the 48 bytes it decodes to: the
// same 384 bits, and the same key at every cold start. A key of 32
// random bytes written as base64 (openssl rand -base64 32) works as
// well as a long random string.
func ReadSecret(ctx context.Context, load func(context.Context) (aws.Config, error), id string) ([]byte, error) {
	if id == "" {
		return nil, errors.New("no secret id")
	}
	awsCfg, err := loadAWS(ctx, load)
	if err != nil {
		return nil, err
	}
	c := secretsmanager.NewFromConfig(awsCfg, func(o *secretsmanager.Options) {
		o.APIOptions = append(o.APIOptions, countRequests("secretsmanager"))
	})
	out, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		return nil, fmt.Errorf("read secret %s: %w", id, err)
	}
	if out.SecretString == nil {
		return nil, fmt.Errorf("secret %s has no SecretString (a binary secret is not read)", id)
	}
	key, err := secretKey(*out.SecretString)
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", id, err)
	}
	return key, nil
}

// secretKey returns the key that the secret string s stands for (see
// ReadSecret). Its errors never quote s.
func secretKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding} {
		if b, err := enc.Strict().DecodeString(s); err == nil && len(b) >= MinSecretLength {
			return b, nil
		}
	}
	if len(s) < MinSecretLength {
		return nil, fmt.Errorf("key too short: %d bytes, want base64 of at least %d bytes or a string of at least %d", len(s), MinSecretLength, MinSecretLength)
	}
	return []byte(s), nil
}
