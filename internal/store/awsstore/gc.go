package awsstore

// Garbage collection (store.GCMetadata, store.GCBlobs).
//
// A mark is the item pk g#<digest>, sk g, with gcState (S) and since (N,
// epoch seconds): one partition per blob, so that the link writes that
// check marks spread over the table. LinkBlob and PutManifest delete the
// mark of their blob in their transaction, on the condition that it is
// absent or pending.
//
// ScanRecords is a strongly consistent Scan of the whole table, Limit n
// items a page (1 MB at most), so a page may hold fewer records than n:
// the items that are neither links, manifests, tags, sessions nor marks
// (refs, referrers, the catalog, identities) are read and dropped. Its
// cost is one read unit per 4 KB of the table per page.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/store"
)

var (
	_ store.GCMetadata = (*Metadata)(nil)
	_ store.GCBlobs    = (*Blobs)(nil)
)

const (
	markPrefix    = "g#"
	markSK        = "g"
	attrMarkState = "gcState"
	attrSince     = "since"
)

func markKey(d digest.Digest) map[string]dtypes.AttributeValue {
	return itemKey(markPrefix+d.String(), markSK)
}

// passMark is the transaction action that lets a write naming blob d go
// on: it deletes d's mark on the condition that it is absent or pending.
func (m *Metadata) passMark(d digest.Digest) txAction {
	var e ddbExpr
	cond := "attribute_not_exists(" + e.name(attrMarkState) + ") OR " + e.name(attrMarkState) + " = " + e.value(avS(string(store.MarkPending)))
	return txAction{kind: actMark, item: dtypes.TransactWriteItem{Delete: &dtypes.Delete{
		TableName: &m.table, Key: markKey(d), ConditionExpression: &cond,
		ExpressionAttributeNames: e.names, ExpressionAttributeValues: e.values,
	}}}
}

// markRefused reports whether the failed transaction tx was refused by the
// condition of its passMark action.
func markRefused(tx []txAction, reasons []dtypes.CancellationReason) bool {
	for i, a := range tx {
		if a.kind == actMark && cancelReason(reasons, i) == reasonConditionFailed {
			return true
		}
	}
	return false
}

// linkTransact writes the link item and the catalog item, and passes the
// mark of d, in one TransactWriteItems; it is made again after a conflict
// with another transaction (up to maxRaceAttempts).
func (m *Metadata) linkTransact(ctx context.Context, d digest.Digest, link, catalog map[string]dtypes.AttributeValue) error {
	tx := []txAction{{item: m.put(link)}, {item: m.put(catalog)}, m.passMark(d)}
	for attempt := 0; ; attempt++ {
		err := m.transactActions(ctx, tx)
		reasons := cancelReasons(err)
		switch {
		case err == nil:
			return nil
		case markRefused(tx, reasons):
			return store.ErrBlobDeleted
		case !lostRace(reasons) || attempt+1 >= maxRaceAttempts:
			return err
		}
		if err := ddbBackoff(ctx, attempt); err != nil {
			return err
		}
	}
}

// ScanRecords returns the links, manifests, sessions, site indexes and marks of one
// Scan page of n items (see above). The cursor is the page's last key.
func (m *Metadata) ScanRecords(ctx context.Context, cursor string, n int) ([]store.Record, string, error) {
	var start map[string]dtypes.AttributeValue
	if cursor != "" {
		var k [2]string
		if err := json.Unmarshal([]byte(cursor), &k); err != nil {
			return nil, "", fmt.Errorf("scan records: bad cursor: %w", err)
		}
		start = itemKey(k[0], k[1])
	}
	out, err := m.client.Scan(ctx, &dynamodb.ScanInput{
		TableName: &m.table, ConsistentRead: aws.Bool(true), Limit: aws.Int32(int32(max(1, min(n, 1<<20)))),
		ExclusiveStartKey: start,
	})
	if err != nil {
		return nil, "", fmt.Errorf("scan records: %w", err)
	}
	now := time.Now()
	var recs []store.Record
	for _, item := range out.Items {
		r, ok, err := recordFrom(item, now)
		if err != nil {
			return nil, "", fmt.Errorf("scan records: item %s %s: %w", getS(item, attrPK), getS(item, attrSK), err)
		}
		if ok {
			recs = append(recs, r)
		}
	}
	next := ""
	if len(out.LastEvaluatedKey) > 0 {
		b, _ := json.Marshal([2]string{getS(out.LastEvaluatedKey, attrPK), getS(out.LastEvaluatedKey, attrSK)})
		next = string(b)
	}
	return recs, next, nil
}

