package awsstore

// Times and conditional removals for the retention rules and the
// immutable tags (store.Retention).
//
// Tag and manifest items have pushed (N: Unix nanoseconds of their last
// push), link items linked (N: of their last write). Items written before
// these attributes existed lack them: their Record.Time is zero.
//
// Requests:
//
//	DeleteTagIf             DeleteItem (conditioned on the digest) + TransactWriteItems
//	                        (its ref, as DeleteTag); + GetItem when the condition fails
//	DeleteUntaggedManifest  GetItem + Query (its refs, when ever tagged) + GetItem per ref
//	                        + TransactWriteItems (DeleteItem when alone)
//	UnlinkBlobIf            DeleteItem (conditioned on linked); + GetItem when it fails
//	PutManifestFixedTags    as PutManifest; a tag that names another manifest fails its
//	                        condition and the put stops there

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/store"
)

var _ store.Retention = (*Metadata)(nil)

const (
	attrPushed = "pushed"
	attrLinked = "linked"
)

// itemTime returns the time in attribute name of item; zero when absent.
func itemTime(item map[string]types.AttributeValue, name string) time.Time {
	if _, ok := item[name]; !ok {
		return time.Time{}
	}
	n, err := getN(item, name)
	if err != nil {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// movedError is the error of a fixed put that found tags naming other
// manifests.
func movedError(moved map[string]digest.Digest) error {
	tags := make([]string, 0, len(moved))
	for t := range moved {
		tags = append(tags, t)
	}
	sort.Strings(tags)
	return fmt.Errorf("tag %q names %s: %w", tags[0], moved[tags[0]], store.ErrTagMoved)
}

// PutManifestFixedTags is PutManifest, refusing (store.ErrTagMoved) to
// move a tag: each tag item is put on the condition that it is new or
// names the manifest. A put of more than about 48 tags is split (see the
// package layout notes): the tags of the transactions before the refused
// one stay written.
func (m *Metadata) PutManifestFixedTags(ctx context.Context, repo string, man store.Manifest, tags []string) error {
	if err := m.putManifest(ctx, repo, man, tags, true); err != nil {
		return fmt.Errorf("put manifest %s in %s: %w", man.Digest, repo, err)
	}
	return nil
}

// dropTagRef deletes the ref of tag, deleted, to manifest d, on the
// condition that the tag does not name d again by then; a ref it cannot
// delete is left stale, which is harmless (see DeleteTag).
func (m *Metadata) dropTagRef(ctx context.Context, repo, tag string, d digest.Digest) error {
	if d == "" {
		return nil
	}
	var e ddbExpr
	check := txAction{item: types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName:                 &m.table,
		Key:                       tagKey(repo, tag),
		ConditionExpression:       aws.String("attribute_not_exists(" + e.name(attrPK) + ") OR " + e.name(attrDigest) + " <> " + e.value(avS(d.String()))),
		ExpressionAttributeNames:  e.names,
		ExpressionAttributeValues: e.values,
	}}}
	tx := []txAction{check, {item: m.delete(refKey(repo, d, tag))}}
	err := retryLost(ctx, func() (bool, error) {
		err := m.transactActions(ctx, tx)
		reasons := cancelReasons(err)
		switch {
		case cancelReason(reasons, 0) == reasonConditionFailed:
			return false, nil // the tag names d again: its ref is right
		case lostRace(reasons):
			return false, errLostRace
		}
		return false, err
	})
	if err != nil && !errors.Is(err, store.ErrConflict) { // lost races leave a stale ref
		return fmt.Errorf("the tag is deleted, its ref to %s is not: %w", d, err)
	}
	return nil
}

// DeleteTagIf removes tag from repo if it names d: one DeleteItem on that
// condition, then its ref as DeleteTag does.
func (m *Metadata) DeleteTagIf(ctx context.Context, repo, tag string, d digest.Digest) error {
	var e ddbExpr
	_, err := m.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 &m.table,
		Key:                       tagKey(repo, tag),
		ConditionExpression:       aws.String(e.name(attrDigest) + " = " + e.value(avS(d.String()))),
		ExpressionAttributeNames:  e.names,
		ExpressionAttributeValues: e.values,
	})
	if isConditionFailed(err) {
		err = m.whyNot(ctx, tagKey(repo, tag))
	}
	if err == nil {
		err = m.dropTagRef(ctx, repo, tag, d)
	}
	if err != nil {
		return fmt.Errorf("delete tag %q of %s in %s: %w", tag, d, repo, err)
	}
	return nil
}

