package awsstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

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
	for _, inMPU := range []bool{false, true} {
		t.Run(fmt.Sprintf("parts in multipart %v", inMPU), func(t *testing.T) {
			storetest.TestGCBlobs(t, func(t *testing.T) store.Blobs {
				b, _, _ := newBlobs(t, awsstore.BlobsOptions{PartsInMultipart: inMPU})
				return b
			})
		})
	}
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

func TestRetentionLegacyContract(t *testing.T) {
	storetest.TestRetentionLegacy(t, func(t *testing.T) (store.Metadata, func() store.Metadata) {
		m := newMetadata(t)
		forget := func() store.Metadata {
			// What an older Pier wrote: no pushed or linked attributes.
			ctx := context.Background()
			c, err := awsstore.NewClients(ctx, awsstore.Config{})
			if err != nil {
				t.Fatal(err)
			}
			out, err := c.DynamoDB.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(m.Table()), ConsistentRead: aws.Bool(true)})
			if err != nil {
				t.Fatal(err)
			}
			for _, item := range out.Items {
				_, pushed := item["pushed"]
				_, linked := item["linked"]
				if !pushed && !linked {
					continue
				}
				_, err := c.DynamoDB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
					TableName:        aws.String(m.Table()),
					Key:              map[string]ddbtypes.AttributeValue{"pk": item["pk"], "sk": item["sk"]},
					UpdateExpression: aws.String("REMOVE pushed, linked"),
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			return m
		}
		return m, forget
	})
}
