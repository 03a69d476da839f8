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

// tagItem returns the item of tag, naming manifest d of record rec.
func (m *Metadata) tagItem(repo, tag string, d digest.Digest, rec manifestRecord) map[string]types.AttributeValue {
	item := tagKey(repo, tag)
	item[attrDigest] = avS(d.String())
	item[attrPushed] = avN(time.Now().UnixNano())
	rec.put(item, true)
	return item
}

// Tag returns the manifest that tag names in repo, or store.ErrNotFound.
// One GetItem: the tag item carries the manifest's record (and its body
// when that is inline).
func (m *Metadata) Tag(ctx context.Context, repo, tag string) (store.Manifest, error) {
	item, err := m.getItem(ctx, tagKey(repo, tag))
	var man store.Manifest
	if err == nil {
		man, err = manifestFrom(item, digest.Digest(getS(item, attrDigest)))
	}
	if err != nil {
		return store.Manifest{}, fmt.Errorf("tag %q in %s: %w", tag, repo, err)
	}
	return man, nil
}

// DeleteTag removes tag from repo (not the manifest it names), or returns
// store.ErrNotFound. One DeleteItem, which returns the tag item, then one
// TransactWriteItems that deletes the tag's ref on the condition that the
// tag does not name its manifest again by then: two requests. When the
// second fails (the process stops, or it loses every race: no error
// then), the ref is left stale, which is harmless: DeleteManifest, or a put of the
// manifest that changes its record, finds that its tag does not name the
// manifest and deletes it.
func (m *Metadata) DeleteTag(ctx context.Context, repo, tag string) error {
	if err := m.deleteTag(ctx, repo, tag); err != nil {
		return fmt.Errorf("delete tag %q in %s: %w", tag, repo, err)
	}
	return nil
}

func (m *Metadata) deleteTag(ctx context.Context, repo, tag string) error {
	var e ddbExpr
	out, err := m.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                &m.table,
		Key:                      tagKey(repo, tag),
		ConditionExpression:      aws.String("attribute_exists(" + e.name(attrPK) + ")"),
		ExpressionAttributeNames: e.names,
		ReturnValues:             types.ReturnValueAllOld,
	})
	if isConditionFailed(err) {
		return store.ErrNotFound
	}
	if err != nil {
		return err
	}
	return m.dropTagRef(ctx, repo, tag, digest.Digest(getS(out.Attributes, attrDigest)))
}

// Tags returns up to n tags of repo in byte order, those after last when
// last is not "". It returns an empty list for a repository without tags
// (after them) and when n <= 0, and store.ErrNotFound when repo is
// unknown. One Query (another only when the 1 MB limit cut it short); when
// the page is empty or n <= 0, one GetItem of the catalog item tells
// whether repo exists.
func (m *Metadata) Tags(ctx context.Context, repo, last string, n int) ([]string, error) {
	tags := []string{}
	if n > 0 {
		var e ddbExpr
		lo := tagPrefix
		if last != "" {
			lo = keyAfter(tagPrefix + last)
		}
		cond := e.name(attrSK) + " BETWEEN " + e.value(avS(lo)) + " AND " + e.value(avS(tagsEnd))
		err := m.query(ctx, repoPK(repo), cond, &e, n, func(item map[string]types.AttributeValue) error {
			tags = append(tags, strings.TrimPrefix(getS(item, attrSK), tagPrefix))
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("tags of %s: %w", repo, err)
		}
	}
	if len(tags) == 0 {
		if _, err := m.getItem(ctx, catalogKey(repo)); err != nil {
			return nil, fmt.Errorf("tags of %s: repository: %w", repo, err)
		}
	}
	return tags, nil
}
