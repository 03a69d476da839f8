package local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/store"
)

// uploadState is the state of an upload that WriteChunk returns: its
// size, and the number of its chunks and the chain hash of their SHA-256s.
// It is small whatever the number of chunks, since the registry may carry
// it in the upload's Location. A chunk is a file named by its place in
// the chain (chunkName): written once, never with other bytes, so a
// request that loses a race or replays an older state cannot change the
// chunks of another state.
type uploadState struct {
	Size   int64  `json:"s,omitempty"`
	Chunks int    `json:"n,omitempty"`
	Chain  []byte `json:"c,omitempty"`
}

// chunkName is the name of chunk n of an upload, whose bytes have SHA-256
// sum, after chunks whose chain hash is prev.
func chunkName(n int, prev, sum []byte) string {
	return fmt.Sprintf("%06d-%x-%x", n, prev, sum)
}

// nextChain is the chain hash of chunks whose chain hash is prev,
// followed by a chunk of SHA-256 sum.
func nextChain(prev, sum []byte) []byte {
	h := sha256.New()
	h.Write(prev)
	h.Write(sum)
	return h.Sum(nil)
}

// WriteChunk stages the bytes of r, which continue the upload id at offset,
// in a new synced file of uploads/<id>, renamed to its chunkName once
// written, and returns the number of bytes and the state of state (which
// must hold offset bytes) with that chunk added. An empty chunk stages
// nothing. On error the file is removed.
func (b *Blobs) WriteChunk(ctx context.Context, id string, state []byte, offset int64, r io.Reader) ([]byte, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, fmt.Errorf("write chunk of upload %s: %w", id, err)
	}
	if err := store.CheckUploadID(id); err != nil {
		return nil, 0, fmt.Errorf("write chunk: %w", err)
	}
	st, err := decodeState(state)
	if err != nil {
		return nil, 0, fmt.Errorf("write chunk of upload %s: %w", id, err)
	}
	if st.Size != offset {
		return nil, 0, fmt.Errorf("write chunk of upload %s: offset %d, but the state holds %d bytes", id, offset, st.Size)
	}
	dir := b.uploadDir(id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, 0, fmt.Errorf("write chunk of upload %s: %w", id, err)
	}
	h := sha256.New()
	var n int64
	err = writeUnique(dir, "tmp-", func(f *os.File) error {
		var err error
		n, err = io.Copy(io.MultiWriter(f, h), ctxReader{ctx, r})
		return err
	}, func(tmp string) error {
		if n == 0 {
			return os.Remove(tmp)
		}
		sum := h.Sum(nil)
		if err := os.Rename(tmp, filepath.Join(dir, chunkName(st.Chunks+1, st.Chain, sum))); err != nil {
			return err
		}
		st = uploadState{Size: st.Size + n, Chunks: st.Chunks + 1, Chain: nextChain(st.Chain, sum)}
		return syncDir(dir)
	})
	if err != nil {
		return nil, 0, fmt.Errorf("write chunk of upload %s: %w", id, err)
	}
	out, err := json.Marshal(st)
	if err != nil {
		return nil, 0, fmt.Errorf("write chunk of upload %s: %w", id, err)
	}
	return out, n, nil
}

// chunks returns the files of upload id's chunks that st records, in
// order: the chunk files of its directory found by their chain. A chunk
// that is not there is store.ErrNotFound.
func (b *Blobs) chunks(id string, st uploadState) ([]string, error) {
	dir := b.uploadDir(id)
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	type chunk struct {
		name string
		n    int
		prev []byte
	}
	byChain := map[string]chunk{}
	for _, e := range entries {
		fields := strings.Split(e.Name(), "-")
		if len(fields) != 3 {
			continue
		}
		n, err := strconv.Atoi(fields[0])
		prev, perr := hex.DecodeString(fields[1])
		sum, serr := hex.DecodeString(fields[2])
		if err != nil || perr != nil || serr != nil || len(sum) != sha256.Size {
			continue
		}
		byChain[string(nextChain(prev, sum))] = chunk{name: e.Name(), n: n, prev: prev}
	}
	files := make([]string, st.Chunks)
	chain := st.Chain
	var size int64
	for i := st.Chunks; i > 0; i-- {
		c, ok := byChain[string(chain)]
		if !ok || c.n != i {
			return nil, fmt.Errorf("chunk %d is not staged: %w", i, store.ErrNotFound)
		}
		files[i-1] = filepath.Join(dir, c.name)
		fi, err := os.Stat(files[i-1])
		if err != nil {
			return nil, notFound(err)
		}
		size += fi.Size()
		chain = c.prev
	}
	if len(chain) != 0 || size != st.Size {
		return nil, fmt.Errorf("the chunks hold %d bytes, not %d", size, st.Size)
	}
	return files, nil
}

