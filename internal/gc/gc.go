// Package gc is Pier's online garbage collector. It runs while the
// registry serves (the scheduled gc function, `pier gc`), on either
// backend, and deletes what nothing needs any more:
//
//   - blobs (and manifest bodies) that no repository links, no manifest
//     of any repository names (config, layers, index entries, subject) and
//     no site index record keeps, once they are older than the grace
//     period, in two steps: a run marks such a blob, and a run that scans
//     at least Settle after the mark, and still finds nothing naming it,
//     claims the mark and deletes the bytes;
//   - expired upload sessions, with what they staged;
//   - what uploads left in the blob store (staged chunks, assembled
//     copies, unfinished multipart uploads, temporary files) that no live
//     session or link needs, once older than LeftoverGrace.
//
// It also finishes the copies of large uploads that Commit left at
// another location (BlobLink.Location), and re-points their links.
//
// Before it looks at the blobs, it applies the retention rules of the
// repository policies (store.Policy; Decide says what goes, retain removes
// it with conditional writes): the tags, manifests and links they remove
// leave the blobs only they named unreferenced in the same pass.
//
// # Safety against writes racing it
//
// A blob is marked only when the scan found nothing naming it. LinkBlob
// and PutManifest of a marked blob remove a pending mark in the same
// atomic write, and fail with store.ErrBlobDeleted once a run has claimed
// the mark (or deleted the bytes: the mark then stays as a tombstone for
// Tombstone). So a push that saw the bytes and links them either removes
// the mark first (the claim fails, nothing is deleted) or fails (and
// re-uploads). A reference that a request checked through an existing
// link (a manifest push checks its layers' links) before the link was
// removed lands within the request's lifetime; a mark is claimed only by a
// scan that started Settle after the mark, so Settle must exceed the
// longest request (default 15 minutes, the Lambda limit).
//
// A run that stops midway leaves marks in whatever state; the next run
// finishes claimed deletions and goes on: every step can be repeated.
package gc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/ctxsleep"
	"github.com/pier-registry/pier/internal/store"
)

// Blobs is a blob store garbage collection can work on.
type Blobs interface {
	store.Blobs
	store.GCBlobs
}

// Metadata is a metadata store garbage collection can work on.
type Metadata interface {
	store.Metadata
	store.GCMetadata
}

// Defaults of Options.
const (
	DefaultGrace     = time.Hour
	DefaultSettle    = 15 * time.Minute
	DefaultTombstone = 24 * time.Hour
	DefaultPageSize  = 1000
)

// Options tune a collection. The zero value is usable.
type Options struct {
	// Grace is how old an unreferenced blob must be before it goes.
	// Default DefaultGrace.
	Grace time.Duration
	// LeftoverGrace is how old what an upload left (staging no live
	// session owns, a temporary file) must be before it goes: more than
	// any registry request lasts. Default DefaultGrace.
	LeftoverGrace time.Duration
	// Settle is how long a mark waits before its blob may be deleted: more
	// than any registry request lasts. Default DefaultSettle.
	Settle time.Duration
	// Tombstone is how long the mark of a deleted blob is kept: more than
	// any registry request lasts. Default DefaultTombstone.
	Tombstone time.Duration
	// Wait makes Run, when it marked blobs, wait Settle and collect again,
	// so that one run deletes them.
	Wait bool
	// DryRun changes nothing: the report says what a run would delete.
	DryRun bool
	// PageSize is the size of the pages of the listings. Default
	// DefaultPageSize.
	PageSize int
	// Now returns the current time. Default time.Now.
	Now func() time.Time
	// Log gets a line per deletion (debug) and per pass (info). Default:
	// slog.Default().
	Log *slog.Logger
}

