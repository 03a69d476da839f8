package storetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/store"
)

// TestBlobs runs the contract tests of store.Blobs against the stores that
// open returns.
func TestBlobs(t *testing.T, open func(t *testing.T) store.Blobs) {
	tests := []subtest[store.Blobs]{
		{"PutStatOpenDelete", testPutStatOpenDelete},
		{"OpenSeek", testOpenSeek},
		{"Missing", testBlobMissing},
		{"PutMismatch", testPutMismatch},
		{"PutExisting", testPutExisting},
		{"PutReadError", testPutReadError},
		{"PutCanceled", testPutCanceled},
		{"Chunks", testChunks},
		{"LargeChunks", testLargeChunks},
		{"UnsavedChunk", testUnsavedChunk},
		{"FailedChunk", testFailedChunk},
		{"RacingChunks", testRacingChunks},
		{"InterleavedUploads", testInterleavedUploads},
		{"CommitExisting", testCommitExisting},
		{"CommitAgain", testCommitAgain},
		{"Abort", testAbort},
	}
	runSubtests(t, open, tests)
}

// wantBlob fails t unless blob d holds exactly want.
func wantBlob(t *testing.T, b store.Blobs, d digest.Digest, want []byte) {
	t.Helper()
	size, err := b.Stat(ctx, d)
	if err != nil {
		t.Fatalf("Stat(%s): %v", d, err)
	}
	if size != int64(len(want)) {
		t.Fatalf("Stat(%s) = %d, want %d", d, size, len(want))
	}
	r, err := b.Open(ctx, d)
	if err != nil {
		t.Fatalf("Open(%s): %v", d, err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading %s: %v", d, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("blob %s holds %d bytes %.40q, want %d bytes %.40q", d, len(got), got, len(want), want)
	}
}

// wantNoBlob fails t unless blob d does not exist.
func wantNoBlob(t *testing.T, b store.Blobs, d digest.Digest) {
	t.Helper()
	_, err := b.Stat(ctx, d)
	wantErr(t, fmt.Sprintf("Stat(%s)", d), err, store.ErrNotFound)
	r, err := b.Open(ctx, d)
	if err == nil {
		r.Close()
	}
	wantErr(t, fmt.Sprintf("Open(%s)", d), err, store.ErrNotFound)
}

// put stores data as a blob by alg and returns its digest.
func put(t *testing.T, b store.Blobs, alg digest.Algorithm, data []byte) digest.Digest {
	t.Helper()
	d := digestOf(alg, data)
	n, err := b.Put(ctx, d, bytes.NewReader(data))
	if err != nil {
		t.Fatalf("Put(%s): %v", d, err)
	}
	if n != int64(len(data)) {
		t.Fatalf("Put(%s) = %d, want %d", d, n, len(data))
	}
	return d
}

var algorithms = []digest.Algorithm{digest.SHA256, digest.SHA512}

func testPutStatOpenDelete(t *testing.T, b store.Blobs) {
	for _, alg := range algorithms {
		for _, data := range [][]byte{
			{},
			[]byte("hello, world\n"),
			randomBytes(1<<20+3, 1),
		} {
			t.Run(fmt.Sprintf("%s/%d", alg, len(data)), func(t *testing.T) {
				d := put(t, b, alg, data)
				wantBlob(t, b, d, data)
				wantErr(t, "Delete", b.Delete(ctx, d), nil)
				wantNoBlob(t, b, d)
				wantErr(t, "Delete again", b.Delete(ctx, d), nil)
			})
		}
	}
}

func testOpenSeek(t *testing.T, b store.Blobs) {
	data := []byte("0123456789abcdef")
	d := put(t, b, digest.SHA256, data)
	r, err := b.Open(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, tt := range []struct {
		offset int64
		whence int
		want   string
	}{
		{10, io.SeekStart, "abcdef"},
		{-4, io.SeekEnd, "cdef"},
		{3, io.SeekStart, "3456789abcdef"},
	} {
		if _, err := r.Seek(tt.offset, tt.whence); err != nil {
			t.Fatalf("Seek(%d, %d): %v", tt.offset, tt.whence, err)
		}
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("after Seek(%d, %d) read %q, want %q", tt.offset, tt.whence, got, tt.want)
		}
	}
}

func testBlobMissing(t *testing.T, b store.Blobs) {
	for _, alg := range algorithms {
		d := digestOf(alg, []byte("never stored"))
		wantNoBlob(t, b, d)
		wantErr(t, "Delete of a missing blob", b.Delete(ctx, d), nil)
	}
}

func testPutMismatch(t *testing.T, b store.Blobs) {
	data := []byte("the bytes")
	for _, tt := range []struct {
		name string
		d    digest.Digest
	}{
		{"sha256 of other bytes", digestOf(digest.SHA256, []byte("other bytes"))},
		{"sha512 of other bytes", digestOf(digest.SHA512, []byte("other bytes"))},
		{"sha256 of a prefix", digestOf(digest.SHA256, data[:4])},
		{"sha256 of a longer text", digestOf(digest.SHA256, append(data, '!'))},
		{"sha256 of nothing", digestOf(digest.SHA256, nil)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.Put(ctx, tt.d, bytes.NewReader(data))
			wantErr(t, "Put", err, store.ErrDigestMismatch)
			wantNoBlob(t, b, tt.d)
		})
	}
}

