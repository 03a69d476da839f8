package server

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

func TestLoadOnce(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
	}{
		{"loaded", nil},
		{"failed", errors.New("no region")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			load := loadOnce(func(context.Context) (aws.Config, error) {
				calls++
				return aws.Config{Region: "eu-west-1"}, tt.err
			})
			for range 3 {
				cfg, err := load(context.Background())
				if cfg.Region != "eu-west-1" || !errors.Is(err, tt.err) {
					t.Errorf("load: region %q, error %v; want eu-west-1, %v", cfg.Region, err, tt.err)
				}
			}
			if calls != 1 {
				t.Errorf("3 loads called the SDK's load %d times, want 1", calls)
			}
		})
	}
}
