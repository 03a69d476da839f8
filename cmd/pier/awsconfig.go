package main

import (
	"context"
	"flag"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/pier-registry/pier/internal/config"
)

// loadSDKConfig loads the AWS SDK's configuration by its full chain
// (config.LoadDefaultConfig: the environment, shared files and profiles,
// SSO, web identity, container and instance credentials), which `pier`
// uses wherever it reaches AWS. Pier's Lambda functions read the
// environment alone (internal/awsenv), which keeps the chain's code out of
// their cold start.
func loadSDKConfig(ctx context.Context) (aws.Config, error) {
	return awsconfig.LoadDefaultConfig(ctx)
}

// parseConfig is config.Parse with the SDK's full chain for the aws
// backend and PIER_AUTH_SECRET (cfg.LoadAWS).
func parseConfig(fs *flag.FlagSet, args []string, getenv func(string) string) (config.Config, error) {
	cfg, err := config.Parse(fs, args, getenv)
	cfg.LoadAWS = loadSDKConfig
	return cfg, err
}
