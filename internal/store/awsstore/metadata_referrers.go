package awsstore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/store"
)

// referrerItem returns the referrer item of manifest d of record rec.
func (m *Metadata) referrerItem(repo string, d digest.Digest, rec manifestRecord) map[string]types.AttributeValue {
	item := referrerKey(repo, rec.Subject, rec.ArtifactType, d)
	item[attrDigest] = avS(d.String())
	rec.put(item, false)
	return item
}

// Referrers returns up to n manifests of repo whose subject is d, in the
// order of store.ReferrerKey; only those of artifactType when it is not ""
// (a key prefix), and only those whose key is after after when it is not
// "". The manifests have no Body. It returns an empty list, not an error,
// when there are none (also when repo is unknown). One Query (another only
// when the 1 MB limit cut it short); none when n <= 0.
func (m *Metadata) Referrers(ctx context.Context, repo string, d digest.Digest, artifactType, afterKey string, n int) ([]store.Manifest, error) {
	refs := []store.Manifest{}
	var e ddbExpr
	var cond string
	switch {
	case artifactType == "" && afterKey == "":
	case artifactType == "":
		cond = e.name(attrSK) + " > " + e.value(avS(afterKey))
	default:
		prefix := store.ReferrerPrefix(artifactType)
		lo, hi := prefix, prefixEnd(prefix)
		if afterKey >= prefix {
			lo = keyAfter(afterKey)
		}
		if lo > hi {
			return refs, nil
		}
		cond = e.name(attrSK) + " BETWEEN " + e.value(avS(lo)) + " AND " + e.value(avS(hi))
	}
	if n <= 0 {
		return refs, nil
	}
	err := m.query(ctx, referrersPK(repo, d), cond, &e, n, func(item map[string]types.AttributeValue) error {
		man, err := manifestFrom(item, digest.Digest(getS(item, attrDigest)))
		if err != nil {
			return err
		}
		man.Subject, man.Body = d, nil
		refs = append(refs, man)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("referrers of %s in %s: %w", d, repo, err)
	}
	return refs, nil
}