// Item is something a collection deleted, or would delete.
type Item struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// Report is what a collection did.
type Report struct {
	DryRun bool `json:"dryRun"`
	// Passes is the number of scans.
	Passes int `json:"passes"`
	// Links, Manifests, Uploads and Blobs are what the last pass found.
	Links     int `json:"links"`
	Manifests int `json:"manifests"`
	Uploads   int `json:"uploads"`
	Blobs     int `json:"blobs"`
	// Deleted are the blobs deleted (a dry run: that a run would delete).
	Deleted []Item `json:"deleted"`
	// Freed is the number of bytes of Deleted.
	Freed int64 `json:"freed"`
	// Marked are the blobs marked for deletion by a later pass or run.
	Marked []Item `json:"marked"`
	// Kept counts marks removed because the blob is named again.
	Kept int `json:"kept"`
	// Expired are the expired upload sessions ended.
	Expired []string `json:"expired"`
	// Leftovers are the upload leftovers deleted.
	Leftovers []Item `json:"leftovers"`
	// LeftoverBytes is the number of bytes of Leftovers.
	LeftoverBytes int64 `json:"leftoverBytes"`
	// Settled counts the links moved to their blob's own place.
	Settled int `json:"settled"`
	// RemovedTags ("REPO:TAG"), RemovedManifests ("REPO@DIGEST", with
	// their size) and RemovedLinks ("REPO@DIGEST", with the blob's size)
	// are what the retention rules removed (a dry run: would remove).
	RemovedTags      []Item `json:"removedTags"`
	RemovedManifests []Item `json:"removedManifests"`
	RemovedLinks     []Item `json:"removedLinks"`
	// Raced counts the removals of the rules that a write racing them
	// won (a tag pushed again, a manifest tagged, a blob linked again):
	// the record stays.
	Raced int `json:"raced"`
}

// Collector collects the garbage of one registry's stores.
type Collector struct {
	blobs Blobs
	meta  Metadata
	opts  Options
	// policies and retention are meta's, when it keeps policies and has
	// the conditional removals (nil: no retention rules apply).
	policies  store.Policies
	retention store.Retention
}

