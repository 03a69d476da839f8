// Package awsstore is Pier's production storage: blobs and manifest bodies
// in S3 (Blobs), and the repository records in DynamoDB (Metadata), both on
// aws-sdk-go-v2. It is the only part of Pier that talks to AWS.
//
// S3 layout (one bucket):
//
//	blobs/<algorithm>/<hex>           a blob or manifest body; its bytes hash to its name
//	                                  (a chunked upload's Commit completes its multipart
//	                                  upload here, of parts whose checksums S3 checks)
//	uploads/<id>/t/<offset>-<r>       a chunk staged by WriteChunk (r: random per attempt)
//	uploads/<id>/p/<n>-<chain>-<sum>  a part staged by WriteChunk, named by its SHA-256
//	                                  and the chain hash of the parts before it
//	assembled/<id>-direct             a direct upload, assembled; copied into place by
//	                                  CommitDirect (in the background past CopyBudget)
//
// The DynamoDB layout is documented in metadata.go.
package awsstore