func testPutExisting(t *testing.T, b store.Blobs) {
	data := []byte("put twice")
	d := put(t, b, digest.SHA256, data)
	put(t, b, digest.SHA256, data)
	wantBlob(t, b, d, data)

	// Wrong bytes under an existing digest leave the blob as it is.
	_, err := b.Put(ctx, d, strings.NewReader("not the bytes"))
	wantErr(t, "Put of other bytes", err, store.ErrDigestMismatch)
	wantBlob(t, b, d, data)
}

func testPutReadError(t *testing.T, b store.Blobs) {
	data := randomBytes(100<<10, 2)
	d := digestOf(digest.SHA256, data)
	_, err := b.Put(ctx, d, &failingReader{data: data[:50<<10], err: errRead})
	if err == nil {
		t.Fatal("Put of a failing reader: no error")
	}
	wantNoBlob(t, b, d)
	put(t, b, digest.SHA256, data)
	wantBlob(t, b, d, data)
}

func testPutCanceled(t *testing.T, b store.Blobs) {
	data := []byte("canceled")
	d := digestOf(digest.SHA256, data)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := b.Put(cctx, d, bytes.NewReader(data)); err == nil {
		t.Fatal("Put with a canceled context: no error")
	}
	wantNoBlob(t, b, d)
}

// upload writes chunks as upload id from offset 0 on, checking the counts
// WriteChunk returns, and returns the final state.
func upload(t *testing.T, b store.Blobs, id string, chunks ...[]byte) []byte {
	t.Helper()
	return writeChunks(t, b, id, nil, 0, chunks...)
}

// writeChunks writes chunks as upload id from offset on, after state.
func writeChunks(t *testing.T, b store.Blobs, id string, state []byte, offset int64, chunks ...[]byte) []byte {
	t.Helper()
	for i, c := range chunks {
		var n int64
		var err error
		state, n, err = b.WriteChunk(ctx, id, state, offset, bytes.NewReader(c))
		if err != nil {
			t.Fatalf("WriteChunk #%d at %d: %v", i, offset, err)
		}
		if n != int64(len(c)) {
			t.Fatalf("WriteChunk #%d at %d = %d bytes, want %d", i, offset, n, len(c))
		}
		offset += n
	}
	return state
}

// commit commits upload id with state as blob d.
func commit(t *testing.T, b store.Blobs, id string, state []byte, d digest.Digest) {
	t.Helper()
	if _, err := b.Commit(ctx, id, state, d); err != nil {
		t.Fatalf("Commit(%s): %v", d, err)
	}
}

