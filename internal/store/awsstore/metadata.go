package awsstore

// # DynamoDB layout
//
// Metadata keeps every record in one table with two string keys, pk
// (partition) and sk (sort). DynamoDB orders sort keys by their UTF-8
// bytes, which is Go's string order, so every listing comes in byte order.
//
//	item          pk                       sk                              attributes
//	------------  -----------------------  ------------------------------  -----------------------------------------------
//	catalog       repos                    <repo>                          (none)
//	tag           r#<repo>                 t#<tag>                         digest; a copy of the manifest record (below);
//	                                                                       pushed (N; retention.go)
//	manifest      r#<repo>                 m#<digest>                      the manifest record, rhash (B), version (N),
//	                                                                       tagged (BOOL: true once a tag was pushed),
//	                                                                       pushed (N; retention.go)
//	tag ref       r#<repo>                 n#<digest>#<tag>                (none): tag names manifest digest
//	blob link     r#<repo>                 b#<digest>                      size (N), location (S; absent when ""),
//	                                                                       linked (N; retention.go)
//	referrer      f#<repo>#<subject>       store.ReferrerKey(type, digest) digest, mediaType, size, artifactType, annotations
//	upload        u#<id>                   u                               repository, offset (N), hash (B), state (B),
//	                                                                       version (N), expires (N), owner
//	gc mark       g#<digest>               g                               gcState (S), since (N) (see gc.go)
//	policy        policies                 <pattern>                       policy (S: JSON store.Policy; policy.go)
//	identity      identities               <name>                          kind, secret, grants (L of M: pattern (S),
//	                                                                       actions (L of S)), created (N), notAfter (N)
//	site index    s#<manifest digest>      i                               digest: the blob of the index of the
//	                                                                       manifest's unpacked site (package site)
//
// The manifest record is mediaType (S), size (N), artifactType (S),
// annotations (M of S), subject (S) and body (B): the manifest's bytes when
// they are at most MaxInlineBody long. Attributes that would be empty are
// left out. rhash is the SHA-256 of the record, so that a write can tell in
// its condition whether it changes the record. version counts the writes
// of the manifest item; a delete is conditioned on it.
//
// A tag ref lets DeleteManifest find the tags of a manifest with a Query
// of the prefix n#<digest># (a digest has no '#', so the prefix is no
// other manifest's; PutManifest refuses a digest with one), at a constant
// cost per tag: the manifest item does not grow with its tags. No listing
// reads the prefix n#: tags are listed from t# (up to t$), and manifests
// and blob links are read by key. A table written by an earlier version
// (whose manifest items kept a set of tag names instead) lacks the refs
// and the tagged mark, and DeleteManifest would leave its tags: there is
// no such deployment, so nothing migrates one.
//
// expires is the table's TTL attribute (epoch seconds, so a session's
// Expires is kept to the second; absent: never). DynamoDB deletes expired
// items only eventually (and DynamoDB Local never does), so every read of a
// session checks expires itself, and UpdateUpload's condition does too.
//
// Every identity (store.Identities) is in the one partition identities,
// under its name, so that ListIdentities is one Query and Identity, on the
// login path, one GetItem. No other partition key is identities (the
// others are repos or start with a letter and '#'), so an identity may
// have any name a repository or an upload has. created and notAfter (the
// identity's Expires) are epoch seconds, so both are kept to the second;
// notAfter is not expires, the TTL attribute, which would have DynamoDB
// delete a robot's item when its token expires. A partition serves about
// 3000 strongly consistent reads of small items a second, for the lookups
// of all identities together: a caller that checks credentials on every
// registry request, not only at login, should cache what Identity returns.
//
// # Reads and writes
//
// Every read is strongly consistent (ConsistentRead) and goes to the table
// itself: there is no secondary index, and no Scan but garbage
// collection's (gc.go). Each method's
// documentation says how many requests it makes; the usual counts are:
//
//	Tag                 1 GetItem (the tag item carries the manifest record)
//	Manifest, Blob      1 GetItem
//	Upload              1 GetItem
//	PutManifest         1 TransactWriteItems (new manifest, or same record again,
//	                    and new tags or tags naming it already);
//	                    2 when a tag moves from another manifest: the failed
//	                    TransactWriteItems (which returns the tag item), then
//	                    the one that moves it;
//	                    3 when the record changed: the failed TransactWriteItems
//	                    (which returns the manifest item), Query (its refs),
//	                    TransactWriteItems
//	DeleteManifest      GetItem + Query (its refs) + TransactWriteItems;
//	                    GetItem + DeleteItem for a manifest never tagged, no subject
//	DeleteTag           DeleteItem (returns the tag item) + TransactWriteItems (its ref)
//	Tags                1 Query (+1 GetItem of the catalog when the page is empty)
//	Referrers           1 Query
//	Repositories        1 Query
//	LinkBlob            1 TransactWriteItems (the link, the catalog item, the gc mark)
//	SiteIndex           1 GetItem
//	PutSiteIndex        1 PutItem
//	UnlinkBlob          1 DeleteItem
//	BlobSizes, Missing… 1 BatchGetItem per 100 digests (none for no digests)
//	CreateUpload        1 PutItem
//	UpdateUpload        1 PutItem
//	DeleteUpload        1 DeleteItem
//	PutIdentity         1 PutItem
//	Identity            1 GetItem
//	DeleteIdentity      1 DeleteItem (conditioned on the item's existence)
//	ListIdentities      1 Query (+1 per further MB of identities)
//
// A Query returns at most 1 MB; when that cuts a page short the listing goes
// on with another Query, so a page is never shorter than asked unless the
// listing ends. Tag items carry the manifest record (up to MaxInlineBody of
// body), so a tags listing reads more than the names (about 150 tags of
// inline manifests per MB): it trades a dearer listing for a pull by tag
// that is one read. A transaction costs two write units per item: LinkBlob
// is one (6 write units; a BatchWriteItem of its two items would cost 2)
// because its link must not be written once garbage collection claimed
// the blob (gc.go).
//
// # Consistency
//
// PutManifest writes the manifest item, its tag items and their refs, its
// referrer item and the catalog item in one transaction. The manifest item
// is the lock: a tag item (and its ref) is only written in a transaction
// that also writes (or checks) its manifest item, and every write of the
// manifest item counts a version. DeleteManifest reads the manifest item,
// then its refs, and deletes the tags with the condition that they still
// name the manifest, with their refs, together with the manifest item on
// the condition that its version is the one it read: a tag pushed after
// that read fails the transaction. A tag that moves away from a manifest
// does not touch that manifest's item: its own condition (that it names
// that manifest) orders the move and the delete. A manifest item is marked
// tagged by the first put with tags (the transactions of a split put that
// follow check the mark), so a manifest never marked has no refs, and
// DeleteManifest does not look for them. A lost race is read again and
// retried (a few times, then ErrConflict).
//
// Every tag item naming a manifest has its ref. A tag item is put on the
// condition that it is new or names the manifest it was last seen naming;
// when it names another manifest, the failed transaction returns it
// (ReturnValuesOnConditionCheckFailure), and the write is made again with
// the tag moved and the other manifest's ref deleted in the same
// transaction. DeleteTag deletes the tag item, which returns the manifest
// it named, then the ref, on the condition that the tag does not name that
// manifest again by then. A ref whose tag does not name its manifest
// (stale: a DeleteTag stopped between its two writes, or lost every race
// of the second) is harmless, and there is at most one per such DeleteTag:
// DeleteManifest, and a put of the manifest that changes its record, find
// that the tag does not name it (the condition of the tag's delete or
// rewrite fails) and delete the ref in a transaction that checks the
// manifest's version, so that no tag can have come to name it since.
//
// Putting a manifest whose record changed (same digest, other media type or
// annotations) rewrites the copies in the tag items that still name it,
// found by its refs, and moves its referrer item when its subject or
// artifact type changed.
//
// Limits: a transaction holds at most 100 actions. A tag costs two (its
// item and its ref; three when it moves). A PutManifest or DeleteManifest
// that needs more (about 48 tags or more) is split: rewritten tag copies
// and deleted tags go first, in transactions of their own that check the
// manifest's version (each tag still conditioned on naming the manifest),
// then the manifest item with the rest; tags beyond the first transaction
// of a PutManifest follow it, each transaction checking that the manifest
// item still holds the record. Such a split write is not atomic as a whole.
// A manifest may have any number of tags: each tag push writes the same
// few items whatever their number. An item holds at most 400 KB: a
// manifest whose annotations come near that cannot be recorded.

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/store"
)

