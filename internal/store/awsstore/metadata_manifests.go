package awsstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

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
// re-put) and each tag is new or names it already. Each tag is two small
// writes, its tag item and its ref, however many tags the manifest has.
//
// A transaction that fails on a condition returns the items that failed
// it (ReturnValuesOnConditionCheckFailure), and PutManifest writes again
// with what they hold. A tag that names another manifest is moved, and the
// ref saying so deleted in the same transaction: two requests. When the
// record changed (same digest, other media type or annotations), it reads
// the manifest's refs (Query) and writes again with the copies in the tags
// that name it and its referrer entry brought up to date: three requests.
// A put of more than about 48 tags is split (see the package layout
// notes). The body is kept when it is at most MaxInlineBody bytes long.
func (m *Metadata) PutManifest(ctx context.Context, repo string, man store.Manifest, tags []string) error {
	if err := m.putManifest(ctx, repo, man, tags, false); err != nil {
		return fmt.Errorf("put manifest %s in %s: %w", man.Digest, repo, err)
	}
	return nil
}

// putManifest is PutManifest; with fixed, it moves no tag (see
// PutManifestFixedTags).
func (m *Metadata) putManifest(ctx context.Context, repo string, man store.Manifest, tags []string, fixed bool) error {
	switch {
	case repo == "":
		return errors.New("empty repository name")
	case man.Digest == "":
		return errors.New("empty digest")
	case strings.Contains(man.Digest.String(), "#"):
		return errors.New("'#' in the digest") // the refs' keys rely on there being none
	case slices.Contains(tags, ""):
		return errors.New("empty tag")
	}
	rec := newManifestRecord(man)
	w := &manifestPut{
		repo: repo, d: man.Digest, rec: rec, rh: rec.hash(), tags: uniqueTags(tags),
		moved: map[string]digest.Digest{},
	}
	return retryLost(ctx, func() (bool, error) {
		w.learned = false
		err := m.putManifestOnce(ctx, w)
		if fixed && len(w.moved) > 0 {
			return false, movedError(w.moved)
		}
		return w.learned, err
	})
}

// retryLost calls once until it returns anything but errLostRace: at once
// after an attempt that learned what failed it (up to maxLearnedAttempts
// attempts in all), after a backoff otherwise (up to maxRaceAttempts
// attempts so lost); then it returns store.ErrConflict.
func retryLost(ctx context.Context, once func() (learned bool, err error)) error {
	lost := 0
	for attempt := 1; ; attempt++ {
		learned, err := once()
		if !errors.Is(err, errLostRace) {
			return err
		}
		if !learned {
			lost++
		}
		if lost >= maxRaceAttempts || attempt >= maxLearnedAttempts {
			return fmt.Errorf("lost %d races with other writers: %w", attempt, store.ErrConflict)
		}
		if !learned {
			if err := ddbBackoff(ctx, lost-1); err != nil {
				return err
			}
		}
	}
}

// maxLearnedAttempts bounds the attempts of a write whose conditions keep
// failing on items that other writers change (each failure is another
// writer's success).
const maxLearnedAttempts = 4 * maxRaceAttempts

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

// manifestPut is a PutManifest in progress: what it writes, and what it
// learned of the items it writes from the conditions that failed.
type manifestPut struct {
	repo string
	d    digest.Digest
	rec  manifestRecord
	rh   []byte // rec.hash()
	tags []string

	// moved holds the tags last seen naming another manifest, and which.
	moved map[string]digest.Digest
	// old is the manifest item last seen, when it holds another record
	// than rec (nil: none seen, or it holds rec).
	old map[string]types.AttributeValue
	// refs are the tags that old's manifest has refs to, those in tags
	// aside (nil: not read); stale are those of them seen not naming the
	// manifest, done those written since they were read.
	refs        []string
	stale, done map[string]bool
	// learned: the last attempt failed on conditions whose items it
	// learned, and may be made again at once.
	learned bool
}

// forget drops what w knows of the manifest item and its refs.
func (w *manifestPut) forget() {
	w.old, w.refs, w.stale, w.done = nil, nil, nil, nil
}

// txAction is an action of a transaction, with what the failure of its
// condition tells.
type txAction struct {
	item types.TransactWriteItem
	kind actionKind
	tag  string // the tag it writes
}

type actionKind int

