package awsstore

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pier-registry/pier/internal/store"
)

// A chunk that would make a part past the most a chunked upload holds is
// refused with store.ErrTooLarge before any request (the client has no
// endpoint or credentials: a request would fail otherwise).
func TestWritePartPastTheLast(t *testing.T) {
	for _, inMPU := range []bool{false, true} {
		b := NewBlobs(s3.New(s3.Options{Region: "us-east-1"}), "bucket", BlobsOptions{PartSize: MinPartSize, PartsInMultipart: inMPU})
		st := uploadState{Parts: b.maxChunkParts(), Chain: make([]byte, 32)}
		if inMPU {
			st.MPU, st.Nonce, st.Slots = "mpu", "0123456789abcdef", strings.Repeat("0", slottedParts)
		}
		st.PartBytes = int64(st.Parts) * MinPartSize
		_, _, err := b.WriteChunk(context.Background(), "0123456789abcdef0123456789abcdef", encodeState(st), st.size(),
			bytes.NewReader(make([]byte, MinPartSize)))
		if !errors.Is(err, store.ErrTooLarge) {
			t.Errorf("parts in multipart %v: WriteChunk past the last part = %v, want store.ErrTooLarge", inMPU, err)
		}
	}
}