// MaxInlineBody is the size of the longest manifest body that Metadata
// keeps in the manifest's items, so that a pull by tag is one read. Longer
// bodies are only in Blobs (Manifest and Tag return Body nil). A strongly
// consistent read costs one read unit per 4 KB, so the limit stays small.
const MaxInlineBody = 6 << 10

// Metadata is a store.Metadata kept in one DynamoDB table (see the layout
// above). It is safe for concurrent use.
type Metadata struct {
	client *dynamodb.Client
	table  string
}

var _ store.Metadata = (*Metadata)(nil)

// NewMetadata returns the metadata store kept in table, through client
// (see NewClients). It makes no request; CreateTable creates the table.
func NewMetadata(client *dynamodb.Client, table string) *Metadata {
	return &Metadata{client: client, table: table}
}

// Table returns the name of the table.
func (m *Metadata) Table() string { return m.table }

// Attribute names.
const (
	attrPK                = "pk"
	attrSK                = "sk"
	attrDigest            = "digest"
	attrMediaType         = "mediaType"
	attrSize              = "size"
	attrArtifactType      = "artifactType"
	attrAnnotations       = "annotations"
	attrAnnotationsInBody = "annotationsInBody"
	attrSubject           = "subject"
	attrBody              = "body"
	attrRecordHash        = "rhash"
	attrVersion           = "version"
	attrTagged            = "tagged"
	attrLocation          = "location"
	attrRepository        = "repository"
	attrOffset            = "offset"
	attrHash              = "hash"
	attrState             = "state"
	attrExpires           = "expires"
	attrOwner             = "owner"
)