func testChunks(t *testing.T, b store.Blobs) {
	for _, tt := range []struct {
		name   string
		alg    digest.Algorithm
		chunks [][]byte
	}{
		{"none", digest.SHA256, nil},
		{"one empty", digest.SHA256, [][]byte{{}}},
		{"one", digest.SHA256, [][]byte{[]byte("one chunk")}},
		{"one sha512", digest.SHA512, [][]byte{[]byte("one chunk, sha512")}},
		{"three", digest.SHA256, [][]byte{[]byte("first,"), []byte("second,"), []byte("third")}},
		{"three sha512", digest.SHA512, [][]byte{[]byte("first,"), []byte("second,"), []byte("third")}},
		{"empty in between", digest.SHA256, [][]byte{[]byte("a"), {}, []byte("b"), {}}},
		{"bytes", digest.SHA256, [][]byte{{0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}, {9}}},
		{"mixed sizes", digest.SHA256, [][]byte{randomBytes(1, 3), randomBytes(300<<10, 4), randomBytes(7, 5), randomBytes(64<<10, 6)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want := concat(tt.chunks...)
			d := digestOf(tt.alg, want)
			id := newID()
			state := upload(t, b, id, tt.chunks...)
			commit(t, b, id, state, d)
			wantBlob(t, b, d, want)
		})
	}
}

// testLargeChunks uploads chunks of the size a registry behind AWS Lambda
// takes (4 MiB), which together pass the 5 MiB minimum of an S3 multipart
// part more than once.
func testLargeChunks(t *testing.T, b store.Blobs) {
	chunks := [][]byte{randomBytes(4<<20, 7), randomBytes(4<<20, 8), randomBytes(3<<20+5, 9), randomBytes(1, 10)}
	want := concat(chunks...)
	d := digestOf(digest.SHA256, want)
	id := newID()
	state := upload(t, b, id, chunks...)
	commit(t, b, id, state, d)
	wantBlob(t, b, d, want)
}

// testUnsavedChunk simulates two writers racing at one offset: both write
// a chunk after the same state, and only the winner's state is saved.
func testUnsavedChunk(t *testing.T, b store.Blobs) {
	head, winner, loser, tail := []byte("head-"), []byte("WINNER"), []byte("loser!"), []byte("-tail")
	for _, loserFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("loser first %v", loserFirst), func(t *testing.T) {
			id := newID()
			saved := upload(t, b, id, head)
			off := int64(len(head))
			var won []byte
			if loserFirst {
				writeChunks(t, b, id, saved, off, loser)
				won = writeChunks(t, b, id, saved, off, winner)
			} else {
				won = writeChunks(t, b, id, saved, off, winner)
				writeChunks(t, b, id, saved, off, loser)
			}
			state := writeChunks(t, b, id, won, off+int64(len(winner)), tail)
			want := concat(head, winner, tail)
			d := digestOf(digest.SHA256, want)
			commit(t, b, id, state, d)
			wantBlob(t, b, d, want)
		})
	}
}

// testFailedChunk checks that a chunk that fails to be read is no part of
// the upload.
func testFailedChunk(t *testing.T, b store.Blobs) {
	id := newID()
	head := []byte("head-")
	saved := upload(t, b, id, head)
	off := int64(len(head))
	_, _, err := b.WriteChunk(ctx, id, saved, off, &failingReader{data: []byte("partial"), err: errRead})
	if err == nil {
		t.Fatal("WriteChunk of a failing reader: no error")
	}
	state := writeChunks(t, b, id, saved, off, []byte("body"))
	want := concat(head, []byte("body"))
	d := digestOf(digest.SHA256, want)
	commit(t, b, id, state, d)
	wantBlob(t, b, d, want)
}

