//go:build !blobsonly

package awsstore

import (
	"context"
	"fmt"
)

// Open returns the blob and metadata stores of cfg, creating the bucket
// and the table first when cfg.CreateResources is set.
func Open(ctx context.Context, cfg Config) (*Blobs, *Metadata, error) {
	if cfg.Bucket == "" {
		return nil, nil, fmt.Errorf("the aws backend needs a bucket (PIER_BUCKET)")
	}
	c, err := NewClients(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	blobs := NewBlobs(c.S3, cfg.Bucket, BlobsOptions{
		PresignTTL: cfg.PresignTTL, CopyBudget: cfg.CopyBudget, NoBackgroundCopy: cfg.NoBackgroundCopy,
		PartURLTTL: cfg.PartURLTTL, PartsInMultipart: cfg.SignedUploadStates, Metrics: cfg.Metrics,
	})
	meta := NewMetadata(c.DynamoDB, TableName(cfg.TablePrefix))
	if cfg.CreateResources {
		if err := blobs.CreateBucket(ctx); err != nil {
			return nil, nil, err
		}
		if err := meta.CreateTable(ctx); err != nil {
			return nil, nil, err
		}
	}
	return blobs, meta, nil
}

// TableName is the name of the metadata table for prefix.
func TableName(prefix string) string { return prefix + "metadata" }