// Keys.
const (
	catalogPK  = "repos"
	sessionSK  = "u"
	tagPrefix  = "t#"
	tagsEnd    = "t$" // '$' is '#'+1: after every tag key
	maniPrefix = "m#"
	linkPrefix = "b#"
	refPrefix  = "n#" // n#<digest>#<tag>: a tag ref (see the layout)
)

func repoPK(repo string) string { return "r#" + repo }
func referrersPK(repo string, subject digest.Digest) string {
	return "f#" + repo + "#" + subject.String()
}
func sessionPK(id string) string { return "u#" + id }

// itemKey returns the key attributes of an item.
func itemKey(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: avS(pk), attrSK: avS(sk)}
}

func tagKey(repo, tag string) map[string]types.AttributeValue {
	return itemKey(repoPK(repo), tagPrefix+tag)
}

func manifestKey(repo string, d digest.Digest) map[string]types.AttributeValue {
	return itemKey(repoPK(repo), maniPrefix+d.String())
}

// refsPrefix returns the prefix of the sort keys of the tag refs of
// manifest d: a digest has no '#', so no other manifest's refs share it.
func refsPrefix(d digest.Digest) string { return refPrefix + d.String() + "#" }

// refKey returns the key of the tag ref that says tag names manifest d.
func refKey(repo string, d digest.Digest, tag string) map[string]types.AttributeValue {
	return itemKey(repoPK(repo), refsPrefix(d)+tag)
}

func linkKey(repo string, d digest.Digest) map[string]types.AttributeValue {
	return itemKey(repoPK(repo), linkPrefix+d.String())
}