// recordFrom returns the record that item is, if it is one gc reads.
func recordFrom(item map[string]dtypes.AttributeValue, now time.Time) (store.Record, bool, error) {
	pk, sk := getS(item, attrPK), getS(item, attrSK)
	switch {
	case strings.HasPrefix(pk, "r#") && strings.HasPrefix(sk, linkPrefix):
		r := store.Record{Kind: store.RecordLink, Repository: pk[2:], Digest: digest.Digest(sk[len(linkPrefix):]), Time: itemTime(item, attrLinked)}
		r.Link.Location = getS(item, attrLocation)
		var err error
		r.Link.Size, err = getN(item, attrSize)
		return r, true, err
	case strings.HasPrefix(pk, "r#") && strings.HasPrefix(sk, maniPrefix):
		d := digest.Digest(sk[len(maniPrefix):])
		man, err := manifestFrom(item, d)
		return store.Record{Kind: store.RecordManifest, Repository: pk[2:], Digest: d, Manifest: man, Time: itemTime(item, attrPushed)}, true, err
	case strings.HasPrefix(pk, "r#") && strings.HasPrefix(sk, tagPrefix):
		return store.Record{Kind: store.RecordTag, Repository: pk[2:], Tag: sk[len(tagPrefix):],
			Digest: digest.Digest(getS(item, attrDigest)), Time: itemTime(item, attrPushed)}, true, nil
	case strings.HasPrefix(pk, "u#") && sk == sessionSK:
		u, _, err := sessionFrom(item, pk[2:], now)
		return store.Record{Kind: store.RecordUpload, Upload: u}, true, err
	case strings.HasPrefix(pk, "s#") && sk == siteSK:
		return store.Record{Kind: store.RecordSiteIndex, Digest: digest.Digest(getS(item, attrDigest))}, true, nil
	case strings.HasPrefix(pk, markPrefix) && sk == markSK:
		since, err := getN(item, attrSince)
		mk := store.BlobMark{Digest: digest.Digest(pk[len(markPrefix):]), State: store.MarkState(getS(item, attrMarkState)), Since: time.Unix(since, 0)}
		return store.Record{Kind: store.RecordMark, Digest: mk.Digest, Mark: mk}, true, err
	}
	return store.Record{}, false, nil
}

func markItem(mk store.BlobMark) map[string]dtypes.AttributeValue {
	item := markKey(mk.Digest)
	item[attrMarkState] = avS(string(mk.State))
	item[attrSince] = avN(mk.Since.Unix())
	return item
}

// isMark returns the condition that the mark item is old.
func isMark(e *ddbExpr, old store.BlobMark) string {
	return e.name(attrMarkState) + " = " + e.value(avS(string(old.State))) + " AND " + e.name(attrSince) + " = " + e.value(avN(old.Since.Unix()))
}

// Mark records mk unless its blob has a mark other than a tombstone. One
// conditional PutItem.
func (m *Metadata) Mark(ctx context.Context, mk store.BlobMark) error {
	var e ddbExpr
	cond := "attribute_not_exists(" + e.name(attrMarkState) + ") OR " + e.name(attrMarkState) + " = " + e.value(avS(string(store.MarkDeleted)))
	return m.writeMark(ctx, "mark", mk.Digest, markItem(mk), cond, &e)
}

// MoveMark replaces mark old with next. One conditional PutItem.
func (m *Metadata) MoveMark(ctx context.Context, old, next store.BlobMark) error {
	var e ddbExpr
	return m.writeMark(ctx, "move mark", old.Digest, markItem(next), isMark(&e, old), &e)
}

