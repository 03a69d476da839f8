package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"

	"github.com/pier-registry/pier/internal/store"
)

// Garbage collection (store.GCMetadata, store.GCBlobs).
//
// The marks are in the bucket gc-marks/<digest>, JSON {state, since}; the
// bucket is made by the first mark. LinkBlob and PutManifest check the
// mark of their blob in their own transaction (passMark).

var (
	_ store.GCMetadata = (*Metadata)(nil)
	_ store.GCBlobs    = (*Blobs)(nil)
)

var bucketMarks = []byte("gc-marks")

type markRecord struct {
	State store.MarkState `json:"state"`
	Since time.Time       `json:"since"`
}

func decodeMark(d digest.Digest, v []byte) (store.BlobMark, error) {
	var rec markRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return store.BlobMark{}, fmt.Errorf("decode mark of %s: %w", d, err)
	}
	return store.BlobMark{Digest: d, State: rec.State, Since: rec.Since}, nil
}

// passMark lets a write that names blob d go on in tx: it removes d's
// pending mark, and returns store.ErrBlobDeleted when a collection claimed
// d or deleted it.
func passMark(tx *bolt.Tx, d digest.Digest) error {
	b := tx.Bucket(bucketMarks)
	if b == nil {
		return nil
	}
	v := b.Get([]byte(d))
	if v == nil {
		return nil
	}
	m, err := decodeMark(d, v)
	if err != nil {
		return err
	}
	if m.State == store.MarkPending {
		return b.Delete([]byte(d))
	}
	return fmt.Errorf("blob %s: %w", d, store.ErrBlobDeleted)
}

// ScanRecords returns the records of whole repositories, in byte order of
// their names, until the page holds n or more, then the upload sessions,
// the site indexes and the marks (all in the last page). The cursor is "r" and the last
// repository of the page.
func (m *Metadata) ScanRecords(ctx context.Context, cursor string, n int) ([]store.Record, string, error) {
	var recs []store.Record
	next := ""
	err := m.view(ctx, func(tx *bolt.Tx) error {
		{
			after := []byte(strings.TrimPrefix(cursor, "r"))
			c := tx.Bucket(bucketRepositories).Cursor()
			k, _ := c.Seek(after)
			if len(after) > 0 && string(k) == string(after) {
				k, _ = c.Next()
			}
			for ; k != nil; k, _ = c.Next() {
				repo := string(k)
				r, err := repository(tx, repo)
				if err != nil {
					return err
				}
				if err := scanRepository(tx, r, repo, &recs); err != nil {
					return err
				}
				if len(recs) >= n {
					next = "r" + repo
					return nil
				}
			}
		}
		next = ""
		err := tx.Bucket(bucketUploads).ForEach(func(k, v []byte) error {
			var rec sessionRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("decode upload %s: %w", k, err)
			}
			recs = append(recs, store.Record{Kind: store.RecordUpload, Upload: rec.upload(string(k))})
			return nil
		})
		if b := tx.Bucket(bucketSites); err == nil && b != nil {
			err = b.ForEach(func(_, v []byte) error {
				recs = append(recs, store.Record{Kind: store.RecordSiteIndex, Digest: digest.Digest(v)})
				return nil
			})
		}
		if b := tx.Bucket(bucketMarks); err == nil && b != nil {
			err = b.ForEach(func(k, v []byte) error {
				mk, err := decodeMark(digest.Digest(k), v)
				recs = append(recs, store.Record{Kind: store.RecordMark, Digest: mk.Digest, Mark: mk})
				return err
			})
		}
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("scan records: %w", err)
	}
	return recs, next, nil
}