func catalogKey(repo string) map[string]types.AttributeValue {
	return itemKey(catalogPK, repo)
}

func referrerKey(repo string, subject digest.Digest, artifactType string, d digest.Digest) map[string]types.AttributeValue {
	return itemKey(referrersPK(repo, subject), store.ReferrerKey(artifactType, d))
}

// CreateTable creates the table when it does not exist (on-demand
// capacity, keys pk and sk), waits until it is active, and turns on TTL on
// the attribute expires. A table that exists is left as it is, its TTL
// setting aside. It is for local servers, tests and LocalStack; in AWS the
// template creates the table.
func (m *Metadata) CreateTable(ctx context.Context) error {
	_, err := m.client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &m.table})
	var notFound *types.ResourceNotFoundException
	switch {
	case errors.As(err, &notFound):
		_, err = m.client.CreateTable(ctx, &dynamodb.CreateTableInput{
			TableName:   &m.table,
			BillingMode: types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{
				{AttributeName: aws.String(attrPK), AttributeType: types.ScalarAttributeTypeS},
				{AttributeName: aws.String(attrSK), AttributeType: types.ScalarAttributeTypeS},
			},
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(attrSK), KeyType: types.KeyTypeRange},
			},
		})
		var inUse *types.ResourceInUseException
		if err != nil && !errors.As(err, &inUse) { // in use: created meanwhile
			return fmt.Errorf("create table %s: %w", m.table, err)
		}
	case err != nil:
		return fmt.Errorf("describe table %s: %w", m.table, err)
	}
	if err := m.waitActive(ctx); err != nil {
		return err
	}

	ttl, err := m.client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: &m.table})
	if err != nil {
		return fmt.Errorf("describe TTL of table %s: %w", m.table, err)
	}
	if d := ttl.TimeToLiveDescription; d != nil && aws.ToString(d.AttributeName) == attrExpires &&
		(d.TimeToLiveStatus == types.TimeToLiveStatusEnabled || d.TimeToLiveStatus == types.TimeToLiveStatusEnabling) {
		return nil
	}
	_, err = m.client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: &m.table,
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(attrExpires),
			Enabled:       aws.Bool(true),
		},
	})
	if err != nil {
		return fmt.Errorf("enable TTL on table %s: %w", m.table, err)
	}
	return nil
}

// tableActiveWait bounds the wait for a new table to become active.
const tableActiveWait = 5 * time.Minute

// waitActive waits until the table is active.
func (m *Metadata) waitActive(ctx context.Context) error {
	deadline := time.Now().Add(tableActiveWait)
	delay := 50 * time.Millisecond
	for {
		out, err := m.client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &m.table})
		var notFound *types.ResourceNotFoundException
		switch {
		case errors.As(err, &notFound):
		case err != nil:
			return fmt.Errorf("describe table %s: %w", m.table, err)
		case out.Table != nil && out.Table.TableStatus == types.TableStatusActive:
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("table %s: not active after %s", m.table, tableActiveWait)
		}
		if err := ddbSleep(ctx, delay); err != nil {
			return fmt.Errorf("wait for table %s: %w", m.table, err)
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// DeleteTable deletes the table and everything in it. It is for tests.
func (m *Metadata) DeleteTable(ctx context.Context) error {
	if _, err := m.client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: &m.table}); err != nil {
		return fmt.Errorf("delete table %s: %w", m.table, err)
	}
	return nil
}

// Attribute values.

