package server

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/pier-registry/pier/internal/awsenv"
)

// loadOnce returns a loader of the AWS SDK's configuration that loads it
// with load (nil: awsenv.Load, as awsstore does) at its first call and
// gives every later call the same result, so that the stores and the
// token signing key (PIER_AUTH_SECRET) share one load at a process start.
func loadOnce(load func(context.Context) (aws.Config, error)) func(context.Context) (aws.Config, error) {
	if load == nil {
		load = awsenv.Load
	}
	var (
		once sync.Once
		cfg  aws.Config
		err  error
	)
	return func(ctx context.Context) (aws.Config, error) {
		once.Do(func() { cfg, err = load(ctx) })
		return cfg, err
	}
}