const (
	actPlain     actionKind = iota // no condition, or one that tells nothing
	actManifest                    // the write of the manifest item (its old item on failure)
	actGuard                       // a check of the manifest item in a split write
	actTag                         // the Put of a tag pushed (its old item on failure)
	actCopy                        // the Put of a copy in a tag that names the manifest
	actRefDelete                   // the Delete of a stale ref
	actTagDelete                   // the Delete of a tag that names the manifest
	actMark                        // the Delete of a pending gc mark (gc.go)
)

// learn records what the cancellation reasons of the failed transaction
// tx tell: the manifest item holds another record (or is gone), a tag
// names another manifest, a tag to rewrite no longer names the manifest.
// Anything else (a conflict, a guard that failed) is a race.
func (w *manifestPut) learn(tx []txAction, reasons []types.CancellationReason) {
	learned, raced := false, false
	for i, r := range reasons {
		switch aws.ToString(r.Code) {
		case reasonConditionFailed:
		case "", "None":
			continue
		default:
			raced = true
			continue
		}
		if i >= len(tx) {
			raced = true
			continue
		}
		switch a := tx[i]; a.kind {
		case actManifest:
			w.forget()
			if len(r.Item) > 0 && !bytes.Equal(getB(r.Item, attrRecordHash), w.rh) {
				w.old = r.Item
			}
			learned = true
		case actTag:
			if o := digest.Digest(getS(r.Item, attrDigest)); o != "" && o != w.d {
				w.moved[a.tag] = o
			} else {
				delete(w.moved, a.tag)
			}
			learned = true
		case actCopy:
			if w.stale != nil {
				w.stale[a.tag] = true
			}
			learned = true
		default:
			w.forget()
			raced = true
		}
	}
	w.learned = learned && !raced
}

// putManifestOnce makes one attempt at PutManifest with what w knows;
// errLostRace when it lost a race (w.learned when it learned why).
func (m *Metadata) putManifestOnce(ctx context.Context, w *manifestPut) error {
	if w.old != nil && w.refs == nil {
		var refs []string
		if _, ok := w.old[attrTagged]; ok { // never tagged: no refs
			var err error
			if refs, err = m.tagRefs(ctx, w.repo, w.d); err != nil {
				return err
			}
		}
		pushed := make(map[string]bool, len(w.tags))
		for _, t := range w.tags {
			pushed[t] = true
		}
		w.refs = slices.DeleteFunc(refs, func(t string) bool { return pushed[t] })
		if w.refs == nil {
			w.refs = []string{} // read: none
		}
		w.stale, w.done = map[string]bool{}, map[string]bool{}
	}

	// The manifest item, its referrer entry and the catalog item; when its
	// record changed, the copies in the tags that name it.
	var main []txAction
	var copies [][]txAction
	var version int64
	if w.old == nil {
		// The manifest is new, or its record is the same.
		var e ddbExpr
		cond := "attribute_not_exists(" + e.name(attrPK) + ") OR " + e.name(attrRecordHash) + " = " + e.value(avB(w.rh))
		main = append(main, m.manifestUpdate(w, cond, &e))
	} else {
		var err error
		if version, err = getN(w.old, attrVersion); err != nil {
			return err
		}
		var e ddbExpr
		main = append(main, m.manifestUpdate(w, e.name(attrVersion)+" = "+e.value(avN(version)), &e))
		oldSubject := digest.Digest(getS(w.old, attrSubject))
		oldType := getS(w.old, attrArtifactType)
		if oldSubject != "" && (oldSubject != w.rec.Subject || oldType != w.rec.ArtifactType) {
			main = append(main, txAction{item: m.delete(referrerKey(w.repo, oldSubject, oldType, w.d))})
		}
		for _, t := range w.refs {
			switch {
			case w.done[t]:
			case w.stale[t]:
				// Deleted in a transaction that checks the manifest's
				// version: no tag can have come to name it since.
				copies = append(copies, []txAction{{item: m.delete(refKey(w.repo, w.d, t)), kind: actRefDelete, tag: t}})
			default:
				var e ddbExpr
				p := m.put(m.tagItem(w.repo, t, w.d, w.rec))
				p.Put.ConditionExpression = aws.String(e.name(attrDigest) + " = " + e.value(avS(w.d.String())))
				p.Put.ExpressionAttributeNames, p.Put.ExpressionAttributeValues = e.names, e.values
				copies = append(copies, []txAction{{item: p, kind: actCopy, tag: t}})
			}
		}
	}
	if w.rec.Subject != "" {
		main = append(main, txAction{item: m.put(m.referrerItem(w.repo, w.d, w.rec))})
	}
	main = append(main, txAction{item: m.put(catalogKey(w.repo))}, m.passMark(w.d))
	tagged := make([][]txAction, len(w.tags))
	for i, t := range w.tags {
		tagged[i] = m.tagActions(w, t)
	}

	if len(main)+actions(copies)+actions(tagged) <= maxTransactItems {
		// The usual case: one transaction.
		tx := main
		for _, g := range slices.Concat(copies, tagged) {
			tx = append(tx, g...)
		}
		return m.putTransact(ctx, w, tx)
	}

	// Too many for one: the copies first, checking that the manifest item
	// is the one read; then the manifest item with the first tags; then
	// the other tags, checking that it still holds the record and is
	// marked tagged.
	if len(copies) > 0 {
		var e ddbExpr
		for _, tx := range pack(m.guard(w.repo, w.d, e.name(attrVersion)+" = "+e.value(avN(version)), &e), copies) {
			if err := m.putTransact(ctx, w, tx); err != nil {
				return err
			}
		}
	}
	tx, rest := fill(main, tagged)
	if err := m.putTransact(ctx, w, tx); err != nil {
		return err
	}
	tags := w.tags[len(w.tags)-len(rest):]
	var e ddbExpr
	guard := m.guard(w.repo, w.d, e.name(attrRecordHash)+" = "+e.value(avB(w.rh))+" AND "+
		e.name(attrTagged)+" = "+e.value(avBool(true)), &e)
	for tries := 1; len(tags) > 0; {
		// Built again from what w knows each time: a transaction that
		// failed on tags naming other manifests is made again at once.
		tx := []txAction{guard}
		n := 0
		for ; n < len(tags); n++ {
			g := m.tagActions(w, tags[n])
			if len(tx)+len(g) > maxTransactItems {
				break
			}
			tx = append(tx, g...)
		}
		err := m.putTransact(ctx, w, tx)
		switch {
		case err == nil:
			tags, tries = tags[n:], 1
		case errors.Is(err, errLostRace) && w.learned && tries < maxLearnedAttempts:
			tries++
		default:
			return err
		}
	}
	return nil
}

