package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"

	"github.com/pier-registry/pier/internal/store"
)

// manifestRecord is the value of manifests/<digest>.
type manifestRecord struct {
	MediaType    string            `json:"mediaType"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Subject      digest.Digest     `json:"subject,omitempty"`
	Body         []byte            `json:"body,omitempty"`
}

// referrerRecord is the value of referrers/<subject>/<key>.
// Annotations over store.MaxRecordAnnotations are left out of it
// (AnnotationsInBody), so that a listing's batch of records stays small.
type referrerRecord struct {
	Digest            digest.Digest     `json:"digest"`
	MediaType         string            `json:"mediaType"`
	Size              int64             `json:"size"`
	ArtifactType      string            `json:"artifactType,omitempty"`
	Annotations       map[string]string `json:"annotations,omitempty"`
	AnnotationsInBody bool              `json:"annotationsInBody,omitempty"`
}

// PutManifest records manifest m in repo, keeping its body when it is at
// most MaxInlineBody bytes long, points tags at it, and records it as a
// referrer of its subject, in one transaction.
func (m *Metadata) PutManifest(ctx context.Context, repo string, man store.Manifest, tags []string) error {
	return m.putManifest(ctx, repo, man, tags, false)
}

// putManifest is PutManifest; with fixed, it moves no tag (see
// PutManifestFixedTags).
func (m *Metadata) putManifest(ctx context.Context, repo string, man store.Manifest, tags []string, fixed bool) error {
	if man.Digest == "" {
		return fmt.Errorf("put manifest in %s: empty digest", repo)
	}
	rec := manifestRecord{
		MediaType:    man.MediaType,
		Size:         man.Size,
		ArtifactType: man.ArtifactType,
		Annotations:  man.Annotations,
		Subject:      man.Subject,
	}
	if len(man.Body) <= MaxInlineBody {
		rec.Body = man.Body
	}
	val, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("put manifest %s in %s: %w", man.Digest, repo, err)
	}
	key := []byte(man.Digest)
	err = m.update(ctx, func(tx *bolt.Tx) error {
		if err := passMark(tx, man.Digest); err != nil {
			return err
		}
		r, err := createRepository(tx, repo)
		if err != nil {
			return err
		}
		if fixed {
			if err := checkFixedTags(r, man.Digest, tags); err != nil {
				return err
			}
		}
		if v := r.manifests.Get(key); v != nil {
			var old manifestRecord
			if err := json.Unmarshal(v, &old); err != nil {
				return fmt.Errorf("decode record: %w", err)
			}
			if old.Subject != man.Subject || old.ArtifactType != man.ArtifactType {
				if err := deleteReferrer(r, old.Subject, old.ArtifactType, man.Digest); err != nil {
					return err
				}
			}
		}
		if err := r.manifests.Put(key, val); err != nil {
			return err
		}
		if man.Subject != "" {
			rr := referrerRecord{
				Digest:       man.Digest,
				MediaType:    man.MediaType,
				Size:         man.Size,
				ArtifactType: man.ArtifactType,
				Annotations:  man.Annotations,
			}
			if store.AnnotationsSize(rr.Annotations) > store.MaxRecordAnnotations {
				rr.Annotations, rr.AnnotationsInBody = nil, true
			}
			ref, err := json.Marshal(rr)
			if err != nil {
				return err
			}
			b, err := r.referrers.CreateBucketIfNotExists([]byte(man.Subject))
			if err != nil {
				return err
			}
			if err := b.Put([]byte(store.ReferrerKey(man.ArtifactType, man.Digest)), ref); err != nil {
				return err
			}
		}
		for _, t := range tags {
			if t == "" {
				return errors.New("empty tag")
			}
			if err := r.tags.Put([]byte(t), key); err != nil {
				return fmt.Errorf("tag %q: %w", t, err)
			}
		}
		return stampPut(tx, repo, man.Digest, tags, time.Now())
	})
	if err != nil {
		return fmt.Errorf("put manifest %s in %s: %w", man.Digest, repo, err)
	}
	return nil
}

// Manifest returns manifest d of repo, or store.ErrNotFound.
func (m *Metadata) Manifest(ctx context.Context, repo string, d digest.Digest) (store.Manifest, error) {
	man, err := viewRepo(ctx, m, repo, func(r repoBuckets) (store.Manifest, error) {
		return getManifest(r, d)
	})
	if err != nil {
		return store.Manifest{}, fmt.Errorf("manifest %s in %s: %w", d, repo, err)
	}
	return man, nil
}

// Tag returns the manifest that tag names in repo, or store.ErrNotFound.
func (m *Metadata) Tag(ctx context.Context, repo, tag string) (store.Manifest, error) {
	man, err := viewRepo(ctx, m, repo, func(r repoBuckets) (store.Manifest, error) {
		d := r.tags.Get([]byte(tag))
		if d == nil {
			return store.Manifest{}, store.ErrNotFound
		}
		return getManifest(r, digest.Digest(d))
	})
	if err != nil {
		return store.Manifest{}, fmt.Errorf("tag %q in %s: %w", tag, repo, err)
	}
	return man, nil
}

// getManifest reads manifest d from r.
func getManifest(r repoBuckets, d digest.Digest) (store.Manifest, error) {
	v := r.manifests.Get([]byte(d))
	if v == nil {
		return store.Manifest{}, store.ErrNotFound
	}
	var rec manifestRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return store.Manifest{}, fmt.Errorf("decode record: %w", err)
	}
	return store.Manifest{
		Digest:       d,
		MediaType:    rec.MediaType,
		Size:         rec.Size,
		ArtifactType: rec.ArtifactType,
		Annotations:  rec.Annotations,
		Subject:      rec.Subject,
		Body:         rec.Body,
	}, nil
}

// DeleteManifest removes manifest d from repo with the tags that name it
// (found by a walk over the repository's tags) and its referrer entry, in
// one transaction, or returns store.ErrNotFound.
func (m *Metadata) DeleteManifest(ctx context.Context, repo string, d digest.Digest) error {
	key := []byte(d)
	err := m.updateRepo(ctx, repo, func(_ *bolt.Tx, r repoBuckets) error {
		if r.manifests.Get(key) == nil {
			return store.ErrNotFound
		}
		var tags [][]byte
		c := r.tags.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if string(v) == string(d) {
				tags = append(tags, k)
			}
		}
		for _, t := range tags {
			if err := r.tags.Delete(t); err != nil {
				return fmt.Errorf("tag %q: %w", t, err)
			}
		}
		return deleteManifestRecord(r, d)
	})
	if err != nil {
		return fmt.Errorf("delete manifest %s in %s: %w", d, repo, err)
	}
	return nil
}

// deleteManifestRecord removes the record of manifest d from r, and its
// referrer entry, or returns store.ErrNotFound.
func deleteManifestRecord(r repoBuckets, d digest.Digest) error {
	v := r.manifests.Get([]byte(d))
	if v == nil {
		return store.ErrNotFound
	}
	var rec manifestRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return fmt.Errorf("decode record: %w", err)
	}
	if err := deleteReferrer(r, rec.Subject, rec.ArtifactType, d); err != nil {
		return err
	}
	return r.manifests.Delete([]byte(d))
}

// deleteReferrer removes the referrer entry of manifest d of artifactType
// from the referrers of subject, and the subject's bucket when that was its
// last entry. It does nothing when subject is "".
func deleteReferrer(r repoBuckets, subject digest.Digest, artifactType string, d digest.Digest) error {
	if subject == "" {
		return nil
	}
	b := r.referrers.Bucket([]byte(subject))
	if b == nil {
		return nil
	}
	if err := b.Delete([]byte(store.ReferrerKey(artifactType, d))); err != nil {
		return fmt.Errorf("referrer entry: %w", err)
	}
	if k, _ := b.Cursor().First(); k == nil {
		if err := r.referrers.DeleteBucket([]byte(subject)); err != nil {
			return fmt.Errorf("referrers of %s: %w", subject, err)
		}
	}
	return nil
}

// DeleteTag removes tag from repo, or returns store.ErrNotFound.
func (m *Metadata) DeleteTag(ctx context.Context, repo, tag string) error {
	if err := m.deleteTag(ctx, repo, tag, ""); err != nil {
		return fmt.Errorf("delete tag %q in %s: %w", tag, repo, err)
	}
	return nil
}

// deleteTag removes tag from repo and its time, if it names d (any
// manifest when d is ""); store.ErrNotFound when there is no such tag.
func (m *Metadata) deleteTag(ctx context.Context, repo, tag string, d digest.Digest) error {
	return m.updateRepo(ctx, repo, func(tx *bolt.Tx, r repoBuckets) error {
		switch v := r.tags.Get([]byte(tag)); {
		case v == nil:
			return store.ErrNotFound
		case d != "" && string(v) != string(d):
			return fmt.Errorf("it names %s: %w", v, store.ErrConflict)
		}
		if err := r.tags.Delete([]byte(tag)); err != nil {
			return err
		}
		return unstamp(tx, repo, timeTag, tag)
	})
}

// Tags returns up to n tags of repo in byte order, those after last when
// last is not "". It returns an empty list for a repository without tags
// and when n <= 0, and store.ErrNotFound when repo is unknown.
func (m *Metadata) Tags(ctx context.Context, repo, last string, n int) ([]string, error) {
	tags, err := viewRepo(ctx, m, repo, func(r repoBuckets) ([]string, error) {
		tags := []string{}
		err := page(r.tags.Cursor(), nil, []byte(last), n, func(k, _ []byte) error {
			tags = append(tags, string(k))
			return nil
		})
		return tags, err
	})
	if err != nil {
		return nil, fmt.Errorf("tags of %s: %w", repo, err)
	}
	return tags, nil
}

// Referrers returns up to n manifests of repo whose subject is d, in the
// order of store.ReferrerKey; only those of artifactType when it is not "",
// and only those whose key is after after when it is not "". The manifests
// have no Body. It returns an empty list, not an error, when there are none
// (also when repo is unknown).
func (m *Metadata) Referrers(ctx context.Context, repo string, d digest.Digest, artifactType, after string, n int) ([]store.Manifest, error) {
	refs := []store.Manifest{}
	var prefix []byte
	if artifactType != "" {
		prefix = []byte(store.ReferrerPrefix(artifactType))
	}
	err := m.view(ctx, func(tx *bolt.Tx) error {
		r, ok := lookupRepository(tx, repo)
		if !ok {
			return nil
		}
		b := r.referrers.Bucket([]byte(d))
		if b == nil {
			return nil
		}
		return page(b.Cursor(), prefix, []byte(after), n, func(_, v []byte) error {
			var rec referrerRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("decode referrer record: %w", err)
			}
			refs = append(refs, store.Manifest{
				Digest:       rec.Digest,
				MediaType:    rec.MediaType,
				Size:         rec.Size,
				ArtifactType: rec.ArtifactType,
				Annotations:  rec.Annotations,
				Subject:      d,
				// Large annotations are read from the body.
				AnnotationsInBody: rec.AnnotationsInBody,
			})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("referrers of %s in %s: %w", d, repo, err)
	}
	return refs, nil
}
