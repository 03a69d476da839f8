package awsstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/store"
)

// PutManifest records manifest man in repo, points tags at it, records it
// as a referrer of its subject and repo in the catalog, in one
// TransactWriteItems: one request when the manifest is new or its record
// is the same as before (its digest names its bytes, so that is the usual
// re-put). When the record changed, that transaction fails on its
// condition and PutManifest reads the manifest item (GetItem) and the tags
// its tag set names (BatchGetItem), and writes again with the copies in
// those tags and the referrer entry brought up to date: four requests. A
// put of more than about 95 tags is split (see the package layout notes).
// The body is kept when it is at most MaxInlineBody bytes long.
func (m *Metadata) PutManifest(ctx context.Context, repo string, man store.Manifest, tags []string) error {
	if err := m.putManifest(ctx, repo, man, tags); err != nil {
		return fmt.Errorf("put manifest %s in %s: %w", man.Digest, repo, err)
	}
	return nil
}

func (m *Metadata) putManifest(ctx context.Context, repo string, man store.Manifest, tags []string) error {
	switch {
	case repo == "":
		return errors.New("empty repository name")
	case man.Digest == "":
		return errors.New("empty digest")
	case slices.Contains(tags, ""):
		return errors.New("empty tag")
	}
	tags = uniqueTags(tags)
	rec := newManifestRecord(man)
	for attempt := range maxRaceAttempts {
		if attempt > 0 {
			if err := ddbBackoff(ctx, attempt-1); err != nil {
				return err
			}
		}
		err := m.putManifestOnce(ctx, repo, man.Digest, rec, tags)
		if !errors.Is(err, errLostRace) {
			return err
		}
	}
	return fmt.Errorf("lost %d races with other writers: %w", maxRaceAttempts, store.ErrConflict)
}

