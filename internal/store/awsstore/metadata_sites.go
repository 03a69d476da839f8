package awsstore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/store"
)

// siteKey is the key of the site index item of manifest d (see the
// layout in metadata.go).
func siteKey(d digest.Digest) map[string]types.AttributeValue {
	return itemKey("s#"+d.String(), siteSK)
}

const siteSK = "i"

var _ store.SiteIndexes = (*Metadata)(nil)

// SiteIndex returns the digest of the index of the unpacked site of
// manifest d (package site), or store.ErrNotFound. One strongly
// consistent GetItem.
func (m *Metadata) SiteIndex(ctx context.Context, d digest.Digest) (digest.Digest, error) {
	item, err := m.getItem(ctx, siteKey(d))
	if err != nil {
		return "", fmt.Errorf("site index of %s: %w", d, err)
	}
	return digest.Digest(getS(item, attrDigest)), nil
}

// PutSiteIndex records index as the index of the unpacked site of
// manifest d. One PutItem.
func (m *Metadata) PutSiteIndex(ctx context.Context, d, index digest.Digest) error {
	item := siteKey(d)
	item[attrDigest] = avS(index.String())
	if _, err := m.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: &m.table, Item: item}); err != nil {
		return fmt.Errorf("record site index of %s: %w", d, err)
	}
	return nil
}