// Unmark removes mark old. One conditional DeleteItem.
func (m *Metadata) Unmark(ctx context.Context, old store.BlobMark) error {
	var e ddbExpr
	return m.writeMark(ctx, "unmark", old.Digest, nil, isMark(&e, old), &e)
}

// Revive removes blob d's tombstone. One conditional DeleteItem.
func (m *Metadata) Revive(ctx context.Context, d digest.Digest) error {
	var e ddbExpr
	cond := "attribute_not_exists(" + e.name(attrMarkState) + ") OR " + e.name(attrMarkState) + " = " + e.value(avS(string(store.MarkDeleted)))
	return m.writeMark(ctx, "revive", d, nil, cond, &e)
}

// writeMark puts item (nil: deletes d's mark) on condition cond.
func (m *Metadata) writeMark(ctx context.Context, what string, d digest.Digest, item map[string]dtypes.AttributeValue, cond string, e *ddbExpr) error {
	var err error
	if item != nil {
		_, err = m.client.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: &m.table, Item: item, ConditionExpression: &cond,
			ExpressionAttributeNames: e.names, ExpressionAttributeValues: e.values,
		})
	} else {
		_, err = m.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName: &m.table, Key: markKey(d), ConditionExpression: &cond,
			ExpressionAttributeNames: e.names, ExpressionAttributeValues: e.values,
		})
	}
	if isConditionFailed(err) {
		err = store.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, d, err)
	}
	return nil
}

// ListBlobs returns up to n blobs after cursor (a key). One
// ListObjectsV2 of up to 1000 keys.
func (b *Blobs) ListBlobs(ctx context.Context, cursor string, n int) ([]store.StoredBlob, string, error) {
	out, err := b.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket: &b.bucket, Prefix: aws.String("blobs/"), StartAfter: nonEmpty(cursor), MaxKeys: aws.Int32(int32(max(1, min(n, 1000)))),
	})
	if err != nil {
		return nil, "", fmt.Errorf("list blobs: %w", err)
	}
	var blobs []store.StoredBlob
	last := ""
	for _, o := range out.Contents {
		last = aws.ToString(o.Key)
		alg, hex, ok := strings.Cut(strings.TrimPrefix(last, "blobs/"), "/")
		d := digest.NewDigestFromEncoded(digest.Algorithm(alg), hex)
		if !ok || d.Validate() != nil {
			continue
		}
		blobs = append(blobs, store.StoredBlob{Digest: d, Size: aws.ToInt64(o.Size), Modified: aws.ToTime(o.LastModified)})
	}
	if !aws.ToBool(out.IsTruncated) {
		last = ""
	}
	return blobs, last, nil
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Leftover listings: the objects under uploads/, then those under
// assembled/, then the multipart uploads. A cursor is the listing's
// letter, '|' and where that listing goes on.
const (
	leftUploads   = "u"
	leftAssembled = "a"
	leftMultipart = "m"
	multipartKey  = "multipart:" // Leftover.Key of a multipart upload: multipartKey<upload id>:<key>
)

