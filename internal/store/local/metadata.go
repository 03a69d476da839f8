package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pier-registry/pier/internal/store"
)

// MaxInlineBody is the size of the longest manifest body that Metadata
// keeps in the manifest's record.
const MaxInlineBody = 64 << 10

// schema is the version of the layout of the database (see the package
// documentation).
const schema = "1"

// Bucket and key names.
var (
	bucketPier         = []byte("pier")
	keySchema          = []byte("schema")
	bucketRepositories = []byte("repositories")
	bucketUploads      = []byte("uploads")
	bucketIdentities   = []byte("identities")
	bucketTags         = []byte("tags")
	bucketManifests    = []byte("manifests")
	bucketBlobs        = []byte("blobs")
	bucketReferrers    = []byte("referrers")
)

// Metadata is a store.Metadata kept in one bbolt file. It is safe for
// concurrent use; only one process may have the file open.
type Metadata struct {
	db *bolt.DB
}

var _ store.Metadata = (*Metadata)(nil)

// openTimeout bounds the wait for another process's lock on the file.
const openTimeout = 5 * time.Second

// OpenMetadata opens the metadata database at path, creating it when it
// does not exist. It fails when another process has it open for longer
// than a few seconds.
func OpenMetadata(path string) (*Metadata, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: openTimeout})
	if err != nil {
		return nil, fmt.Errorf("open metadata %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		p, err := tx.CreateBucketIfNotExists(bucketPier)
		if err != nil {
			return err
		}
		switch v := p.Get(keySchema); {
		case v == nil:
			if err := p.Put(keySchema, []byte(schema)); err != nil {
				return err
			}
		case string(v) != schema:
			return fmt.Errorf("schema %q, want %q", v, schema)
		}
		// identities came after schema 1 was first written; it is made
		// here in a file that lacks it, which an older Pier ignores.
		for _, name := range [][]byte{bucketRepositories, bucketUploads, bucketIdentities} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open metadata %s: %w", path, err)
	}
	return &Metadata{db: db}, nil
}

// Close closes the database.
func (m *Metadata) Close() error {
	if err := m.db.Close(); err != nil {
		return fmt.Errorf("close metadata: %w", err)
	}
	return nil
}

// view runs fn in a read transaction, after checking ctx.
func (m *Metadata) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return m.db.View(fn)
}

// update runs fn in a read-write transaction, after checking ctx.
func (m *Metadata) update(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return m.db.Update(fn)
}

// viewRepo returns what read returns of the buckets of repo, in a read
// transaction after checking ctx; store.ErrNotFound when repo does not
// exist.
func viewRepo[T any](ctx context.Context, m *Metadata, repo string, read func(r repoBuckets) (T, error)) (T, error) {
	var t T
	err := m.view(ctx, func(tx *bolt.Tx) error {
		r, err := repository(tx, repo)
		if err != nil {
			return err
		}
		t, err = read(r)
		return err
	})
	return t, err
}

// updateRepo runs fn with the buckets of repo in a read-write transaction,
// after checking ctx; store.ErrNotFound when repo does not exist.
func (m *Metadata) updateRepo(ctx context.Context, repo string, fn func(tx *bolt.Tx, r repoBuckets) error) error {
	return m.update(ctx, func(tx *bolt.Tx) error {
		r, err := repository(tx, repo)
		if err != nil {
			return err
		}
		return fn(tx, r)
	})
}

// repoBuckets are the buckets of one repository.
type repoBuckets struct {
	tags, manifests, blobs, referrers *bolt.Bucket
}

// repository returns the buckets of repo, or store.ErrNotFound when repo
// does not exist.
func repository(tx *bolt.Tx, repo string) (repoBuckets, error) {
	r, ok := lookupRepository(tx, repo)
	if !ok {
		return repoBuckets{}, fmt.Errorf("repository %q: %w", repo, store.ErrNotFound)
	}
	return r, nil
}

// lookupRepository returns the buckets of repo, and whether it exists.
func lookupRepository(tx *bolt.Tx, repo string) (repoBuckets, bool) {
	r := tx.Bucket(bucketRepositories).Bucket([]byte(repo))
	if r == nil {
		return repoBuckets{}, false
	}
	return repoBuckets{
		tags:      r.Bucket(bucketTags),
		manifests: r.Bucket(bucketManifests),
		blobs:     r.Bucket(bucketBlobs),
		referrers: r.Bucket(bucketReferrers),
	}, true
}

// createRepository returns the buckets of repo, making them when repo does
// not exist yet.
func createRepository(tx *bolt.Tx, repo string) (repoBuckets, error) {
	if repo == "" {
		return repoBuckets{}, errors.New("empty repository name")
	}
	r, err := tx.Bucket(bucketRepositories).CreateBucketIfNotExists([]byte(repo))
	if err != nil {
		return repoBuckets{}, fmt.Errorf("repository %q: %w", repo, err)
	}
	var bs [4]*bolt.Bucket
	for i, name := range [][]byte{bucketTags, bucketManifests, bucketBlobs, bucketReferrers} {
		if bs[i], err = r.CreateBucketIfNotExists(name); err != nil {
			return repoBuckets{}, fmt.Errorf("repository %q: %w", repo, err)
		}
	}
	return repoBuckets{tags: bs[0], manifests: bs[1], blobs: bs[2], referrers: bs[3]}, nil
}

// page calls fn with up to n keys and values of the bucket of c, in byte
// order, those that start with prefix and come after after (when after is
// not empty), stopping at the first error fn returns.
func page(c *bolt.Cursor, prefix, after []byte, n int, fn func(k, v []byte) error) error {
	if n <= 0 {
		return nil
	}
	start := prefix
	if bytes.Compare(after, start) > 0 {
		start = after
	}
	k, v := c.Seek(start)
	if len(after) > 0 && bytes.Equal(k, after) {
		k, v = c.Next()
	}
	for i := 0; i < n && k != nil && bytes.HasPrefix(k, prefix); i++ {
		if err := fn(k, v); err != nil {
			return err
		}
		k, v = c.Next()
	}
	return nil
}