// whyNot returns why a conditional write of the item of key failed:
// store.ErrNotFound when there is no item, store.ErrConflict when it is
// another.
func (m *Metadata) whyNot(ctx context.Context, key map[string]types.AttributeValue) error {
	if _, err := m.getItem(ctx, key); err != nil {
		return err
	}
	return fmt.Errorf("changed meanwhile: %w", store.ErrConflict)
}

// DeleteUntaggedManifest removes manifest d from repo, with its referrer
// entry and its stale refs, if no tag names it. It reads the manifest
// item, and when it was ever tagged its refs and their tags; the delete is
// conditioned on the manifest's version, which every push of a tag naming
// it counts, so a tag pushed after the read fails it (then it reads
// again, and finds the tag).
func (m *Metadata) DeleteUntaggedManifest(ctx context.Context, repo string, d digest.Digest) error {
	err := retryLost(ctx, func() (bool, error) {
		return false, m.deleteUntaggedOnce(ctx, repo, d)
	})
	if err != nil {
		return fmt.Errorf("delete untagged manifest %s in %s: %w", d, repo, err)
	}
	return nil
}

// maxStaleRefs is the most stale refs DeleteUntaggedManifest deletes with
// the manifest (a transaction holds 100 actions); others stay, harmless.
const maxStaleRefs = 90

func (m *Metadata) deleteUntaggedOnce(ctx context.Context, repo string, d digest.Digest) error {
	item, version, refs, err := m.manifestRefs(ctx, repo, d)
	if err != nil {
		return err
	}
	var stale []string
	for _, t := range refs {
		tagItem, err := m.getItem(ctx, tagKey(repo, t))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err == nil && getS(tagItem, attrDigest) == d.String() {
			return fmt.Errorf("tag %q names it: %w", t, store.ErrConflict)
		}
		stale = append(stale, t)
	}
	del := m.manifestDelete(repo, d, version)
	tx := []txAction{del}
	if subject := digest.Digest(getS(item, attrSubject)); subject != "" {
		tx = append(tx, txAction{item: m.delete(referrerKey(repo, subject, getS(item, attrArtifactType), d))})
	}
	for _, t := range stale[:min(len(stale), maxStaleRefs)] {
		tx = append(tx, txAction{item: m.delete(refKey(repo, d, t))})
	}
	if len(tx) == 1 {
		return m.deleteAlone(ctx, del)
	}
	err = m.transactActions(ctx, tx)
	if reasons := cancelReasons(err); err != nil && (lostRace(reasons) || slices.ContainsFunc(reasons, func(r types.CancellationReason) bool {
		return aws.ToString(r.Code) == reasonConditionFailed
	})) {
		return errLostRace
	}
	return err
}

// UnlinkBlobIf removes repo's link to d if its linked attribute is linked
// (absent for zero): one conditional DeleteItem, and a GetItem when the
// condition fails.
func (m *Metadata) UnlinkBlobIf(ctx context.Context, repo string, d digest.Digest, linked time.Time) error {
	var e ddbExpr
	cond := []string{"attribute_exists(" + e.name(attrPK) + ")"}
	if linked.IsZero() {
		cond = append(cond, "attribute_not_exists("+e.name(attrLinked)+")")
	} else {
		cond = append(cond, e.name(attrLinked)+" = "+e.value(avN(linked.UnixNano())))
	}
	_, err := m.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 &m.table,
		Key:                       linkKey(repo, d),
		ConditionExpression:       aws.String(strings.Join(cond, " AND ")),
		ExpressionAttributeNames:  e.names,
		ExpressionAttributeValues: e.values,
	})
	if isConditionFailed(err) {
		err = m.whyNot(ctx, linkKey(repo, d))
	}
	if err != nil {
		return fmt.Errorf("unlink blob %s in %s: %w", d, repo, err)
	}
	return nil
}