// New returns a Collector of blobs and meta.
func New(blobs Blobs, meta Metadata, opts Options) *Collector {
	if opts.Grace <= 0 {
		opts.Grace = DefaultGrace
	}
	if opts.LeftoverGrace <= 0 {
		opts.LeftoverGrace = DefaultGrace
	}
	if opts.Settle <= 0 {
		opts.Settle = DefaultSettle
	}
	if opts.Tombstone <= 0 {
		opts.Tombstone = DefaultTombstone
	}
	if opts.PageSize <= 0 {
		opts.PageSize = DefaultPageSize
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	c := &Collector{blobs: blobs, meta: meta, opts: opts}
	if p, ok := meta.(store.Policies); ok {
		if r, ok := meta.(store.Retention); ok {
			c.policies, c.retention = p, r
		}
	}
	return c
}

// Run collects once: one pass, and when Wait is set and the pass marked
// blobs, a second pass Settle later.
func (c *Collector) Run(ctx context.Context) (Report, error) {
	rep := Report{DryRun: c.opts.DryRun, Deleted: []Item{}, Marked: []Item{}, Expired: []string{}, Leftovers: []Item{},
		RemovedTags: []Item{}, RemovedManifests: []Item{}, RemovedLinks: []Item{}}
	pols, err := c.readPolicies(ctx)
	if err != nil {
		return rep, err
	}
	if err := c.pass(ctx, &rep, pols); err != nil {
		return rep, err
	}
	if c.opts.Wait && !c.opts.DryRun && len(rep.Marked) > 0 {
		if err := ctxsleep.Sleep(ctx, c.opts.Settle); err != nil {
			return rep, err
		}
		if err := c.pass(ctx, &rep, pols); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// pass is one scan and what follows from it.
func (c *Collector) pass(ctx context.Context, rep *Report, pols []store.Policy) error {
	now := c.opts.Now()
	rep.Passes++
	s, err := c.scan(ctx, now, rep)
	if err != nil {
		return err
	}
	if err := c.retain(ctx, s, pols, now, rep); err != nil {
		return err
	}
	if err := c.endExpired(ctx, s, rep); err != nil {
		return err
	}
	if err := c.settle(ctx, s, rep); err != nil {
		return err
	}
	marked, err := c.sweepMarks(ctx, s, now, rep)
	if err != nil {
		return err
	}
	if err := c.markBlobs(ctx, s, marked, now, rep); err != nil {
		return err
	}
	if err := c.leftovers(ctx, s, now, rep); err != nil {
		return err
	}
	c.opts.Log.LogAttrs(ctx, slog.LevelInfo, "gc pass", slog.Int("pass", rep.Passes), slog.Bool("dry_run", c.opts.DryRun),
		slog.Int("links", rep.Links), slog.Int("manifests", rep.Manifests), slog.Int("blobs", rep.Blobs),
		slog.Int("deleted", len(rep.Deleted)), slog.Int64("freed", rep.Freed), slog.Int("marked", len(rep.Marked)),
		slog.Int("expired_uploads", len(rep.Expired)), slog.Int("leftovers", len(rep.Leftovers)), slog.Int("settled", rep.Settled),
		slog.Int("removed_tags", len(rep.RemovedTags)), slog.Int("removed_manifests", len(rep.RemovedManifests)),
		slog.Int("removed_links", len(rep.RemovedLinks)), slog.Int("raced", rep.Raced))
	return nil
}

// endExpired ends the expired upload sessions: their staging first, then
// the record.
func (c *Collector) endExpired(ctx context.Context, s *scan, rep *Report) error {
	for _, u := range s.expired {
		rep.Expired = append(rep.Expired, u.ID)
		if c.opts.DryRun {
			continue
		}
		if err := c.blobs.Abort(ctx, u.ID, u.State); err != nil {
			return fmt.Errorf("gc: end expired upload %s: %w", u.ID, err)
		}
		if err := c.meta.DeleteUpload(ctx, u.ID); err != nil {
			return fmt.Errorf("gc: end expired upload %s: %w", u.ID, err)
		}
	}
	return nil
}

// settle finishes the copies of links whose bytes are at another
// location, and points the links at the blob's own place. The location's
// bytes stay until they are a leftover past the grace period (a URL to
// them may have been given out).
func (c *Collector) settle(ctx context.Context, s *scan, rep *Report) error {
	for _, r := range s.unsettled {
		if c.opts.DryRun {
			rep.Settled++
			continue
		}
		if _, err := c.blobs.Settle(ctx, r.Digest, r.Link.Location); err != nil {
			c.opts.Log.Warn("gc: cannot settle blob", "repository", r.Repository, "digest", r.Digest.String(), "location", r.Link.Location, "error", err.Error())
			continue
		}
		err := c.meta.LinkBlob(ctx, r.Repository, r.Digest, store.BlobLink{Size: r.Link.Size})
		if err != nil {
			return fmt.Errorf("gc: settle blob %s in %s: %w", r.Digest, r.Repository, err)
		}
		rep.Settled++
	}
	return nil
}

// sweepMarks goes through the marks: it removes those of blobs named
// again, deletes the blobs of those that settled (and finishes claimed
// deletions), and drops old tombstones. It returns the digests that have a
// mark.
func (c *Collector) sweepMarks(ctx context.Context, s *scan, now time.Time, rep *Report) (map[digest.Digest]bool, error) {
	marked := map[digest.Digest]bool{}
	for _, mk := range s.marks {
		marked[mk.Digest] = true
		if err := c.sweepMark(ctx, s, mk, now, rep); err != nil {
			return nil, err
		}
	}
	return marked, nil
}

func (c *Collector) sweepMark(ctx context.Context, s *scan, mk store.BlobMark, now time.Time, rep *Report) error {
	switch {
	case mk.State == store.MarkPending && s.refs[mk.Digest]:
		rep.Kept++
		if c.opts.DryRun {
			return nil
		}
		return ignoreConflict(c.meta.Unmark(ctx, mk))
	case mk.State == store.MarkPending && now.Sub(mk.Since) >= c.opts.Settle:
		return c.delete(ctx, mk, now, rep)
	case mk.State == store.MarkDeleting:
		// claimed by a run that stopped before it finished
		return c.delete(ctx, mk, now, rep)
	case mk.State == store.MarkPending && c.opts.DryRun:
		// a later run deletes it
		return c.delete(ctx, mk, now, rep)
	case mk.State == store.MarkDeleted && now.Sub(mk.Since) >= c.opts.Tombstone:
		if c.opts.DryRun {
			return nil
		}
		return ignoreConflict(c.meta.Unmark(ctx, mk))
	}
	return nil
}

// delete claims mark mk (unless a stopped run claimed it), deletes the
// blob's bytes and leaves a tombstone.
func (c *Collector) delete(ctx context.Context, mk store.BlobMark, now time.Time, rep *Report) error {
	size, err := c.blobs.Stat(ctx, mk.Digest)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("gc: %w", err)
	}
	if c.opts.DryRun {
		rep.add(mk.Digest, size)
		return nil
	}
	claimed := mk
	if mk.State != store.MarkDeleting {
		claimed = store.BlobMark{Digest: mk.Digest, State: store.MarkDeleting, Since: now}
		if err := c.meta.MoveMark(ctx, mk, claimed); errors.Is(err, store.ErrConflict) {
			return nil // named again meanwhile
		} else if err != nil {
			return fmt.Errorf("gc: claim %s: %w", mk.Digest, err)
		}
	}
	if err := c.blobs.Delete(ctx, mk.Digest); err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	if err := c.meta.MoveMark(ctx, claimed, store.BlobMark{Digest: mk.Digest, State: store.MarkDeleted, Since: c.opts.Now()}); err != nil {
		return fmt.Errorf("gc: %s deleted: %w", mk.Digest, err)
	}
	rep.add(mk.Digest, size)
	c.opts.Log.LogAttrs(ctx, slog.LevelDebug, "gc deleted blob", slog.String("digest", mk.Digest.String()), slog.Int64("size", size))
	return nil
}

func (rep *Report) add(d digest.Digest, size int64) {
	rep.Deleted = append(rep.Deleted, Item{Name: d.String(), Size: size})
	rep.Freed += size
}

// markBlobs marks the stored blobs that nothing names and that are past
// the grace period. A dry run counts them as deleted: a run would delete
// them (at once with Wait, else in the run after Settle).
func (c *Collector) markBlobs(ctx context.Context, s *scan, marked map[digest.Digest]bool, now time.Time, rep *Report) error {
	rep.Blobs = 0
	cursor := ""
	for {
		blobs, next, err := c.blobs.ListBlobs(ctx, cursor, c.opts.PageSize)
		if err != nil {
			return fmt.Errorf("gc: %w", err)
		}
		for _, b := range blobs {
			rep.Blobs++
			if s.refs[b.Digest] || marked[b.Digest] || now.Sub(b.Modified) < c.opts.Grace {
				continue
			}
			if c.opts.DryRun {
				rep.add(b.Digest, b.Size)
				continue
			}
			err := c.meta.Mark(ctx, store.BlobMark{Digest: b.Digest, State: store.MarkPending, Since: now})
			if errors.Is(err, store.ErrConflict) {
				continue
			}
			if err != nil {
				return fmt.Errorf("gc: %w", err)
			}
			rep.Marked = append(rep.Marked, Item{Name: b.Digest.String(), Size: b.Size})
		}
		if next == "" {
			return nil
		}
		cursor = next
	}
}

// leftovers deletes what uploads left that no live session nor link needs,
// past the grace period.
func (c *Collector) leftovers(ctx context.Context, s *scan, now time.Time, rep *Report) error {
	cursor := ""
	for {
		ls, next, err := c.blobs.Leftovers(ctx, cursor, c.opts.PageSize)
		if err != nil {
			return fmt.Errorf("gc: %w", err)
		}
		for _, l := range ls {
			if l.Upload != "" && s.live[l.Upload] || s.locations[l.Key] || now.Sub(l.Modified) < c.opts.LeftoverGrace {
				continue
			}
			if !c.opts.DryRun {
				if err := c.blobs.DeleteLeftover(ctx, l); err != nil {
					return fmt.Errorf("gc: %w", err)
				}
			}
			rep.Leftovers = append(rep.Leftovers, Item{Name: l.Key, Size: l.Size})
			rep.LeftoverBytes += l.Size
		}
		if next == "" {
			return nil
		}
		cursor = next
	}
}

func ignoreConflict(err error) error {
	if errors.Is(err, store.ErrConflict) {
		return nil
	}
	return err
}
