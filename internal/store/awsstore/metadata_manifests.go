package awsstore

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/store"
)

// tagRefs returns the tags that manifest d has refs to, in byte order
// (one Query per MB of refs: several thousand).
func (m *Metadata) tagRefs(ctx context.Context, repo string, d digest.Digest) ([]string, error) {
	var e ddbExpr
	prefix := refsPrefix(d)
	cond := "begins_with(" + e.name(attrSK) + ", " + e.value(avS(prefix)) + ")"
	var tags []string
	err := m.query(ctx, repoPK(repo), cond, &e, math.MaxInt, func(item map[string]types.AttributeValue) error {
		tags = append(tags, strings.TrimPrefix(getS(item, attrSK), prefix))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("tag refs: %w", err)
	}
	return tags, nil
}

// Manifest returns manifest d of repo, or store.ErrNotFound. One GetItem.
func (m *Metadata) Manifest(ctx context.Context, repo string, d digest.Digest) (store.Manifest, error) {
	item, err := m.getItem(ctx, manifestKey(repo, d))
	var man store.Manifest
	if err == nil {
		man, err = manifestFrom(item, d)
	}
	if err != nil {
		return store.Manifest{}, fmt.Errorf("manifest %s in %s: %w", d, repo, err)
	}
	return man, nil
}

// DeleteManifest removes manifest d from repo, with the tags that name it
// and its referrer entry, or returns store.ErrNotFound. It reads the
// manifest item (GetItem) and, when it was ever tagged, its refs (Query),
// and deletes the manifest item, the tags that name it, their refs and its
// referrer entry in one TransactWriteItems (a DeleteItem when there is only
// the manifest item): three requests, two for a manifest never tagged. Each
// tag is deleted on the condition that it still names the manifest, the
// manifest item on the condition that its version is the one read: a tag
// added meanwhile fails the transaction, and it reads and tries again; a
// stale ref (its tag deleted without it: see DeleteTag) fails it too, and
// it tries again with the ref alone. With more than about 48 tags the tags
// go first, in transactions of their own that check the version.
func (m *Metadata) DeleteManifest(ctx context.Context, repo string, d digest.Digest) error {
	err := retryLost(ctx, func() (bool, error) {
		return false, m.deleteManifestOnce(ctx, repo, d)
	})
	if err != nil {
		return fmt.Errorf("delete manifest %s in %s: %w", d, repo, err)
	}
	return nil
}

// deleteManifestOnce makes one attempt at DeleteManifest; errLostRace when it
// lost a race.
func (m *Metadata) deleteManifestOnce(ctx context.Context, repo string, d digest.Digest) error {
	item, version, refs, err := m.manifestRefs(ctx, repo, d)
	if err != nil {
		return err
	}

	var final []txAction
	if subject := digest.Digest(getS(item, attrSubject)); subject != "" {
		final = append(final, txAction{item: m.delete(referrerKey(repo, subject, getS(item, attrArtifactType), d))})
	}
	del := m.manifestDelete(repo, d, version)
	final = append(final, del)
	if len(refs) == 0 && len(final) == 1 {
		return m.deleteAlone(ctx, del)
	}

	// Each round writes what is left; a round that finds stale refs
	// (tags that no longer name the manifest) goes again without their
	// tags. The manifest's version is checked by every transaction, so
	// that no tag can have come to name it since it was read.
	stale, done := map[string]bool{}, map[string]bool{}
	for {
		var groups [][]txAction
		for _, t := range refs {
			switch {
			case done[t]:
			case stale[t]:
				groups = append(groups, []txAction{{item: m.delete(refKey(repo, d, t)), tag: t}})
			default:
				var e ddbExpr
				groups = append(groups, []txAction{{
					item: types.TransactWriteItem{Delete: &types.Delete{
						TableName:                 &m.table,
						Key:                       tagKey(repo, t),
						ConditionExpression:       aws.String(e.name(attrDigest) + " = " + e.value(avS(d.String()))),
						ExpressionAttributeNames:  e.names,
						ExpressionAttributeValues: e.values,
					}},
					kind: actTagDelete, tag: t,
				}, {item: m.delete(refKey(repo, d, t)), tag: t}})
			}
		}
		// The last tags go with the manifest item; those that do not fit
		// with it go first.
		last := len(groups)
		for n := len(final); last > 0 && n+len(groups[last-1]) <= maxTransactItems; last-- {
			n += len(groups[last-1])
		}
		var txs [][]txAction
		if last > 0 {
			var e ddbExpr
			txs = pack(m.guard(repo, d, e.name(attrVersion)+" = "+e.value(avN(version)), &e), groups[:last])
		}
		tx := slices.Clone(final)
		for _, g := range groups[last:] {
			tx = append(tx, g...)
		}
		txs = append(txs, tx)

		again := false
		for _, tx := range txs {
			err := m.transactActions(ctx, tx)
			if err == nil {
				for _, a := range tx {
					if a.tag != "" {
						done[a.tag] = true
					}
				}
				continue
			}
			reasons := cancelReasons(err)
			if !lostRace(reasons) {
				return err
			}
			for i, r := range reasons {
				switch code := aws.ToString(r.Code); {
				case code == "" || code == "None":
				case code == reasonConditionFailed && i < len(tx) && tx[i].kind == actTagDelete && !stale[tx[i].tag]:
					stale[tx[i].tag], again = true, true
				default:
					return errLostRace
				}
			}
			if !again {
				return errLostRace
			}
			break
		}
		if !again {
			return nil
		}
	}
}

// manifestRefs reads manifest d's item (store.ErrNotFound when there is
// none) and, when it was ever tagged, its refs: the item, its version and
// the tags of the refs. The item comes first: a tag pushed after this read
// changes the version, which a delete conditioned on it checks, even if
// the refs read next miss the tag.
func (m *Metadata) manifestRefs(ctx context.Context, repo string, d digest.Digest) (map[string]types.AttributeValue, int64, []string, error) {
	item, err := m.getItem(ctx, manifestKey(repo, d))
	if err != nil {
		return nil, 0, nil, err
	}
	version, err := getN(item, attrVersion)
	if err != nil {
		return nil, 0, nil, err
	}
	var refs []string
	if _, ok := item[attrTagged]; ok { // never tagged: no refs
		if refs, err = m.tagRefs(ctx, repo, d); err != nil {
			return nil, 0, nil, err
		}
	}
	return item, version, refs, nil
}

// manifestDelete returns the Delete of manifest d's item on the condition
// that its version is version.
func (m *Metadata) manifestDelete(repo string, d digest.Digest, version int64) txAction {
	var e ddbExpr
	return txAction{kind: actManifest, item: types.TransactWriteItem{Delete: &types.Delete{
		TableName:                 &m.table,
		Key:                       manifestKey(repo, d),
		ConditionExpression:       aws.String(e.name(attrVersion) + " = " + e.value(avN(version))),
		ExpressionAttributeNames:  e.names,
		ExpressionAttributeValues: e.values,
	}}}
}

// deleteAlone runs the Delete of a, a transaction's only action, as one
// DeleteItem; errLostRace when its condition fails.
func (m *Metadata) deleteAlone(ctx context.Context, a txAction) error {
	del := a.item.Delete
	_, err := m.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 del.TableName,
		Key:                       del.Key,
		ConditionExpression:       del.ConditionExpression,
		ExpressionAttributeNames:  del.ExpressionAttributeNames,
		ExpressionAttributeValues: del.ExpressionAttributeValues,
	})
	if isConditionFailed(err) {
		return errLostRace
	}
	return err
}
