package local

import (
	"context"
	_ "crypto/sha256" // registers sha256 with go-digest
	_ "crypto/sha512" // registers sha512 with go-digest
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/randid"
	"github.com/pier-registry/pier/internal/store"
)

// Blobs is a store.Blobs that keeps blobs as files under a directory. It is
// safe for concurrent use, also by several processes sharing the directory.
type Blobs struct {
	dir string
}

var _ store.Blobs = (*Blobs)(nil)

// OpenBlobs returns the blob store kept under dir, making the directories
// it needs.
func OpenBlobs(dir string) (*Blobs, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open blobs: %w", err)
	}
	for _, sub := range []string{"blobs", "uploads", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("open blobs: %w", err)
		}
	}
	return &Blobs{dir: dir}, nil
}

// Stat returns the size of blob d, or store.ErrNotFound.
func (b *Blobs) Stat(ctx context.Context, d digest.Digest) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("stat blob %s: %w", d, err)
	}
	p, err := b.blobPath(d)
	if err != nil {
		return 0, fmt.Errorf("stat blob: %w", err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		return 0, fmt.Errorf("stat blob %s: %w", d, notFound(err))
	}
	return fi.Size(), nil
}

// Open returns blob d for reading, or store.ErrNotFound. The caller closes
// it.
func (b *Blobs) Open(ctx context.Context, d digest.Digest) (io.ReadSeekCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open blob %s: %w", d, err)
	}
	p, err := b.blobPath(d)
	if err != nil {
		return nil, fmt.Errorf("open blob: %w", err)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", d, notFound(err))
	}
	return f, nil
}

// Put stores the bytes of r as blob d and returns their number. It writes
// them to a temporary file while hashing them with d's algorithm, syncs it,
// and renames it into place only when the bytes hash to d; otherwise it
// removes the file and returns store.ErrDigestMismatch. When blob d exists,
// Put only hashes r, to check it and count it, and leaves the blob as it is.
func (b *Blobs) Put(ctx context.Context, d digest.Digest, r io.Reader) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("put blob %s: %w", d, err)
	}
	p, err := b.blobPath(d)
	if err != nil {
		return 0, fmt.Errorf("put blob: %w", err)
	}
	v := d.Verifier()
	r = ctxReader{ctx, r}
	if exists(p) {
		n, err := io.Copy(v, r)
		if err != nil {
			return n, fmt.Errorf("put blob %s: %w", d, err)
		}
		if !v.Verified() {
			return n, fmt.Errorf("put blob %s: %w", d, store.ErrDigestMismatch)
		}
		return n, nil
	}

	var n int64
	err = writeUnique(filepath.Join(b.dir, "tmp"), "put-", func(f *os.File) error {
		var err error
		if n, err = io.Copy(io.MultiWriter(f, v), r); err == nil && !v.Verified() {
			err = store.ErrDigestMismatch
		}
		return err
	}, func(tmp string) error { return b.install(tmp, p) })
	if err != nil {
		return n, fmt.Errorf("put blob %s: %w", d, err)
	}
	return n, nil
}

// Delete removes blob d. Deleting a missing blob is not an error.
func (b *Blobs) Delete(ctx context.Context, d digest.Digest) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete blob %s: %w", d, err)
	}
	p, err := b.blobPath(d)
	if err != nil {
		return fmt.Errorf("delete blob: %w", err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete blob %s: %w", d, err)
	}
	return nil
}

// blobPath returns the path of blob d, after checking that d is a
// well-formed digest of an available algorithm (which makes its parts safe
// path elements).
func (b *Blobs) blobPath(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("digest %q: %w", d, err)
	}
	return filepath.Join(b.dir, "blobs", d.Algorithm().String(), d.Encoded()), nil
}

// install renames the synced file tmp to the blob path p and syncs p's
// directory, so that the blob survives a crash.
func (b *Blobs) install(tmp, p string) error {
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		return err
	}
	return syncDir(dir)
}

// writeUnique creates a new file in dir named prefix and 32 random hex
// digits, has write fill it, syncs and closes it, and hands its name to
// place, which moves it where it belongs (or removes it). When any step
// fails, the file is removed.
func writeUnique(dir, prefix string, write func(*os.File) error, place func(name string) error) error {
	f, err := os.OpenFile(filepath.Join(dir, prefix+randid.Hex(16)), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	err = write(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = place(f.Name())
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// syncDir syncs directory dir, making the renames into it durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// notFound turns a file-not-found error into one that is also
// store.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %w", store.ErrNotFound, err)
	}
	return err
}

// ctxReader is a reader that stops reading once its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
