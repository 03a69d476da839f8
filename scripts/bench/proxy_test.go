package main

import (
	"net/http/httptest"
	"testing"
)

// TestS3Action: the S3 proxy names each request by its API action, and a
// part PUT to a presigned URL (a direct upload's, sent by the client) apart
// from the registry's own UploadPart.
func TestS3Action(t *testing.T) {
	for _, tc := range []struct {
		method, target string
		copySource     bool
		want           string
	}{
		{"PUT", "/b/blobs/sha256/ab", false, "PutObject"},
		{"PUT", "/b/k?partNumber=1&uploadId=x", false, "UploadPart"},
		{"PUT", "/b/k?partNumber=1&uploadId=x&X-Amz-Signature=s", false, "UploadPart (presigned)"},
		{"PUT", "/b/k?partNumber=1&uploadId=x", true, "UploadPartCopy"},
		{"PUT", "/b/k", true, "CopyObject"},
		{"GET", "/b/k?X-Amz-Signature=s", false, "GetObject (presigned)"},
		{"GET", "/b/k?uploadId=x", false, "ListParts"},
		{"GET", "/b?list-type=2", false, "ListObjectsV2"},
		{"POST", "/b/k?uploads", false, "CreateMultipartUpload"},
		{"POST", "/b/k?uploadId=x", false, "CompleteMultipartUpload"},
		{"POST", "/b?delete", false, "DeleteObjects"},
		{"DELETE", "/b/k", false, "DeleteObject"},
	} {
		r := httptest.NewRequest(tc.method, tc.target, nil)
		if tc.copySource {
			r.Header.Set("X-Amz-Copy-Source", "/b/src")
		}
		if got := s3Action(r); got != tc.want {
			t.Errorf("%s %s (copy source %v): %q, want %q", tc.method, tc.target, tc.copySource, got, tc.want)
		}
	}
}

// TestS3TierOfPresigned: a presigned request is billed as its action.
func TestS3TierOfPresigned(t *testing.T) {
	if got, want := s3Tier("UploadPart (presigned)"), s3Tier("UploadPart"); got != want || want != 1 {
		t.Errorf("UploadPart (presigned) is tier %d, UploadPart %d: want both 1", got, want)
	}
}