// uniqueTags returns ss without repetitions, in order.
func uniqueTags(ss []string) []string {
	seen := make(map[string]bool, len(ss))
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// putManifestOnce makes one attempt at PutManifest; errLostRace when it lost
// a race.
func (m *Metadata) putManifestOnce(ctx context.Context, repo string, d digest.Digest, rec manifestRecord, tags []string) error {
	rh := rec.hash()

	// The manifest is new, or its record is the same: write it (its tag set
	// grows and its version goes up), its new tags, its referrer entry and
	// the catalog item.
	var e ddbExpr
	cond := "attribute_not_exists(" + e.name(attrPK) + ") OR " + e.name(attrRecordHash) + " = " + e.value(avB(rh))
	main := []types.TransactWriteItem{m.manifestUpdate(repo, d, rec, rh, tags, cond, &e)}
	if rec.Subject != "" {
		main = append(main, m.put(m.referrerItem(repo, d, rec)))
	}
	main = append(main, m.put(catalogKey(repo)))
	err := m.writeManifest(ctx, repo, d, rh, rec, main, tags)
	if reasons := cancelReasons(err); cancelReason(reasons, 0) != reasonConditionFailed {
		if lostRace(reasons) {
			return errLostRace
		}
		return err
	}

	// Its record changed: read what it was, and rewrite the copies in the
	// tags that still name it, and its referrer entry.
	old, err := m.getItem(ctx, manifestKey(repo, d))
	if err != nil {
		return err
	}
	if old == nil { // deleted meanwhile
		return errLostRace
	}
	version, err := getN(old, attrVersion)
	if err != nil {
		return err
	}
	var stale []string
	for _, t := range getSS(old, attrTags) {
		if !slices.Contains(tags, t) {
			stale = append(stale, t)
		}
	}
	naming, err := m.tagsNaming(ctx, repo, d, stale)
	if err != nil {
		return err
	}
	var rewrites []types.TransactWriteItem
	for _, t := range naming {
		var e ddbExpr
		p := m.put(m.tagItem(repo, t, d, rec))
		p.Put.ConditionExpression = aws.String(e.name(attrDigest) + " = " + e.value(avS(d.String())))
		p.Put.ExpressionAttributeNames, p.Put.ExpressionAttributeValues = e.names, e.values
		rewrites = append(rewrites, p)
	}

	e = ddbExpr{}
	cond = e.name(attrVersion) + " = " + e.value(avN(version))
	main = []types.TransactWriteItem{m.manifestUpdate(repo, d, rec, rh, tags, cond, &e)}
	oldSubject := digest.Digest(getS(old, attrSubject))
	oldType := getS(old, attrArtifactType)
	if oldSubject != "" && (oldSubject != rec.Subject || oldType != rec.ArtifactType) {
		main = append(main, types.TransactWriteItem{Delete: &types.Delete{
			TableName: &m.table,
			Key:       referrerKey(repo, oldSubject, oldType, d),
		}})
	}
	if rec.Subject != "" {
		main = append(main, m.put(m.referrerItem(repo, d, rec)))
	}
	main = append(main, m.put(catalogKey(repo)))

	if len(main)+len(rewrites)+len(tags) <= maxTransactItems {
		// The usual case: one transaction.
		main = append(main, rewrites...)
	} else {
		// Too many for one: the rewritten copies first.
		for len(rewrites) > 0 {
			n := min(len(rewrites), maxTransactItems)
			if err := m.transact(ctx, rewrites[:n]); err != nil {
				if lostRace(cancelReasons(err)) {
					return errLostRace
				}
				return err
			}
			rewrites = rewrites[n:]
		}
	}
	err = m.writeManifest(ctx, repo, d, rh, rec, main, tags)
	if lostRace(cancelReasons(err)) {
		return errLostRace
	}
	return err
}

// writeManifest writes main (whose first action writes the manifest item)
// with the tag items of tags in one transaction, or, when they do not all
// fit, the first of them with main and the others in transactions that
// follow, each checking that the manifest item still holds record hash rh.
// It returns the error of the first transaction as it is.
func (m *Metadata) writeManifest(ctx context.Context, repo string, d digest.Digest, rh []byte, rec manifestRecord, main []types.TransactWriteItem, tags []string) error {
	n := min(len(tags), maxTransactItems-len(main))
	items := main
	for _, t := range tags[:n] {
		items = append(items, m.put(m.tagItem(repo, t, d, rec)))
	}
	if err := m.transact(ctx, items); err != nil {
		return err
	}
	for tags = tags[n:]; len(tags) > 0; {
		var e ddbExpr
		items := []types.TransactWriteItem{{ConditionCheck: &types.ConditionCheck{
			TableName:                 &m.table,
			Key:                       manifestKey(repo, d),
			ConditionExpression:       aws.String(e.name(attrRecordHash) + " = " + e.value(avB(rh))),
			ExpressionAttributeNames:  e.names,
			ExpressionAttributeValues: e.values,
		}}}
		n := min(len(tags), maxTransactItems-1)
		for _, t := range tags[:n] {
			items = append(items, m.put(m.tagItem(repo, t, d, rec)))
		}
		tags = tags[n:]
		if err := m.transact(ctx, items); err != nil {
			if lostRace(cancelReasons(err)) {
				return errLostRace
			}
			return err
		}
	}
	return nil
}

// manifestUpdate returns the Update that writes record rec (hash rh) to
// the manifest item of d, adds tags to its tag set and counts a version,
// on condition cond (built with e).
func (m *Metadata) manifestUpdate(repo string, d digest.Digest, rec manifestRecord, rh []byte, tags []string, cond string, e *ddbExpr) types.TransactWriteItem {
	attrs := map[string]types.AttributeValue{}
	rec.put(attrs, true)
	set := []string{e.name(attrRecordHash) + " = " + e.value(avB(rh))}
	var remove []string
	for _, a := range recordAttrs {
		if v, ok := attrs[a]; ok {
			set = append(set, e.name(a)+" = "+e.value(v))
		} else {
			remove = append(remove, e.name(a))
		}
	}
	update := "SET " + strings.Join(set, ", ")
	if len(remove) > 0 {
		update += " REMOVE " + strings.Join(remove, ", ")
	}
	update += " ADD " + e.name(attrVersion) + " " + e.value(avN(1))
	if len(tags) > 0 {
		update += ", " + e.name(attrTags) + " " + e.value(avSS(tags))
	}
	return types.TransactWriteItem{Update: &types.Update{
		TableName:                 &m.table,
		Key:                       manifestKey(repo, d),
		UpdateExpression:          &update,
		ConditionExpression:       &cond,
		ExpressionAttributeNames:  e.names,
		ExpressionAttributeValues: e.values,
	}}
}

// put returns a Put of item.
func (m *Metadata) put(item map[string]types.AttributeValue) types.TransactWriteItem {
	return types.TransactWriteItem{Put: &types.Put{TableName: &m.table, Item: item}}
}

// tagItem returns the item of tag, naming manifest d of record rec.
func (m *Metadata) tagItem(repo, tag string, d digest.Digest, rec manifestRecord) map[string]types.AttributeValue {
	item := tagKey(repo, tag)
	item[attrDigest] = avS(d.String())
	rec.put(item, true)
	return item
}

// referrerItem returns the referrer item of manifest d of record rec.
func (m *Metadata) referrerItem(repo string, d digest.Digest, rec manifestRecord) map[string]types.AttributeValue {
	item := referrerKey(repo, rec.Subject, rec.ArtifactType, d)
	item[attrDigest] = avS(d.String())
	rec.put(item, false)
	return item
}

// tagsNaming returns those of tags whose items name d (one BatchGetItem per
// 100 tags; none for no tags).
func (m *Metadata) tagsNaming(ctx context.Context, repo string, d digest.Digest, tags []string) ([]string, error) {
	keys := make([]map[string]types.AttributeValue, len(tags))
	for i, t := range tags {
		keys[i] = tagKey(repo, t)
	}
	var naming []string
	err := m.batchGet(ctx, keys, []string{attrSK, attrDigest}, func(item map[string]types.AttributeValue) error {
		if getS(item, attrDigest) == d.String() {
			naming = append(naming, strings.TrimPrefix(getS(item, attrSK), tagPrefix))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(naming)
	return naming, nil
}

// Manifest returns manifest d of repo, or store.ErrNotFound. One GetItem.
func (m *Metadata) Manifest(ctx context.Context, repo string, d digest.Digest) (store.Manifest, error) {
	item, err := m.getItem(ctx, manifestKey(repo, d))
	if err == nil && item == nil {
		err = store.ErrNotFound
	}
	var man store.Manifest
	if err == nil {
		man, err = manifestFrom(item, d)
	}
	if err != nil {
		return store.Manifest{}, fmt.Errorf("manifest %s in %s: %w", d, repo, err)
	}
	return man, nil
}

// Tag returns the manifest that tag names in repo, or store.ErrNotFound.
// One GetItem: the tag item carries the manifest's record (and its body
// when that is inline).
func (m *Metadata) Tag(ctx context.Context, repo, tag string) (store.Manifest, error) {
	item, err := m.getItem(ctx, tagKey(repo, tag))
	if err == nil && item == nil {
		err = store.ErrNotFound
	}
	var man store.Manifest
	if err == nil {
		man, err = manifestFrom(item, digest.Digest(getS(item, attrDigest)))
	}
	if err != nil {
		return store.Manifest{}, fmt.Errorf("tag %q in %s: %w", tag, repo, err)
	}
	return man, nil
}

// DeleteManifest removes manifest d from repo, with the tags that name it
// and its referrer entry, or returns store.ErrNotFound. It reads the
// manifest item (GetItem) and the tags in its tag set (BatchGetItem; none
// when the set is empty), and deletes the manifest item, the tags that
// still name it and its referrer entry in one TransactWriteItems (a
// DeleteItem when there is only the manifest item): three requests, or
// two. A tag moved or a tag added meanwhile fails the transaction's
// conditions, and it reads and tries again. With more than about 95 tags
// the tags go first, in transactions of their own.
func (m *Metadata) DeleteManifest(ctx context.Context, repo string, d digest.Digest) error {
	var err error
	for attempt := range maxRaceAttempts {
		if attempt > 0 {
			if err = ddbBackoff(ctx, attempt-1); err != nil {
				break
			}
		}
		if err = m.deleteManifestOnce(ctx, repo, d); !errors.Is(err, errLostRace) {
			break
		}
	}
	if errors.Is(err, errLostRace) {
		err = fmt.Errorf("lost %d races with other writers: %w", maxRaceAttempts, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("delete manifest %s in %s: %w", d, repo, err)
	}
	return nil
}

// deleteManifestOnce makes one attempt at DeleteManifest; errLostRace when it
// lost a race.
func (m *Metadata) deleteManifestOnce(ctx context.Context, repo string, d digest.Digest) error {
	item, err := m.getItem(ctx, manifestKey(repo, d))
	if err != nil {
		return err
	}
	if item == nil {
		return store.ErrNotFound
	}
	version, err := getN(item, attrVersion)
	if err != nil {
		return err
	}
	naming, err := m.tagsNaming(ctx, repo, d, getSS(item, attrTags))
	if err != nil {
		return err
	}

	var items []types.TransactWriteItem
	for _, t := range naming {
		var e ddbExpr
		items = append(items, types.TransactWriteItem{Delete: &types.Delete{
			TableName:                 &m.table,
			Key:                       tagKey(repo, t),
			ConditionExpression:       aws.String(e.name(attrDigest) + " = " + e.value(avS(d.String()))),
			ExpressionAttributeNames:  e.names,
			ExpressionAttributeValues: e.values,
		}})
	}
	if subject := digest.Digest(getS(item, attrSubject)); subject != "" {
		items = append(items, types.TransactWriteItem{Delete: &types.Delete{
			TableName: &m.table,
			Key:       referrerKey(repo, subject, getS(item, attrArtifactType), d),
		}})
	}
	var e ddbExpr
	del := &types.Delete{
		TableName:                 &m.table,
		Key:                       manifestKey(repo, d),
		ConditionExpression:       aws.String(e.name(attrVersion) + " = " + e.value(avN(version))),
		ExpressionAttributeNames:  e.names,
		ExpressionAttributeValues: e.values,
	}
	if len(items) == 0 {
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
	items = append(items, types.TransactWriteItem{Delete: del})
	// Tags first when they do not all fit in one transaction.
	tagsLeft := len(naming)
	for len(items) > 0 {
		n := len(items)
		if n > maxTransactItems {
			n = min(tagsLeft, maxTransactItems)
		}
		if err := m.transact(ctx, items[:n]); err != nil {
			if lostRace(cancelReasons(err)) {
				return errLostRace
			}
			return err
		}
		items = items[n:]
		tagsLeft = max(tagsLeft-n, 0)
	}
	return nil
}

// DeleteTag removes tag from repo (not the manifest it names), or returns
// store.ErrNotFound. One DeleteItem. The manifest's tag set keeps the name
// (DeleteManifest skips tags that no longer name it).
func (m *Metadata) DeleteTag(ctx context.Context, repo, tag string) error {
	if err := m.deleteExisting(ctx, tagKey(repo, tag)); err != nil {
		return fmt.Errorf("delete tag %q in %s: %w", tag, repo, err)
	}
	return nil
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
		item, err := m.getItem(ctx, catalogKey(repo))
		if err == nil && item == nil {
			err = store.ErrNotFound
		}
		if err != nil {
			return nil, fmt.Errorf("tags of %s: repository: %w", repo, err)
		}
	}
	return tags, nil
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
