// Package local is Pier's embedded storage backend: blobs are files on disk
// and metadata is one bbolt database file. It serves `pier serve` on one
// machine, for development and small sites.
//
// # Blobs
//
// OpenBlobs keeps everything under one directory:
//
//	<dir>/blobs/<algorithm>/<hex>            a blob; its bytes hash to its name
//	<dir>/uploads/<id>/<n>-<chain>-<sum>     chunk <n> of upload <id> (WriteChunk):
//	                                         <sum> is the SHA-256 of its bytes,
//	                                         <chain> the chain hash of the chunks
//	                                         before it
//	<dir>/uploads/<id>/tmp-<r>               a chunk being written by WriteChunk
//	<dir>/uploads/<id>/commit-<r>            a blob being assembled by Commit
//	<dir>/tmp/put-<r>                        a blob being written by Put
//
// where <id> is an upload id (store.CheckUploadID: 32 lower-case hex
// digits, so it is one path element), <n> six decimal digits, <chain> and
// <sum> hex, and <r> 32 random hex digits, unique to one attempt. A blob
// file is written to a temporary file on the same file system, synced,
// and renamed into place only once its bytes are known to hash to its
// name, so a reader never sees a partial or unverified blob.
//
// The state that WriteChunk returns is JSON: the upload's size, its number
// of chunks and the chain hash of their SHA-256s, so it is small whatever
// the number of chunks. A chunk file is named by its place in the chain
// and never written with other bytes: two requests racing on one upload at
// one offset cannot change each other's chunks; the one whose state the
// caller saves wins, Commit finds the chunks of that state by their chain,
// and Commit and Abort remove the rest of uploads/<id>.
//
// # Metadata
//
// OpenMetadata keeps the records in one bbolt file, laid out as nested
// buckets:
//
//	pier                           schema: "1"
//	repositories/<repo>/           one bucket per repository
//	    tags/<tag>                 the manifest digest the tag names
//	    manifests/<digest>         JSON manifest record
//	    blobs/<digest>             the blob's size, 8 bytes big-endian
//	    referrers/<subject>/<key>  JSON referrer record, key = store.ReferrerKey
//	    times/<kind><name>         when a tag ('t'), manifest ('m') or link
//	                               ('b') was last written: Unix nanoseconds,
//	                               8 bytes big-endian (retention.go); made by
//	                               the first write that records a time
//	uploads/<id>                   JSON upload session
//	identities/<name>              JSON identity record (store.Identities)
//	sites/<manifest digest>        the digest of the index blob of the
//	                               manifest's unpacked site (package site);
//	                               made by the first such record
//
// A manifest record holds the manifest's media type, size, artifact type,
// annotations and subject, and its body when the body is at most
// MaxInlineBody bytes long; a longer body is dropped (Manifest returns it
// nil) and the registry reads it from Blobs. A referrer record holds what a
// referrers listing shows: digest, media type, size, artifact type and
// annotations. An identity record holds the identity's kind, secret hash,
// grants (pattern and actions, in order) and its created and expiry times
// (RFC 3339, to the nanosecond; absent when zero). The identities bucket is
// apart from the repositories, so a user or robot may have any name a
// repository has without the two meeting; it was added to schema "1"
// without a version change (OpenMetadata makes it when it is missing, and
// an older Pier ignores it). ListIdentities walks the whole bucket: there
// are few identities.
//
// Every method is one bbolt transaction, so a write of several records
// (a manifest with its tags and referrer entry, or the removal of a
// manifest with its tags and referrer entry) is atomic, and every read sees
// every write that finished before it started. DeleteManifest finds the
// tags that name a manifest by a walk over the repository's tags. Listings (tags, repositories,
// referrers) walk bbolt cursors, so they come in byte order and a page
// starts with a Seek. A repository's bucket is made by its first blob link or
// manifest and is kept from then on. Expired upload sessions are hidden
// from Upload and UpdateUpload but stay in the file until they are deleted.
package local
