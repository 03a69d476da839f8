// Package awsstore is Pier's production storage: blobs and manifest bodies
// in S3 (Blobs), and the repository records, upload sessions, identities,
// policies and garbage collection marks in DynamoDB (Metadata), both on
// aws-sdk-go-v2, and the token signing key in Secrets Manager
// (ReadSecret). It is the only part of Pier that keeps data in AWS; the
// other AWS call is CloudFormation's DescribeStacks, with which `pier
// serve --stack` reads a deployed stack's outputs (cmd/pier).
//
// # S3 layout
//
// One bucket; these are all the keys Blobs writes:
//
//	blobs/<algorithm>/<hex>            a blob or manifest body; its bytes hash to its name
//	                                   (a direct upload in one PUT writes blobs/sha256/<hex>
//	                                   itself, by a presigned PutObject that S3 checks
//	                                   against <hex>, with metadata pier-upload: <id>;
//	                                   direct_put.go)
//	uploads/<id>/t/<offset>-<r>        a staged tail chunk of upload <id>: bytes not yet in
//	                                   a part (WriteChunk)
//	uploads/<id>/p/<n>-<chain>-<sum>   staged part n of upload <id> (<sum> its SHA-256, <chain>
//	                                   that of the parts before it), when the parts are not
//	                                   sent into the multipart upload as they come
//	                                   (BlobsOptions.PartsInMultipart off: upload sessions);
//	                                   Commit copies them in (UploadPartCopy); parts.go
//	assembled/<id>-<r>                 the multipart upload of chunked upload <id>: its parts
//	                                   are sent there as the chunks come (WriteChunk, with
//	                                   PartsInMultipart) or copied from the staged parts at
//	                                   Commit, which completes it, S3 checking each part's
//	                                   checksum, and moves it to blobs/ (when the copy
//	                                   outlasts CopyBudget it goes on in the background, and
//	                                   the blob link records this key as the blob's location
//	                                   until garbage collection settles it: Settle)
//	assembled/<id>-direct              the multipart upload of direct upload <id>, whose
//	                                   client sends its parts straight to S3 (direct.go);
//	                                   CommitDirect moves it to blobs/ as Commit does
//
// <id> is an upload id (store.CheckUploadID), <r> 16 random hex digits
// unique to one attempt, <offset> the chunk's offset in decimal. Multipart
// uploads are made at blobs/ keys (Put of a large blob, the parallel copy
// of a large assembled blob) and at assembled/ keys;
// one left unfinished is listed and aborted by garbage collection
// (Leftovers) and by the bucket's lifecycle rule (template.yaml), which
// also expires uploads/ after two days. Leftovers lists uploads/ and assembled/; nothing else in the
// bucket is Pier's scratch space.
//
// # DynamoDB layout
//
// One table, keys pk (partition) and sk (sort), both strings:
//
//	catalog      pk repos                 sk <repo>
//	tag          pk r#<repo>              sk t#<tag>
//	manifest     pk r#<repo>              sk m#<digest>
//	tag ref      pk r#<repo>              sk n#<digest>#<tag>
//	blob link    pk r#<repo>              sk b#<digest>
//	referrer     pk f#<repo>#<subject>    sk store.ReferrerKey(artifactType, digest)
//	upload       pk u#<id>                sk u
//	gc mark      pk g#<digest>            sk g
//	site index   pk s#<manifest digest>   sk i
//	identity     pk identities            sk <name>
//	policy       pk policies              sk <pattern>
//
// The attributes of each item, and how the writes keep them consistent,
// are documented in metadata.go (gc marks in gc.go, policies in
// policy.go).
//
// # Files
//
// Blobs is in blobs.go (reads and whole puts), upload.go, parts.go and
// commit.go (chunked uploads), direct.go and direct_put.go (uploads straight to S3).
// Metadata is in metadata.go (the type and the DynamoDB design notes) and
// its helpers: keys.go (attribute names and key builders), items.go
// (attribute values and the manifest record), expr.go (expression
// placeholders), access.go (GetItem, BatchGetItem, Query), txn.go
// (transaction actions and their packing), retry.go (failed conditions,
// lost races and the one backoff) and table.go (CreateTable). Its
// operations are in metadata_put.go (PutManifest), metadata_manifests.go,
// metadata_tags.go, metadata_referrers.go, metadata_links.go,
// metadata_uploads.go, metadata_identities.go, metadata_sites.go,
// retention.go, policy.go and gc.go.
package awsstore