// Commit makes the chunks recorded in state the blob d, always at its own
// place (the location it returns is ""): it renames the one
// chunk of a one-chunk upload into place, and concatenates the chunks of
// any other into a new synced file that it renames into place. It then
// removes uploads/<id>, with any chunks staged by writers whose state was
// not saved. When blob d exists, Commit only removes uploads/<id>. When a
// chunk is missing it returns an error that is store.ErrNotFound.
func (b *Blobs) Commit(ctx context.Context, id string, state []byte, d digest.Digest) (string, error) {
	return "", b.commit(ctx, id, state, d)
}

func (b *Blobs) commit(ctx context.Context, id string, state []byte, d digest.Digest) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("commit upload %s: %w", id, err)
	}
	if err := store.CheckUploadID(id); err != nil {
		return fmt.Errorf("commit upload: %w", err)
	}
	st, err := decodeState(state)
	if err != nil {
		return fmt.Errorf("commit upload %s: %w", id, err)
	}
	p, err := b.blobPath(d)
	if err != nil {
		return fmt.Errorf("commit upload %s: %w", id, err)
	}
	if !exists(p) {
		if err := b.assemble(ctx, id, st, p); err != nil {
			// A racing Commit of the same upload may have taken the
			// chunks and made the blob.
			if !exists(p) {
				return fmt.Errorf("commit upload %s as %s: %w", id, d, err)
			}
		}
	}
	if err := os.RemoveAll(b.uploadDir(id)); err != nil {
		return fmt.Errorf("commit upload %s: %w", id, err)
	}
	return nil
}

// assemble makes the chunks of st the file p.
func (b *Blobs) assemble(ctx context.Context, id string, st uploadState, p string) error {
	files, err := b.chunks(id, st)
	if err != nil {
		return err
	}
	if len(files) == 1 {
		return b.install(files[0], p)
	}
	dir := b.uploadDir(id)
	if err := os.MkdirAll(dir, 0o755); err != nil { // an empty upload has no directory
		return err
	}
	return writeUnique(dir, "commit-", func(f *os.File) error {
		for _, name := range files {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := appendFile(f, name); err != nil {
				return err
			}
		}
		return nil
	}, func(tmp string) error { return b.install(tmp, p) })
}

// appendFile copies the file named name to the end of f (with
// copy_file_range where the system has it).
func appendFile(f *os.File, name string) error {
	src, err := os.Open(name)
	if err != nil {
		return notFound(err)
	}
	defer src.Close()
	_, err = io.Copy(f, src)
	return err
}

// Abort removes uploads/<id> with everything staged in it. Aborting an
// upload with nothing staged is not an error.
func (b *Blobs) Abort(ctx context.Context, id string, state []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("abort upload %s: %w", id, err)
	}
	if err := store.CheckUploadID(id); err != nil {
		return fmt.Errorf("abort upload: %w", err)
	}
	if err := os.RemoveAll(b.uploadDir(id)); err != nil {
		return fmt.Errorf("abort upload %s: %w", id, err)
	}
	return nil
}

func (b *Blobs) uploadDir(id string) string {
	return filepath.Join(b.dir, "uploads", id)
}

// decodeState decodes the state of an upload (nil for a new one).
func decodeState(state []byte) (uploadState, error) {
	var st uploadState
	if len(state) == 0 {
		return st, nil
	}
	dec := json.NewDecoder(bytes.NewReader(state))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return st, fmt.Errorf("invalid upload state: %w", err)
	}
	if st.Size < 0 || st.Chunks < 0 || st.Chunks > 0 && len(st.Chain) != sha256.Size {
		return st, errors.New("invalid upload state")
	}
	return st, nil
}

// exists reports whether a file exists at p.
func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
