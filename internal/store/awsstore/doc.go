// Package awsstore is Pier's production storage: blobs and manifest bodies
// in S3 (Blobs), and the repository records in DynamoDB (Metadata), both on
// aws-sdk-go-v2. It is the only part of Pier that talks to AWS.
//
// S3 layout (one bucket):
//
//	blobs/<algorithm>/<hex>        a blob or manifest body; its bytes hash to its name
//	uploads/<id>/t/<offset>-<r>    a chunk staged by WriteChunk (r: random per attempt)
//	uploads/<id>/data              the multipart upload of a chunked upload
//	copying/<algorithm>/<hex>      a blob being copied in the background (see Commit)
//
// The DynamoDB layout is documented in metadata.go.
package awsstore
