package awsstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
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
