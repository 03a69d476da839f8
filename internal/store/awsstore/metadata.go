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
// annotations (M of S), annotationsInBody (BOOL: true when the annotations
// are over MaxAnnotations bytes and so left in the body, annotations then
// absent), subject (S) and body (B): the manifest's bytes when they are at
// most MaxInlineBody long. Attributes that would be empty or false are left
// out (items.go encodes the record). rhash is the SHA-256 of the record, so that a write can tell in
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
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

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