func scanRepository(tx *bolt.Tx, r repoBuckets, repo string, recs *[]store.Record) error {
	err := r.blobs.ForEach(func(k, v []byte) error {
		link, err := decodeLink(v)
		*recs = append(*recs, store.Record{Kind: store.RecordLink, Repository: repo, Digest: digest.Digest(k), Link: link,
			Time: stampOf(tx, repo, timeLink, string(k))})
		return err
	})
	if err != nil {
		return fmt.Errorf("repository %s: %w", repo, err)
	}
	err = r.tags.ForEach(func(k, v []byte) error {
		*recs = append(*recs, store.Record{Kind: store.RecordTag, Repository: repo, Tag: string(k), Digest: digest.Digest(v),
			Time: stampOf(tx, repo, timeTag, string(k))})
		return nil
	})
	if err != nil {
		return fmt.Errorf("repository %s: %w", repo, err)
	}
	return r.manifests.ForEach(func(k, _ []byte) error {
		man, err := getManifest(r, digest.Digest(k))
		if err != nil {
			return fmt.Errorf("repository %s manifest %s: %w", repo, k, err)
		}
		*recs = append(*recs, store.Record{Kind: store.RecordManifest, Repository: repo, Digest: man.Digest, Manifest: man,
			Time: stampOf(tx, repo, timeManifest, string(k))})
		return nil
	})
}

// Mark records mk unless its blob has a mark other than a tombstone.
func (m *Metadata) Mark(ctx context.Context, mk store.BlobMark) error {
	return m.changeMark(ctx, mk.Digest, "mark", func(cur *store.BlobMark) (*store.BlobMark, error) {
		if cur != nil && cur.State != store.MarkDeleted {
			return nil, store.ErrConflict
		}
		return &mk, nil
	})
}

// MoveMark replaces mark old with next.
func (m *Metadata) MoveMark(ctx context.Context, old, next store.BlobMark) error {
	return m.changeMark(ctx, old.Digest, "move mark", func(cur *store.BlobMark) (*store.BlobMark, error) {
		if cur == nil || !sameMark(*cur, old) {
			return nil, store.ErrConflict
		}
		return &next, nil
	})
}

// Unmark removes mark old.
func (m *Metadata) Unmark(ctx context.Context, old store.BlobMark) error {
	return m.changeMark(ctx, old.Digest, "unmark", func(cur *store.BlobMark) (*store.BlobMark, error) {
		if cur == nil || !sameMark(*cur, old) {
			return nil, store.ErrConflict
		}
		return nil, nil
	})
}

// Revive removes blob d's tombstone.
func (m *Metadata) Revive(ctx context.Context, d digest.Digest) error {
	return m.changeMark(ctx, d, "revive", func(cur *store.BlobMark) (*store.BlobMark, error) {
		if cur != nil && cur.State != store.MarkDeleted {
			return nil, store.ErrConflict
		}
		return nil, nil
	})
}

// sameMark reports whether a and b are the same mark (the time to the
// second, as the aws backend keeps it).
func sameMark(a, b store.BlobMark) bool {
	return a.State == b.State && a.Since.Unix() == b.Since.Unix()
}

// changeMark replaces the mark of d (nil: none) with what fn returns (nil:
// none), in one transaction.
func (m *Metadata) changeMark(ctx context.Context, d digest.Digest, what string, fn func(cur *store.BlobMark) (*store.BlobMark, error)) error {
	if d == "" {
		return fmt.Errorf("%s: empty digest", what)
	}
	err := m.update(ctx, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketMarks)
		if err != nil {
			return err
		}
		var cur *store.BlobMark
		if v := b.Get([]byte(d)); v != nil {
			mk, err := decodeMark(d, v)
			if err != nil {
				return err
			}
			cur = &mk
		}
		next, err := fn(cur)
		if err != nil {
			return err
		}
		if next == nil {
			return b.Delete([]byte(d))
		}
		v, err := json.Marshal(markRecord{State: next.State, Since: next.Since.UTC().Truncate(time.Second)})
		if err != nil {
			return err
		}
		return b.Put([]byte(d), v)
	})
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, d, err)
	}
	return nil
}