// testRacingChunks has 8 writers race at one offset of one upload, and
// saves the state of the first to finish, as a conditional write would.
func testRacingChunks(t *testing.T, b store.Blobs) {
	const writers = 8
	id := newID()
	head := randomBytes(1000, 11)
	saved := upload(t, b, id, head)
	off := int64(len(head))

	var (
		mu     sync.Mutex
		winner = -1
		won    []byte
		wg     sync.WaitGroup
		errs   = make([]error, writers)
		chunks = make([][]byte, writers)
	)
	for i := range writers {
		chunks[i] = randomBytes(64<<10+i, uint64(100+i))
		wg.Go(func() {
			state, n, err := b.WriteChunk(ctx, id, saved, off, bytes.NewReader(chunks[i]))
			if err == nil && n != int64(len(chunks[i])) {
				err = fmt.Errorf("wrote %d bytes, want %d", n, len(chunks[i]))
			}
			if err != nil {
				errs[i] = err
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if winner < 0 {
				winner, won = i, state
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	want := concat(head, chunks[winner])
	d := digestOf(digest.SHA256, want)
	commit(t, b, id, won, d)
	wantBlob(t, b, d, want)
}

// testInterleavedUploads writes two uploads in turns.
func testInterleavedUploads(t *testing.T, b store.Blobs) {
	idA, idB := newID(), newID()
	var stA, stB []byte
	var offA, offB int64
	var wantA, wantB []byte
	for i := range 4 {
		ca, cb := []byte(fmt.Sprintf("a%d.", i)), []byte(fmt.Sprintf("bb%d.", i))
		stA = writeChunks(t, b, idA, stA, offA, ca)
		stB = writeChunks(t, b, idB, stB, offB, cb)
		offA, offB = offA+int64(len(ca)), offB+int64(len(cb))
		wantA, wantB = append(wantA, ca...), append(wantB, cb...)
	}
	dA, dB := digestOf(digest.SHA256, wantA), digestOf(digest.SHA512, wantB)
	commit(t, b, idA, stA, dA)
	commit(t, b, idB, stB, dB)
	wantBlob(t, b, dA, wantA)
	wantBlob(t, b, dB, wantB)
}

// testCommitExisting commits an upload of a blob that exists.
func testCommitExisting(t *testing.T, b store.Blobs) {
	data := []byte("already here")
	d := put(t, b, digest.SHA256, data)
	for _, chunks := range [][][]byte{{data}, {data[:3], data[3:]}} {
		id := newID()
		state := upload(t, b, id, chunks...)
		commit(t, b, id, state, d)
		wantBlob(t, b, d, data)
	}
}

// testCommitAgain commits a finished upload again, as a repeated PUT does.
func testCommitAgain(t *testing.T, b store.Blobs) {
	for _, chunks := range [][][]byte{{[]byte("once")}, {[]byte("once,"), []byte("twice")}} {
		want := concat(chunks...)
		d := digestOf(digest.SHA256, want)
		id := newID()
		state := upload(t, b, id, chunks...)
		commit(t, b, id, state, d)
		commit(t, b, id, state, d)
		wantBlob(t, b, d, want)
	}
}

func testAbort(t *testing.T, b store.Blobs) {
	data := []byte("aborted upload")
	d := digestOf(digest.SHA256, data)
	id := newID()
	state := upload(t, b, id, data[:5], data[5:])
	// An unsaved chunk is removed too.
	writeChunks(t, b, id, state, int64(len(data)), []byte("more"))
	wantErr(t, "Abort", b.Abort(ctx, id, state), nil)
	wantNoBlob(t, b, d)
	wantErr(t, "Abort again", b.Abort(ctx, id, state), nil)
	wantErr(t, "Abort of an upload with nothing staged", b.Abort(ctx, newID(), nil), nil)

	// The same bytes can be uploaded again under a new id.
	id = newID()
	state = upload(t, b, id, data)
	commit(t, b, id, state, d)
	wantBlob(t, b, d, data)
}
