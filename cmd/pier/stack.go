package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"

	"github.com/pier-registry/pier/internal/config"
	"github.com/pier-registry/pier/internal/store/awsstore"
)

// The outputs of a Pier stack (template.yaml) that `pier serve --stack`
// reads.
const (
	// outputBucket is the S3 bucket of blobs and uploads.
	outputBucket = "BucketName"
	// outputTable is the DynamoDB table, <prefix>metadata.
	outputTable = "TableName"
	// outputSigningKey is the Secrets Manager secret (its ARN) of the
	// token signing key. Optional: without it, the server signs with a
	// key of its own (--auth-key-file).
	outputSigningKey = "TokenSigningKey"
)

// stackDescriber is the one CloudFormation call that --stack makes.
type stackDescriber interface {
	DescribeStacks(context.Context, *cloudformation.DescribeStacksInput, ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error)
}

// newStackDescriber is a CloudFormation client of the SDK's own settings
// (AWS_REGION, credentials, AWS_ENDPOINT_URL_CLOUDFORMATION, ...).
func newStackDescriber(ctx context.Context) (stackDescriber, error) {
	awsCfg, err := loadSDKConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	return cloudformation.NewFromConfig(awsCfg), nil
}

// fromStack returns cfg with the bucket, table prefix and (when the stack
// has the output, and cfg names no secret) token signing key of the stack
// cfg.Stack, read with one DescribeStacks. A missing stack, or one without
// the outputs, is an error that says which.
func fromStack(ctx context.Context, cfg config.Config, cf stackDescriber, log *slog.Logger) (config.Config, error) {
	out, err := cf.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(cfg.Stack)})
	if err != nil {
		return cfg, fmt.Errorf("stack %s: %w", cfg.Stack, err)
	}
	if len(out.Stacks) != 1 {
		return cfg, fmt.Errorf("stack %s: CloudFormation described %d stacks, want 1", cfg.Stack, len(out.Stacks))
	}
	st := out.Stacks[0]
	outputs := map[string]string{}
	for _, o := range st.Outputs {
		outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	var missing []string
	for _, k := range []string{outputBucket, outputTable} {
		if outputs[k] == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return cfg, fmt.Errorf("stack %s (status %s) has no output %s: is it a Pier stack (template.yaml), fully deployed?",
			cfg.Stack, st.StackStatus, strings.Join(missing, ", "))
	}
	prefix, ok := strings.CutSuffix(outputs[outputTable], awsstore.TableName(""))
	if !ok {
		return cfg, fmt.Errorf("stack %s: output %s is %q, not a Pier table (<prefix>%s)", cfg.Stack, outputTable, outputs[outputTable], awsstore.TableName(""))
	}
	cfg.Bucket, cfg.TablePrefix = outputs[outputBucket], prefix
	if cfg.AuthSecret == "" && outputs[outputSigningKey] != "" {
		cfg.AuthSecret = outputs[outputSigningKey]
	}
	if cfg.Auth == "token" && cfg.AuthSecret == "" && cfg.AuthKeyFile == "" {
		return cfg, fmt.Errorf("stack %s has no output %s (the token signing key): give --auth-secret with the ARN of the stack's TokenSigningKey secret, or --auth-key-file for a key of this server's own",
			cfg.Stack, outputSigningKey)
	}
	log.Info("stack", "stack", cfg.Stack, "status", st.StackStatus, "bucket", cfg.Bucket, "table_prefix", cfg.TablePrefix, "auth_secret", cfg.AuthSecret)
	return cfg, nil
}
