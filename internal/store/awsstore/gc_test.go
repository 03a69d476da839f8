package awsstore_test

import (
	"testing"

	"github.com/pier-registry/pier/internal/store"
	"github.com/pier-registry/pier/internal/store/awsstore"
	"github.com/pier-registry/pier/internal/store/storetest"
)

func TestGCMetadataContract(t *testing.T) {
	storetest.TestGCMetadata(t, func(t *testing.T) store.Metadata {
		return newMetadata(t)
	})
}

func TestGCBlobsContract(t *testing.T) {
	storetest.TestGCBlobs(t, func(t *testing.T) store.Blobs {
		b, _, _ := newBlobs(t, awsstore.BlobsOptions{})
		return b
	})
}

func TestPoliciesContract(t *testing.T) {
	storetest.TestPolicies(t, func(t *testing.T) store.Metadata {
		return newMetadata(t)
	})
}

func TestRetentionContract(t *testing.T) {
	storetest.TestRetention(t, func(t *testing.T) store.Metadata {
		return newMetadata(t)
	})
}
