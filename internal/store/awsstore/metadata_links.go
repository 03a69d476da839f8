package awsstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/store"
)

// LinkBlob records that repo holds blob d, replacing any link repo had to
// it, and records repo in the catalog. One TransactWriteItems of the two
// items and the Delete of d's garbage collection mark, on the condition
// that it is absent or pending (store.ErrBlobDeleted when it is not: see
// gc.go); made again after a conflict with another transaction.
func (m *Metadata) LinkBlob(ctx context.Context, repo string, d digest.Digest, link store.BlobLink) error {
	if repo == "" || d == "" {
		return fmt.Errorf("link blob %q in %q: empty name", d, repo)
	}
	item := linkKey(repo, d)
	item[attrSize] = avN(link.Size)
	item[attrLinked] = avN(time.Now().UnixNano())
	if link.Location != "" {
		item[attrLocation] = avS(link.Location)
	}
	if err := m.linkTransact(ctx, d, item, catalogKey(repo)); err != nil {
		return fmt.Errorf("link blob %s in %s: %w", d, repo, err)
	}
	return nil
}

// Blob returns repo's link to blob d, or store.ErrNotFound when repo does
// not link it. One GetItem.
func (m *Metadata) Blob(ctx context.Context, repo string, d digest.Digest) (store.BlobLink, error) {
	item, err := m.getItem(ctx, linkKey(repo, d))
	var link store.BlobLink
	if err == nil {
		link.Location = getS(item, attrLocation)
		link.Size, err = getN(item, attrSize)
	}
	if err != nil {
		return store.BlobLink{}, fmt.Errorf("blob %s in %s: %w", d, repo, err)
	}
	return link, nil
}

// UnlinkBlob removes repo's link to blob d, or returns store.ErrNotFound.
// One DeleteItem.
func (m *Metadata) UnlinkBlob(ctx context.Context, repo string, d digest.Digest) error {
	if err := m.deleteExisting(ctx, linkKey(repo, d)); err != nil {
		return fmt.Errorf("unlink blob %s in %s: %w", d, repo, err)
	}
	return nil
}

// deleteExisting deletes the item of key, or returns store.ErrNotFound
// when there is none. One conditional DeleteItem.
func (m *Metadata) deleteExisting(ctx context.Context, key map[string]types.AttributeValue) error {
	var e ddbExpr
	_, err := m.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                &m.table,
		Key:                      key,
		ConditionExpression:      aws.String("attribute_exists(" + e.name(attrPK) + ")"),
		ExpressionAttributeNames: e.names,
	})
	if isConditionFailed(err) {
		return store.ErrNotFound
	}
	return err
}

// BlobSizes returns the sizes of the blobs of ds that repo links. One
// BatchGetItem per 100 distinct digests (none for none).
func (m *Metadata) BlobSizes(ctx context.Context, repo string, ds []digest.Digest) (map[digest.Digest]int64, error) {
	sizes, err := found(ctx, m, repo, linkPrefix, ds, []string{attrSK, attrSize}, func(item map[string]types.AttributeValue) (int64, error) {
		return getN(item, attrSize)
	})
	if err != nil {
		return nil, fmt.Errorf("blob sizes in %s: %w", repo, err)
	}
	return sizes, nil
}

// MissingManifests returns those of ds that repo does not hold, in order.
// One BatchGetItem per 100 distinct digests (none for none).
func (m *Metadata) MissingManifests(ctx context.Context, repo string, ds []digest.Digest) ([]digest.Digest, error) {
	held, err := found(ctx, m, repo, maniPrefix, ds, []string{attrSK}, func(map[string]types.AttributeValue) (bool, error) { return true, nil })
	if err != nil {
		return nil, fmt.Errorf("missing manifests in %s: %w", repo, err)
	}
	return store.Missing(ds, held), nil
}

// found returns, for each of ds that has an item with the sort key prefix
// + digest in repo's partition, what value makes of that item's
// attributes of projection (which must hold attrSK).
func found[V any](ctx context.Context, m *Metadata, repo, prefix string, ds []digest.Digest, projection []string, value func(map[string]types.AttributeValue) (V, error)) (map[digest.Digest]V, error) {
	seen := make(map[digest.Digest]bool, len(ds))
	var keys []map[string]types.AttributeValue
	for _, d := range ds {
		if !seen[d] {
			seen[d] = true
			keys = append(keys, itemKey(repoPK(repo), prefix+d.String()))
		}
	}
	vs := map[digest.Digest]V{}
	err := m.batchGet(ctx, keys, projection, func(item map[string]types.AttributeValue) error {
		v, err := value(item)
		vs[digest.Digest(strings.TrimPrefix(getS(item, attrSK), prefix))] = v
		return err
	})
	return vs, err
}

// Repositories returns up to n repository names in byte order, those after
// last when last is not "". A repository exists from its first blob link
// or manifest on, and stays when they are removed. One Query (another only
// when the 1 MB limit cut it short); none when n <= 0.
func (m *Metadata) Repositories(ctx context.Context, last string, n int) ([]string, error) {
	repos := []string{}
	var e ddbExpr
	var cond string
	if last != "" {
		cond = e.name(attrSK) + " > " + e.value(avS(last))
	}
	err := m.query(ctx, catalogPK, cond, &e, n, func(item map[string]types.AttributeValue) error {
		repos = append(repos, getS(item, attrSK))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("repositories: %w", err)
	}
	return repos, nil
}