func avS(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
func avN(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}
func avB(b []byte) types.AttributeValue  { return &types.AttributeValueMemberB{Value: b} }
func avBool(b bool) types.AttributeValue { return &types.AttributeValueMemberBOOL{Value: b} }

// getS returns the string attribute name of item, or "".
func getS(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// getN returns the number attribute name of item, or 0.
func getN(item map[string]types.AttributeValue, name string) (int64, error) {
	v, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, nil
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("attribute %s: %w", name, err)
	}
	return n, nil
}

// getB returns the binary attribute name of item, or nil.
func getB(item map[string]types.AttributeValue, name string) []byte {
	if v, ok := item[name].(*types.AttributeValueMemberB); ok && len(v.Value) > 0 {
		return v.Value
	}
	return nil
}

// manifestRecord is the manifest record: the attributes of a manifest that its
// manifest item, its tag items and (but for the body and subject) its
// referrer item hold.
type manifestRecord struct {
	MediaType    string            `json:"mediaType"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	// AnnotationsInBody: the annotations were over MaxAnnotations and are
	// not kept (store.Manifest.AnnotationsInBody).
	AnnotationsInBody bool          `json:"annotationsInBody,omitempty"`
	Subject           digest.Digest `json:"subject,omitempty"`
	Body              []byte        `json:"body,omitempty"`
}

func newManifestRecord(man store.Manifest) manifestRecord {
	r := manifestRecord{
		MediaType:    man.MediaType,
		Size:         man.Size,
		ArtifactType: man.ArtifactType,
		Annotations:  man.Annotations,
		Subject:      man.Subject,
	}
	if len(man.Annotations) == 0 {
		r.Annotations = nil
	}
	if store.AnnotationsSize(man.Annotations) > MaxAnnotations || man.AnnotationsInBody {
		r.Annotations, r.AnnotationsInBody = nil, true
	}
	if len(man.Body) > 0 && len(man.Body) <= MaxInlineBody {
		r.Body = man.Body
	}
	return r
}

// MaxAnnotations is the most bytes of annotations (keys and values) that
// the items of a manifest keep: an item holds at most 400 KB, and a
// manifest may have 4 MiB of annotations. Larger annotations are left in
// the manifest's body (store.Manifest.AnnotationsInBody).
const MaxAnnotations = store.MaxRecordAnnotations

// hash returns the SHA-256 of the record's JSON (whose map keys are
// sorted), which tells two records apart.
func (r manifestRecord) hash() []byte {
	b, err := json.Marshal(r)
	if err != nil { // a struct of strings, numbers and bytes
		panic(err)
	}
	h := sha256.Sum256(b)
	return h[:]
}

// put adds the record's attributes to item; with body false, all but the
// body and the subject (a referrer item's).
func (r manifestRecord) put(item map[string]types.AttributeValue, body bool) {
	item[attrMediaType] = avS(r.MediaType)
	item[attrSize] = avN(r.Size)
	if r.ArtifactType != "" {
		item[attrArtifactType] = avS(r.ArtifactType)
	}
	if len(r.Annotations) > 0 {
		ann := make(map[string]types.AttributeValue, len(r.Annotations))
		for k, v := range r.Annotations {
			ann[k] = avS(v)
		}
		item[attrAnnotations] = &types.AttributeValueMemberM{Value: ann}
	}
	if r.AnnotationsInBody {
		item[attrAnnotationsInBody] = &types.AttributeValueMemberBOOL{Value: true}
	}
	if !body {
		return
	}
	if r.Subject != "" {
		item[attrSubject] = avS(r.Subject.String())
	}
	if len(r.Body) > 0 {
		item[attrBody] = avB(r.Body)
	}
}

// recordAttrs are the attributes of a record, in the order put writes them.
var recordAttrs = []string{attrMediaType, attrSize, attrArtifactType, attrAnnotations, attrAnnotationsInBody, attrSubject, attrBody}

// manifestFrom returns the manifest d whose record item holds.
func manifestFrom(item map[string]types.AttributeValue, d digest.Digest) (store.Manifest, error) {
	size, err := getN(item, attrSize)
	if err != nil {
		return store.Manifest{}, err
	}
	man := store.Manifest{
		Digest:       d,
		MediaType:    getS(item, attrMediaType),
		Size:         size,
		ArtifactType: getS(item, attrArtifactType),
		Subject:      digest.Digest(getS(item, attrSubject)),
		Body:         getB(item, attrBody),
	}
	if v, ok := item[attrAnnotationsInBody].(*types.AttributeValueMemberBOOL); ok {
		man.AnnotationsInBody = v.Value
	}
	if v, ok := item[attrAnnotations].(*types.AttributeValueMemberM); ok && len(v.Value) > 0 {
		man.Annotations = make(map[string]string, len(v.Value))
		for k, a := range v.Value {
			s, ok := a.(*types.AttributeValueMemberS)
			if !ok {
				return store.Manifest{}, fmt.Errorf("annotation %q is not a string", k)
			}
			man.Annotations[k] = s.Value
		}
	}
	return man, nil
}

// ddbExpr builds the expression attribute names and values of one request.
type ddbExpr struct {
	names  map[string]string
	values map[string]types.AttributeValue
}

// name returns the placeholder of attribute name.
func (e *ddbExpr) name(name string) string {
	if e.names == nil {
		e.names = map[string]string{}
	}
	p := "#" + name
	e.names[p] = name
	return p
}

// value returns a placeholder for v.
func (e *ddbExpr) value(v types.AttributeValue) string {
	if e.values == nil {
		e.values = map[string]types.AttributeValue{}
	}
	p := ":v" + strconv.Itoa(len(e.values))
	e.values[p] = v
	return p
}

// Errors and retries.

// maxRaceAttempts bounds the attempts of a write that lost a race (a condition
// that failed because of a concurrent write, or a transaction conflict).
const maxRaceAttempts = 5

// maxBatchRetries bounds the retries of the unprocessed part of a batch.
const maxBatchRetries = 8

// maxTransactItems is the most actions one TransactWriteItems may hold.
const maxTransactItems = 100

// maxBatchGet is the most keys one BatchGetItem may hold.
const maxBatchGet = 100

// errLostRace marks an attempt that lost a race and may be tried again.
var errLostRace = errors.New("lost a race")

// isConditionFailed reports whether err is a failed condition of a
// single-item write.
func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// cancelReasons returns the cancellation reasons of a canceled transaction, or
// nil when err is not one.
func cancelReasons(err error) []types.CancellationReason {
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return nil
	}
	if tce.CancellationReasons == nil {
		return []types.CancellationReason{}
	}
	return tce.CancellationReasons
}

// Cancellation reason codes.
const (
	reasonConditionFailed = "ConditionalCheckFailed"
	reasonConflict        = "TransactionConflict"
)

// cancelReason returns the cancellation code of action i, or "".
func cancelReason(reasons []types.CancellationReason, i int) string {
	if i < len(reasons) {
		return aws.ToString(reasons[i].Code)
	}
	return ""
}

// lostRace reports whether a transaction canceled for reasons lost a race
// (a failed condition or a conflict with another transaction).
func lostRace(reasons []types.CancellationReason) bool {
	for _, r := range reasons {
		switch aws.ToString(r.Code) {
		case reasonConditionFailed, reasonConflict:
			return true
		}
	}
	return false
}

// ddbBackoff waits before retry attempt (0 for the first retry).
func ddbBackoff(ctx context.Context, attempt int) error {
	d := time.Duration(10<<min(attempt, 6)) * time.Millisecond
	return ddbSleep(ctx, d/2+rand.N(d/2+1))
}

// ddbSleep waits for d or until ctx is done.
func ddbSleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// transact runs one TransactWriteItems.
func (m *Metadata) transact(ctx context.Context, items []types.TransactWriteItem) error {
	_, err := m.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	return err
}

// getItem reads one item, strongly consistent; nil when there is none.
func (m *Metadata) getItem(ctx context.Context, k map[string]types.AttributeValue) (map[string]types.AttributeValue, error) {
	out, err := m.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      &m.table,
		Key:            k,
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, err
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	return out.Item, nil
}

// batchGet reads the items of keys (no two alike), strongly consistent,
// with only the attributes in projection (all when it is empty), in
// BatchGetItem requests of up to 100 keys, and calls found with each item
// there is.
func (m *Metadata) batchGet(ctx context.Context, keys []map[string]types.AttributeValue, projection []string, found func(map[string]types.AttributeValue) error) error {
	var e ddbExpr
	var proj *string
	if len(projection) > 0 {
		ps := make([]string, len(projection))
		for i, p := range projection {
			ps[i] = e.name(p)
		}
		proj = aws.String(strings.Join(ps, ", "))
	}
	for len(keys) > 0 {
		n := min(len(keys), maxBatchGet)
		req := map[string]types.KeysAndAttributes{m.table: {
			Keys:                     keys[:n],
			ConsistentRead:           aws.Bool(true),
			ProjectionExpression:     proj,
			ExpressionAttributeNames: e.names,
		}}
		keys = keys[n:]
		for retry := 0; len(req) > 0; retry++ {
			if retry > 0 {
				if retry > maxBatchRetries {
					return fmt.Errorf("batch get: keys left unprocessed after %d retries", maxBatchRetries)
				}
				if err := ddbBackoff(ctx, retry-1); err != nil {
					return err
				}
			}
			out, err := m.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return err
			}
			for _, item := range out.Responses[m.table] {
				if err := found(item); err != nil {
					return err
				}
			}
			req = nil
			if u, ok := out.UnprocessedKeys[m.table]; ok && len(u.Keys) > 0 {
				req = map[string]types.KeysAndAttributes{m.table: u}
			}
		}
	}
	return nil
}

// batchWrite puts items with BatchWriteItem (up to 25; not atomic),
// retrying what comes back unprocessed.
func (m *Metadata) batchWrite(ctx context.Context, items ...map[string]types.AttributeValue) error {
	reqs := make([]types.WriteRequest, len(items))
	for i, item := range items {
		reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: item}}
	}
	req := map[string][]types.WriteRequest{m.table: reqs}
	for retry := 0; len(req) > 0; retry++ {
		if retry > 0 {
			if retry > maxBatchRetries {
				return fmt.Errorf("batch write: items left unprocessed after %d retries", maxBatchRetries)
			}
			if err := ddbBackoff(ctx, retry-1); err != nil {
				return err
			}
		}
		out, err := m.client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: req})
		if err != nil {
			return err
		}
		req = nil
		if u := out.UnprocessedItems[m.table]; len(u) > 0 {
			req = map[string][]types.WriteRequest{m.table: u}
		}
	}
	return nil
}

// query runs Query on partition pk with the sort key condition skCond
// (built with e; "" for none), strongly consistent, and calls fn with up to
// n items in sort key order. It goes on with another Query only when the
// 1 MB limit of a response cut a page short.
func (m *Metadata) query(ctx context.Context, pk, skCond string, e *ddbExpr, n int, fn func(map[string]types.AttributeValue) error) error {
	cond := e.name(attrPK) + " = " + e.value(avS(pk))
	if skCond != "" {
		cond += " AND " + skCond
	}
	var start map[string]types.AttributeValue
	for n > 0 {
		out, err := m.client.Query(ctx, &dynamodb.QueryInput{
			TableName:                 &m.table,
			KeyConditionExpression:    &cond,
			ExpressionAttributeNames:  e.names,
			ExpressionAttributeValues: e.values,
			ConsistentRead:            aws.Bool(true),
			Limit:                     aws.Int32(int32(min(n, 1<<30))),
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return err
		}
		for _, item := range out.Items {
			if n == 0 {
				break
			}
			if err := fn(item); err != nil {
				return err
			}
			n--
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		start = out.LastEvaluatedKey
	}
	return nil
}

// keyAfter returns the least string greater than s: keys after s are those at
// or above it.
func keyAfter(s string) string { return s + "\x00" }

// prefixEnd returns a string greater than every key that starts with
// prefix and goes on with characters below U+10FFFF.
func prefixEnd(prefix string) string { return prefix + "\U0010FFFF" }