// Leftovers returns up to n of the objects under uploads/ and assembled/
// (one ListObjectsV2 a page) and the unfinished multipart uploads (one
// ListMultipartUploads a page), in that order.
func (b *Blobs) Leftovers(ctx context.Context, cursor string, n int) ([]store.Leftover, string, error) {
	which, after, _ := strings.Cut(cursor, "|")
	n = max(1, min(n, 1000))
	switch which {
	case "", leftUploads, leftAssembled:
		prefix, nextList := "uploads/", leftAssembled
		if which == leftAssembled {
			prefix, nextList = "assembled/", leftMultipart
		}
		out, err := b.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
			Bucket: &b.bucket, Prefix: &prefix, StartAfter: nonEmpty(after), MaxKeys: aws.Int32(int32(n)),
		})
		if err != nil {
			return nil, "", fmt.Errorf("leftovers: %w", err)
		}
		var ls []store.Leftover
		last := ""
		for _, o := range out.Contents {
			last = aws.ToString(o.Key)
			ls = append(ls, store.Leftover{Key: last, Upload: uploadOf(last), Size: aws.ToInt64(o.Size), Modified: aws.ToTime(o.LastModified)})
		}
		if aws.ToBool(out.IsTruncated) {
			return ls, string(prefix[0]) + "|" + last, nil
		}
		return ls, nextList + "|", nil
	case leftMultipart:
		keyMarker, idMarker, _ := strings.Cut(after, "|")
		out, err := b.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{
			Bucket: &b.bucket, KeyMarker: nonEmpty(keyMarker), UploadIdMarker: nonEmpty(idMarker), MaxUploads: aws.Int32(int32(n)),
		})
		if err != nil {
			return nil, "", fmt.Errorf("leftovers: %w", err)
		}
		var ls []store.Leftover
		for _, u := range out.Uploads {
			key := aws.ToString(u.Key)
			l := store.Leftover{Key: multipartKey + aws.ToString(u.UploadId) + ":" + key, Modified: aws.ToTime(u.Initiated)}
			l.Upload = uploadOf(key)
			ls = append(ls, l)
		}
		if aws.ToBool(out.IsTruncated) {
			return ls, leftMultipart + "|" + aws.ToString(out.NextKeyMarker) + "|" + aws.ToString(out.NextUploadIdMarker), nil
		}
		return ls, "", nil
	}
	return nil, "", fmt.Errorf("leftovers: bad cursor %q", cursor)
}

// uploadOf returns the upload id of key, under uploads/<id>/ or
// assembled/<id>[-<nonce>], or "".
func uploadOf(key string) string {
	if rest, ok := strings.CutPrefix(key, "uploads/"); ok {
		id, _, _ := strings.Cut(rest, "/")
		return id
	}
	if rest, ok := strings.CutPrefix(key, "assembled/"); ok {
		id, _, _ := strings.Cut(rest, "-")
		return id
	}
	return ""
}

// DeleteLeftover deletes an object (one DeleteObject) or aborts a
// multipart upload (one AbortMultipartUpload).
func (b *Blobs) DeleteLeftover(ctx context.Context, l store.Leftover) error {
	var err error
	if rest, ok := strings.CutPrefix(l.Key, multipartKey); ok {
		i := strings.LastIndex(rest, ":")
		if i < 0 {
			return fmt.Errorf("delete leftover %q: not a leftover", l.Key)
		}
		_, err = b.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &b.bucket, Key: aws.String(rest[i+1:]), UploadId: aws.String(rest[:i])})
	} else {
		if !strings.HasPrefix(l.Key, "uploads/") && !strings.HasPrefix(l.Key, "assembled/") {
			return fmt.Errorf("delete leftover %q: not a leftover", l.Key)
		}
		_, err = b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.bucket, Key: &l.Key})
	}
	var ae smithy.APIError
	if err != nil && !isNotFound(err) && !(errors.As(err, &ae) && ae.ErrorCode() == "NoSuchUpload") {
		return fmt.Errorf("delete leftover %s: %w", l.Key, err)
	}
	return nil
}

// Settle copies the bytes at location to blob d unless blob d exists (one
// HeadObject; when it is missing, one more and the copy: a CopyObject, or
// parallel UploadPartCopy above 256 MiB). The bytes at location were
// checked against d when the upload was committed; the copy is server
// side.
func (b *Blobs) Settle(ctx context.Context, d digest.Digest, location string) (int64, error) {
	if size, err := b.Stat(ctx, d); err == nil || !errors.Is(err, store.ErrNotFound) {
		return size, err
	}
	if !strings.HasPrefix(location, "assembled/") {
		return 0, fmt.Errorf("settle blob %s: unknown location %q", d, location)
	}
	head, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.bucket, Key: &location})
	if err != nil {
		return 0, fmt.Errorf("settle blob %s: %w", d, notFound(err))
	}
	size := aws.ToInt64(head.ContentLength)
	if err := b.copyLarge(ctx, location, blobKey(d), size); err != nil {
		return 0, fmt.Errorf("settle blob %s: %w", d, err)
	}
	return size, nil
}
