package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
)

// uploadState is the state of an upload that WriteChunk returns: the
// upload's accepted chunks, in order.
type uploadState struct {
	Chunks []chunk `json:"chunks"`
}

// chunk is one staged chunk: a file in uploads/<id> and its size.
type chunk struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// WriteChunk stages the bytes of r, which continue the upload id at offset,
// in a new file uploads/<id>/<offset>-<random>, syncs it, and returns the
// number of bytes and the state of state (which must hold offset bytes)
// with that file added. An empty chunk stages nothing. On error the file is
// removed.
func (b *Blobs) WriteChunk(ctx context.Context, id string, state []byte, offset int64, r io.Reader) ([]byte, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, fmt.Errorf("write chunk of upload %s: %w", id, err)
	}
	if err := checkID(id); err != nil {
		return nil, 0, fmt.Errorf("write chunk: %w", err)
	}
	st, size, err := decodeState(state)
	if err != nil {
		return nil, 0, fmt.Errorf("write chunk of upload %s: %w", id, err)
	}
	if size != offset {
		return nil, 0, fmt.Errorf("write chunk of upload %s: offset %d, but the state holds %d bytes", id, offset, size)
	}
	dir := b.uploadDir(id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, 0, fmt.Errorf("write chunk of upload %s: %w", id, err)
	}
	f, err := createUnique(dir, strconv.FormatInt(offset, 10)+"-")
	if err != nil {
		return nil, 0, fmt.Errorf("write chunk of upload %s: %w", id, err)
	}
	n, err := io.Copy(f, ctxReader{ctx, r})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > 0 {
		st.Chunks = append(st.Chunks, chunk{Name: filepath.Base(f.Name()), Size: n})
		err = syncDir(dir)
	}
	if err != nil || n == 0 {
		os.Remove(f.Name())
	}
	if err != nil {
		return nil, 0, fmt.Errorf("write chunk of upload %s: %w", id, err)
	}
	out, err := json.Marshal(st)
	if err != nil {
		return nil, 0, fmt.Errorf("write chunk of upload %s: %w", id, err)
	}
	return out, n, nil
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
	if err := checkID(id); err != nil {
		return fmt.Errorf("commit upload: %w", err)
	}
	st, _, err := decodeState(state)
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
	dir := b.uploadDir(id)
	for _, c := range st.Chunks {
		fi, err := os.Stat(filepath.Join(dir, c.Name))
		if err != nil {
			return notFound(err)
		}
		if fi.Size() != c.Size {
			return fmt.Errorf("chunk %s holds %d bytes, not %d", c.Name, fi.Size(), c.Size)
		}
	}
	if len(st.Chunks) == 1 {
		return b.install(filepath.Join(dir, st.Chunks[0].Name), p)
	}

	if err := os.MkdirAll(dir, 0o755); err != nil { // an empty upload has no directory
		return err
	}
	f, err := createUnique(dir, "commit-")
	if err != nil {
		return err
	}
	for _, c := range st.Chunks {
		if err = ctx.Err(); err != nil {
			break
		}
		if err = appendFile(f, filepath.Join(dir, c.Name)); err != nil {
			break
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = b.install(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
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
	if err := checkID(id); err != nil {
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

// maxIDLen bounds the length of an upload id.
const maxIDLen = 128

// checkID returns an error unless id is a plain token: 1 to 128 ASCII
// letters, digits, '-' and '_'. Such an id is one path element.
func checkID(id string) error {
	if id == "" || len(id) > maxIDLen {
		return fmt.Errorf("invalid upload id %q", truncate(id))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("invalid upload id %q", truncate(id))
		}
	}
	return nil
}

// decodeState decodes the state of an upload (nil for a new one) and
// returns it with the number of bytes it holds. It checks that every chunk
// name is one that WriteChunk makes, <offset>-<32 hex digits>, with the
// offset at which that chunk starts, so a state cannot name a file outside
// the upload's directory, nor chunks out of order.
func decodeState(state []byte) (uploadState, int64, error) {
	var st uploadState
	if len(state) == 0 {
		return st, 0, nil
	}
	if err := json.Unmarshal(state, &st); err != nil {
		return st, 0, fmt.Errorf("invalid upload state: %w", err)
	}
	var size int64
	for _, c := range st.Chunks {
		off, rnd, ok := strings.Cut(c.Name, "-")
		if !ok || off != strconv.FormatInt(size, 10) || !isHex32(rnd) || c.Size <= 0 {
			return st, 0, fmt.Errorf("invalid upload state: bad chunk %q of %d bytes at offset %d", truncate(c.Name), c.Size, size)
		}
		if size+c.Size < size {
			return st, 0, errors.New("invalid upload state: size overflows")
		}
		size += c.Size
	}
	return st, size, nil
}

func isHex32(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// exists reports whether a file exists at p.
func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// truncate shortens s for an error message.
func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