// putTransact runs transaction tx of a PutManifest, and records in w what
// its success or its failure tells; errLostRace when it lost a race.
func (m *Metadata) putTransact(ctx context.Context, w *manifestPut, tx []txAction) error {
	if err := m.transactActions(ctx, tx); err != nil {
		reasons := cancelReasons(err)
		if markRefused(tx, reasons) {
			return store.ErrBlobDeleted
		}
		if !lostRace(reasons) {
			return err
		}
		w.learn(tx, reasons)
		return errLostRace
	}
	for _, a := range tx {
		switch a.kind {
		case actTag:
			delete(w.moved, a.tag)
		case actCopy, actRefDelete:
			if w.done != nil {
				w.done[a.tag] = true
			}
		}
	}
	return nil
}

// tagActions returns the actions that point tag t at w's manifest: the
// tag item, on the condition that it names the manifest w last saw it
// name (or this one, or is new), and its ref; and when it names another
// manifest, the Delete of that one's ref.
func (m *Metadata) tagActions(w *manifestPut, t string) []txAction {
	var e ddbExpr
	var cond string
	o, moving := w.moved[t]
	if moving {
		cond = e.name(attrDigest) + " = " + e.value(avS(o.String()))
	} else {
		cond = "attribute_not_exists(" + e.name(attrPK) + ") OR " + e.name(attrDigest) + " = " + e.value(avS(w.d.String()))
	}
	p := m.put(m.tagItem(w.repo, t, w.d, w.rec))
	p.Put.ConditionExpression = &cond
	p.Put.ExpressionAttributeNames, p.Put.ExpressionAttributeValues = e.names, e.values
	p.Put.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
	acts := []txAction{{item: p, kind: actTag, tag: t}, {item: m.put(refKey(w.repo, w.d, t))}}
	if moving {
		acts = append(acts, txAction{item: m.delete(refKey(w.repo, o, t))})
	}
	return acts
}

// actions returns the number of actions in groups.
func actions(groups [][]txAction) int {
	n := 0
	for _, g := range groups {
		n += len(g)
	}
	return n
}

