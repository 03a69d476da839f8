package site

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/opencontainers/go-digest"
)

// Errors of archives that cannot be unpacked.
var (
	// errTooLarge: an archive holds more than the limits allow.
	errTooLarge = errors.New("too large to unpack")
	// errBadArchive: an archive is no gzipped tar.
	errBadArchive = errors.New("not a gzipped tar")
)

// spoolMax is the size of the largest file that unpacking keeps in
// memory; a larger one goes through a temporary file.
const spoolMax = 8 << 20

// unpack reads the gzipped tar of a, stores each regular file in it as a
// blob, and adds the files to files. Other entries (directories, links,
// devices) and paths that would leave the site are skipped.
func (s *Server) unpack(ctx context.Context, a archive, files map[string]entry, total *int64) error {
	rc, err := s.blobs.Open(ctx, a.layer.Digest)
	if err != nil {
		return fmt.Errorf("open archive %s: %w", a.layer.Digest, err)
	}
	defer rc.Close()
	zr, err := gzip.NewReader(rc)
	if err != nil {
		return fmt.Errorf("archive %s: %w (%v)", a.layer.Digest, errBadArchive, err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("archive %s: %w (%v)", a.layer.Digest, errBadArchive, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		p, ok := cleanPath(h.Name)
		if !ok {
			continue
		}
		if a.strip != "" {
			if p, ok = strings.CutPrefix(p, a.strip); !ok {
				continue
			}
		}
		if len(files) >= s.opts.MaxEntries {
			return fmt.Errorf("archive %s: more than %d files: %w", a.layer.Digest, s.opts.MaxEntries, errTooLarge)
		}
		if *total += h.Size; *total > s.opts.MaxUnpacked {
			return fmt.Errorf("archive %s: more than %d bytes: %w", a.layer.Digest, s.opts.MaxUnpacked, errTooLarge)
		}
		d, err := s.store(ctx, tr, h.Size)
		if err != nil {
			return fmt.Errorf("archive %s: file %s: %w", a.layer.Digest, p, err)
		}
		files[p] = entry{Digest: d, Size: h.Size}
	}
}

// store puts the size bytes of r into the blob store, under their digest.
func (s *Server) store(ctx context.Context, r io.Reader, size int64) (digest.Digest, error) {
	h := sha256.New()
	var body io.ReadSeeker
	if size <= spoolMax {
		b, err := io.ReadAll(io.TeeReader(io.LimitReader(r, size), h))
		if err != nil {
			return "", err
		}
		body = bytes.NewReader(b)
	} else {
		f, err := os.CreateTemp("", "pier-site-*")
		if err != nil {
			return "", err
		}
		defer os.Remove(f.Name())
		defer f.Close()
		if _, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, size)); err != nil {
			return "", err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return "", err
		}
		body = f
	}
	d := digest.NewDigest(digest.SHA256, h)
	if _, err := s.blobs.Put(ctx, d, body); err != nil {
		return "", err
	}
	return d, nil
}