// ListBlobs returns up to n blobs after cursor ("<algorithm>/<hex>"), in
// byte order of that name.
func (b *Blobs) ListBlobs(ctx context.Context, cursor string, n int) ([]store.StoredBlob, string, error) {
	root := filepath.Join(b.dir, "blobs")
	algs, err := os.ReadDir(root)
	if err != nil {
		return nil, "", fmt.Errorf("list blobs: %w", err)
	}
	var out []store.StoredBlob
	for _, alg := range algs {
		if !alg.IsDir() || !strings.HasPrefix(cursor+"/", alg.Name()) && alg.Name()+"/" < cursor {
			continue
		}
		files, err := os.ReadDir(filepath.Join(root, alg.Name()))
		if err != nil {
			return nil, "", fmt.Errorf("list blobs: %w", err)
		}
		for _, f := range files {
			name := alg.Name() + "/" + f.Name()
			if name <= cursor {
				continue
			}
			if err := ctx.Err(); err != nil {
				return nil, "", err
			}
			d := digest.NewDigestFromEncoded(digest.Algorithm(alg.Name()), f.Name())
			fi, err := f.Info()
			if errors.Is(err, fs.ErrNotExist) || d.Validate() != nil {
				continue
			}
			if err != nil {
				return nil, "", fmt.Errorf("list blobs: %w", err)
			}
			out = append(out, store.StoredBlob{Digest: d, Size: fi.Size(), Modified: fi.ModTime()})
			if len(out) == n {
				return out, name, nil
			}
		}
	}
	return out, "", nil
}

// Leftovers returns the directories under uploads/ (one per upload, its
// size and newest modification) and the files under tmp/ (left by a Put
// that stopped), all in one page.
func (b *Blobs) Leftovers(ctx context.Context, cursor string, n int) ([]store.Leftover, string, error) {
	var out []store.Leftover
	for _, sub := range []string{"uploads", "tmp"} {
		entries, err := os.ReadDir(filepath.Join(b.dir, sub))
		if err != nil {
			return nil, "", fmt.Errorf("leftovers: %w", err)
		}
		for _, e := range entries {
			l := store.Leftover{Key: sub + "/" + e.Name()}
			if sub == "uploads" {
				l.Upload = e.Name()
			}
			err := filepath.WalkDir(filepath.Join(b.dir, sub, e.Name()), func(_ string, de fs.DirEntry, err error) error {
				if err != nil {
					return nil // removed meanwhile
				}
				if fi, err := de.Info(); err == nil {
					if !de.IsDir() {
						l.Size += fi.Size()
					}
					if fi.ModTime().After(l.Modified) {
						l.Modified = fi.ModTime()
					}
				}
				return nil
			})
			if err != nil {
				return nil, "", fmt.Errorf("leftovers: %w", err)
			}
			out = append(out, l)
		}
	}
	slices.SortFunc(out, func(a, b store.Leftover) int { return strings.Compare(a.Key, b.Key) })
	return out, "", nil
}

// DeleteLeftover removes l: a directory under uploads/ or a file under
// tmp/.
func (b *Blobs) DeleteLeftover(ctx context.Context, l store.Leftover) error {
	sub, name, ok := strings.Cut(l.Key, "/")
	if !ok || sub != "uploads" && sub != "tmp" || name == "" || strings.ContainsAny(name, `/\`) || name == ".." || name == "." {
		return fmt.Errorf("delete leftover %q: not a leftover", l.Key)
	}
	if err := os.RemoveAll(filepath.Join(b.dir, sub, name)); err != nil {
		return fmt.Errorf("delete leftover %s: %w", l.Key, err)
	}
	return nil
}

// Settle reports the size of blob d: this backend's Commit always puts the
// bytes in place, so location is always "".
func (b *Blobs) Settle(ctx context.Context, d digest.Digest, location string) (int64, error) {
	if location != "" {
		return 0, fmt.Errorf("settle blob %s: unknown location %q", d, location)
	}
	return b.Stat(ctx, d)
}