// fill appends to tx the first of groups that fit in one transaction with
// it, each whole, and returns it and the groups left.
func fill(tx []txAction, groups [][]txAction) ([]txAction, [][]txAction) {
	for len(groups) > 0 && len(tx)+len(groups[0]) <= maxTransactItems {
		tx = append(tx, groups[0]...)
		groups = groups[1:]
	}
	return tx, groups
}

// pack packs groups, each whole, into transactions that start with guard.
func pack(guard txAction, groups [][]txAction) [][]txAction {
	var txs [][]txAction
	for len(groups) > 0 {
		var tx []txAction
		tx, groups = fill([]txAction{guard}, groups)
		txs = append(txs, tx)
	}
	return txs
}

// manifestUpdate returns the Update that writes w's record to the manifest
// item, marks it tagged when w has tags and counts a version, on condition
// cond (built with e); it returns the old item when cond fails.
func (m *Metadata) manifestUpdate(w *manifestPut, cond string, e *ddbExpr) txAction {
	attrs := map[string]types.AttributeValue{}
	w.rec.put(attrs, true)
	set := []string{e.name(attrRecordHash) + " = " + e.value(avB(w.rh)), e.name(attrPushed) + " = " + e.value(avN(time.Now().UnixNano()))}
	if len(w.tags) > 0 {
		set = append(set, e.name(attrTagged)+" = "+e.value(avBool(true)))
	}
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
	return txAction{kind: actManifest, item: types.TransactWriteItem{Update: &types.Update{
		TableName:                           &m.table,
		Key:                                 manifestKey(w.repo, w.d),
		UpdateExpression:                    &update,
		ConditionExpression:                 &cond,
		ExpressionAttributeNames:            e.names,
		ExpressionAttributeValues:           e.values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}}}
}

// guard returns a check of condition cond (built with e) on the manifest
// item of d.
func (m *Metadata) guard(repo string, d digest.Digest, cond string, e *ddbExpr) txAction {
	return txAction{kind: actGuard, item: types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName:                 &m.table,
		Key:                       manifestKey(repo, d),
		ConditionExpression:       &cond,
		ExpressionAttributeNames:  e.names,
		ExpressionAttributeValues: e.values,
	}}}
}

// put returns a Put of item.
func (m *Metadata) put(item map[string]types.AttributeValue) types.TransactWriteItem {
	return types.TransactWriteItem{Put: &types.Put{TableName: &m.table, Item: item}}
}

// delete returns a Delete of the item of key.
func (m *Metadata) delete(key map[string]types.AttributeValue) types.TransactWriteItem {
	return types.TransactWriteItem{Delete: &types.Delete{TableName: &m.table, Key: key}}
}

// transactActions runs one TransactWriteItems of tx.
func (m *Metadata) transactActions(ctx context.Context, tx []txAction) error {
	items := make([]types.TransactWriteItem, len(tx))
	for i, a := range tx {
		items[i] = a.item
	}
	return m.transact(ctx, items)
}

// tagItem returns the item of tag, naming manifest d of record rec.
func (m *Metadata) tagItem(repo, tag string, d digest.Digest, rec manifestRecord) map[string]types.AttributeValue {
	item := tagKey(repo, tag)
	item[attrDigest] = avS(d.String())
	item[attrPushed] = avN(time.Now().UnixNano())
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
	// The manifest item first: a tag pushed after this read changes its
	// version, which the delete checks, even if the refs read next miss it.
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
	var refs []string
	if _, ok := item[attrTagged]; ok { // never tagged: no refs
		if refs, err = m.tagRefs(ctx, repo, d); err != nil {
			return err
		}
	}

	var final []txAction
	if subject := digest.Digest(getS(item, attrSubject)); subject != "" {
		final = append(final, txAction{item: m.delete(referrerKey(repo, subject, getS(item, attrArtifactType), d))})
	}
	var e ddbExpr
	del := &types.Delete{
		TableName:                 &m.table,
		Key:                       manifestKey(repo, d),
		ConditionExpression:       aws.String(e.name(attrVersion) + " = " + e.value(avN(version))),
		ExpressionAttributeNames:  e.names,
		ExpressionAttributeValues: e.values,
	}
	final = append(final, txAction{item: types.TransactWriteItem{Delete: del}, kind: actManifest})
	if len(refs) == 0 && len(final) == 1 {
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
