package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/store"
)

// TestRetention runs the contract tests of store.Retention (and the times
// ScanRecords reports) against the stores that open returns.
func TestRetention(t *testing.T, open func(t *testing.T) store.Metadata) {
	runSubtests(t, open, []subtest[store.Metadata]{
		{"Times", retentionTest(testTimes)},
		{"DeleteTagIf", retentionTest(testDeleteTagIf)},
		{"DeleteUntaggedManifest", retentionTest(testDeleteUntaggedManifest)},
		{"UnlinkBlobIf", retentionTest(testUnlinkBlobIf)},
		{"PutManifestFixedTags", retentionTest(testPutManifestFixedTags)},
		{"FixedTagsRace", retentionTest(testFixedTagsRace)},
		{"RemovalRaces", retentionTest(testRemovalRaces)},
	})
}

// retentionTest makes fn, a test of a store.Metadata that is also a
// store.GCMetadata and a store.Retention, a subtest of the store.Metadata.
func retentionTest(fn func(t *testing.T, m store.Metadata, g store.GCMetadata, r store.Retention)) func(t *testing.T, m store.Metadata) {
	return func(t *testing.T, m store.Metadata) { fn(t, m, as[store.GCMetadata](t, m), as[store.Retention](t, m)) }
}

// scanTimes returns the times ScanRecords reports, by "tag REPO NAME",
// "manifest REPO DIGEST" and "link REPO DIGEST"; a tag's entry also says
// which manifest it names ("tag REPO NAME -> DIGEST").
func scanTimes(t *testing.T, g store.GCMetadata) map[string]time.Time {
	t.Helper()
	times := map[string]time.Time{}
	for _, r := range scanRecords(t, g, 100) {
		switch r.Kind {
		case store.RecordTag:
			times["tag "+r.Repository+" "+r.Tag] = r.Time
			times["tag "+r.Repository+" "+r.Tag+" -> "+r.Digest.String()] = r.Time
		case store.RecordManifest:
			times["manifest "+r.Repository+" "+r.Digest.String()] = r.Time
		case store.RecordLink:
			times["link "+r.Repository+" "+r.Digest.String()] = r.Time
		}
	}
	return times
}

// testTimes: ScanRecords reports when each tag and manifest was last
// pushed and each link last written; a push or link again moves it on.
func testTimes(t *testing.T, m store.Metadata, g store.GCMetadata, _ store.Retention) {
	before := time.Now().Add(-time.Second)
	man := manifest("timed")
	b := digest.FromString("timed blob")
	putManifest(t, m, "r", man, "v1")
	wantErr(t, "LinkBlob", m.LinkBlob(ctx, "r", b, store.BlobLink{Size: 3}), nil)
	first := scanTimes(t, g)
	after := time.Now().Add(time.Second)
	keys := []string{"tag r v1", "tag r v1 -> " + man.Digest.String(), "manifest r " + man.Digest.String(), "link r " + b.String()}
	for _, k := range keys {
		if at, ok := first[k]; !ok || at.Before(before) || at.After(after) {
			t.Fatalf("%s: time %v (recorded: %v), want between %v and %v", k, at, ok, before, after)
		}
	}
	time.Sleep(10 * time.Millisecond)
	putManifest(t, m, "r", man, "v1")
	wantErr(t, "LinkBlob", m.LinkBlob(ctx, "r", b, store.BlobLink{Size: 3}), nil)
	second := scanTimes(t, g)
	for _, k := range keys {
		if !second[k].After(first[k]) {
			t.Errorf("%s: time %v after writing again, was %v", k, second[k], first[k])
		}
	}
}

// testDeleteTagIf: a tag goes only when it names the manifest given.
func testDeleteTagIf(t *testing.T, m store.Metadata, _ store.GCMetadata, r store.Retention) {
	m1, m2 := manifest("one"), manifest("two")
	putManifest(t, m, "r", m1, "a")
	putManifest(t, m, "r", m2, "b")
	wantErr(t, "DeleteTagIf(other manifest)", r.DeleteTagIf(ctx, "r", "a", m2.Digest), store.ErrConflict)
	if got, err := m.Tag(ctx, "r", "a"); err != nil || got.Digest != m1.Digest {
		t.Fatalf("Tag(a) after a refused DeleteTagIf = %s, %v", got.Digest, err)
	}
	wantErr(t, "DeleteTagIf", r.DeleteTagIf(ctx, "r", "a", m1.Digest), nil)
	_, err := m.Tag(ctx, "r", "a")
	wantErr(t, "Tag(a) after DeleteTagIf", err, store.ErrNotFound)
	wantErr(t, "DeleteTagIf again", r.DeleteTagIf(ctx, "r", "a", m1.Digest), store.ErrNotFound)
	wantErr(t, "DeleteTagIf unknown repository", r.DeleteTagIf(ctx, "nope", "a", m1.Digest), store.ErrNotFound)
	// The manifest stays, untagged now: it may be deleted as such.
	if _, err := m.Manifest(ctx, "r", m1.Digest); err != nil {
		t.Fatalf("Manifest after DeleteTagIf: %v", err)
	}
	wantErr(t, "DeleteUntaggedManifest after DeleteTagIf", r.DeleteUntaggedManifest(ctx, "r", m1.Digest), nil)
}

// testDeleteUntaggedManifest: a manifest goes with its referrer entry only
// while no tag names it; a tag deleted since does not keep it.
func testDeleteUntaggedManifest(t *testing.T, m store.Metadata, _ store.GCMetadata, r store.Retention) {
	subject := manifest("subject")
	sig := referrer("sig", subject.Digest, "application/x-sig")
	putManifest(t, m, "r", subject, "v1", "v2")
	putManifest(t, m, "r", sig)
	wantErr(t, "DeleteUntaggedManifest(tagged)", r.DeleteUntaggedManifest(ctx, "r", subject.Digest), store.ErrConflict)
	if _, err := m.Manifest(ctx, "r", subject.Digest); err != nil {
		t.Fatalf("Manifest after a refused DeleteUntaggedManifest: %v", err)
	}
	wantErr(t, "DeleteTag", m.DeleteTag(ctx, "r", "v1"), nil)
	wantErr(t, "DeleteUntaggedManifest(one tag left)", r.DeleteUntaggedManifest(ctx, "r", subject.Digest), store.ErrConflict)
	wantErr(t, "DeleteTag", m.DeleteTag(ctx, "r", "v2"), nil)
	wantErr(t, "DeleteUntaggedManifest", r.DeleteUntaggedManifest(ctx, "r", subject.Digest), nil)
	_, err := m.Manifest(ctx, "r", subject.Digest)
	wantErr(t, "Manifest after DeleteUntaggedManifest", err, store.ErrNotFound)

	// A referrer: its entry goes with it.
	if refs, err := m.Referrers(ctx, "r", subject.Digest, "", "", 10); err != nil || len(refs) != 1 {
		t.Fatalf("referrers before: %+v, %v; want 1", refs, err)
	}
	wantErr(t, "DeleteUntaggedManifest(referrer)", r.DeleteUntaggedManifest(ctx, "r", sig.Digest), nil)
	if refs, err := m.Referrers(ctx, "r", subject.Digest, "", "", 10); err != nil || len(refs) != 0 {
		t.Fatalf("referrers after: %+v, %v; want none", refs, err)
	}
	wantErr(t, "DeleteUntaggedManifest again", r.DeleteUntaggedManifest(ctx, "r", sig.Digest), store.ErrNotFound)

	// Pushed again and tagged after all that: tagged, whatever stale
	// bookkeeping the deletes left.
	putManifest(t, m, "r", subject, "v1")
	wantErr(t, "DeleteUntaggedManifest(tagged again)", r.DeleteUntaggedManifest(ctx, "r", subject.Digest), store.ErrConflict)
	if got, err := m.Tag(ctx, "r", "v1"); err != nil || got.Digest != subject.Digest {
		t.Fatalf("Tag(v1) = %s, %v", got.Digest, err)
	}
}

// testUnlinkBlobIf: a link goes only when it was not written again since
// the time given.
func testUnlinkBlobIf(t *testing.T, m store.Metadata, g store.GCMetadata, r store.Retention) {
	b := digest.FromString("linked blob")
	wantErr(t, "LinkBlob", m.LinkBlob(ctx, "r", b, store.BlobLink{Size: 5}), nil)
	seen := scanTimes(t, g)["link r "+b.String()]
	time.Sleep(10 * time.Millisecond)
	wantErr(t, "LinkBlob again", m.LinkBlob(ctx, "r", b, store.BlobLink{Size: 5}), nil)
	wantErr(t, "UnlinkBlobIf(linked again since)", r.UnlinkBlobIf(ctx, "r", b, seen), store.ErrConflict)
	if _, err := m.Blob(ctx, "r", b); err != nil {
		t.Fatalf("Blob after a refused UnlinkBlobIf: %v", err)
	}
	wantErr(t, "UnlinkBlobIf(zero time)", r.UnlinkBlobIf(ctx, "r", b, time.Time{}), store.ErrConflict)
	now := scanTimes(t, g)["link r "+b.String()]
	wantErr(t, "UnlinkBlobIf", r.UnlinkBlobIf(ctx, "r", b, now), nil)
	_, err := m.Blob(ctx, "r", b)
	wantErr(t, "Blob after UnlinkBlobIf", err, store.ErrNotFound)
	wantErr(t, "UnlinkBlobIf again", r.UnlinkBlobIf(ctx, "r", b, now), store.ErrNotFound)
}

// testPutManifestFixedTags: a fixed put creates tags and keeps those
// naming the manifest, and writes nothing when one names another.
func testPutManifestFixedTags(t *testing.T, m store.Metadata, _ store.GCMetadata, r store.Retention) {
	m1, m2 := manifest("fixed one"), manifest("fixed two")
	wantErr(t, "PutManifestFixedTags", r.PutManifestFixedTags(ctx, "r", m1, []string{"v1"}), nil)
	wantErr(t, "PutManifestFixedTags(same manifest again)", r.PutManifestFixedTags(ctx, "r", m1, []string{"v1", "latest"}), nil)
	wantErr(t, "PutManifestFixedTags(other manifest)", r.PutManifestFixedTags(ctx, "r", m2, []string{"v2", "latest"}), store.ErrTagMoved)
	for _, tag := range []string{"v1", "latest"} {
		if got, err := m.Tag(ctx, "r", tag); err != nil || got.Digest != m1.Digest {
			t.Fatalf("Tag(%s) = %s, %v; want %s", tag, got.Digest, err, m1.Digest)
		}
	}
	_, err := m.Tag(ctx, "r", "v2")
	wantErr(t, "Tag(v2) of the refused put", err, store.ErrNotFound)
	_, err = m.Manifest(ctx, "r", m2.Digest)
	wantErr(t, "Manifest of the refused put", err, store.ErrNotFound)
	// Untagged, a put without tags is no move.
	wantErr(t, "PutManifestFixedTags(no tags)", r.PutManifestFixedTags(ctx, "r", m2, nil), nil)
}

// testFixedTagsRace: fixed puts of one new tag naming different
// manifests, racing: exactly one succeeds, the others get ErrTagMoved,
// and the tag names the winner's manifest.
func testFixedTagsRace(t *testing.T, m store.Metadata, _ store.GCMetadata, r store.Retention) {
	const writers = 8
	for round := range 3 {
		tag := fmt.Sprintf("race-%d", round)
		errs := make([]error, writers)
		mans := make([]store.Manifest, writers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range writers {
			mans[i] = manifest(fmt.Sprintf("racer %d %d", round, i))
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = r.PutManifestFixedTags(ctx, "r", mans[i], []string{tag})
			}()
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("round %d: writers %d and %d both won", round, winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, store.ErrTagMoved):
				t.Fatalf("round %d: writer %d: %v, want ErrTagMoved", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no writer won", round)
		}
		if got, err := m.Tag(ctx, "r", tag); err != nil || got.Digest != mans[winner].Digest {
			t.Fatalf("round %d: Tag = %s, %v; want the winner's %s", round, got.Digest, err, mans[winner].Digest)
		}
	}
}

// TestRetentionLegacy runs the contract tests of the records a store wrote
// before it kept times. open returns a store and forget, which strips the
// times from every record the store holds (as an older Pier wrote them)
// and returns the store to go on with.
func TestRetentionLegacy(t *testing.T, open func(t *testing.T) (m store.Metadata, forget func() store.Metadata)) {
	m, forget := open(t)
	man := manifest("legacy")
	b, other := digest.FromString("legacy blob"), digest.FromString("legacy blob 2")
	putManifest(t, m, "r", man, "v1")
	wantErr(t, "LinkBlob", m.LinkBlob(ctx, "r", b, store.BlobLink{Size: 3}), nil)
	wantErr(t, "LinkBlob", m.LinkBlob(ctx, "r", other, store.BlobLink{Size: 4}), nil)
	m = forget()
	g, r := m.(store.GCMetadata), m.(store.Retention)

	times := scanTimes(t, g)
	keys := []string{"tag r v1", "manifest r " + man.Digest.String(), "link r " + b.String(), "link r " + other.String()}
	for _, k := range keys {
		if at, ok := times[k]; !ok || !at.IsZero() {
			t.Fatalf("%s: time %v (recorded: %v), want zero", k, at, ok)
		}
	}
	// A link without a time is removed by a zero time only.
	wantErr(t, "UnlinkBlobIf(a time, legacy link)", r.UnlinkBlobIf(ctx, "r", b, time.Now()), store.ErrConflict)
	wantErr(t, "UnlinkBlobIf(zero, legacy link)", r.UnlinkBlobIf(ctx, "r", b, time.Time{}), nil)
	// Written again, a record has a time, and a zero time no longer
	// matches.
	putManifest(t, m, "r", man, "v1")
	wantErr(t, "LinkBlob", m.LinkBlob(ctx, "r", other, store.BlobLink{Size: 4}), nil)
	times = scanTimes(t, g)
	for _, k := range []string{"tag r v1", "manifest r " + man.Digest.String(), "link r " + other.String()} {
		if times[k].IsZero() {
			t.Errorf("%s: no time after writing it again", k)
		}
	}
	wantErr(t, "UnlinkBlobIf(zero, link written again)", r.UnlinkBlobIf(ctx, "r", other, time.Time{}), store.ErrConflict)
	wantErr(t, "DeleteTagIf(legacy tag pushed again)", r.DeleteTagIf(ctx, "r", "v1", man.Digest), nil)
	wantErr(t, "DeleteUntaggedManifest", r.DeleteUntaggedManifest(ctx, "r", man.Digest), nil)
}

// testRemovalRaces: each conditional removal racing the write it must
// lose to (several rounds, both orders possible): whichever lands first,
// the write's record is there at the end.
func testRemovalRaces(t *testing.T, m store.Metadata, g store.GCMetadata, r store.Retention) {
	for _, tt := range []struct {
		name string
		// setup writes what the removal targets and returns the removal
		// and the racing write; check fails t unless the write's record
		// is there.
		setup func(round int) (remove, write func() error, check func())
	}{
		{"untagged manifest vs a push of a tag naming it", func(round int) (func() error, func() error, func()) {
			man := manifest(fmt.Sprintf("untagged %d", round))
			tag := fmt.Sprintf("t%d", round)
			putManifest(t, m, "r", man)
			return func() error { return r.DeleteUntaggedManifest(ctx, "r", man.Digest) },
				func() error { return m.PutManifest(ctx, "r", man, []string{tag}) },
				func() {
					if got, err := m.Tag(ctx, "r", tag); err != nil || got.Digest != man.Digest {
						t.Fatalf("round %d: tag %s: %s, %v", round, tag, got.Digest, err)
					}
					if _, err := m.Manifest(ctx, "r", man.Digest); err != nil {
						t.Fatalf("round %d: a tag names a manifest that is gone: %v", round, err)
					}
				}
		}},
		{"tag vs a push moving it", func(round int) (func() error, func() error, func()) {
			old, next := manifest(fmt.Sprintf("old %d", round)), manifest(fmt.Sprintf("next %d", round))
			tag := fmt.Sprintf("m%d", round)
			putManifest(t, m, "r", old, tag)
			return func() error { return r.DeleteTagIf(ctx, "r", tag, old.Digest) },
				func() error { return m.PutManifest(ctx, "r", next, []string{tag}) },
				func() {
					if got, err := m.Tag(ctx, "r", tag); err != nil || got.Digest != next.Digest {
						t.Fatalf("round %d: tag %s: %s, %v; want the pushed %s", round, tag, got.Digest, err, next.Digest)
					}
				}
		}},
		{"link vs the same link written again", func(round int) (func() error, func() error, func()) {
			b := digest.FromString(fmt.Sprintf("raced link %d", round))
			wantErr(t, "LinkBlob", m.LinkBlob(ctx, "r", b, store.BlobLink{Size: 1}), nil)
			seen := scanTimes(t, g)["link r "+b.String()]
			return func() error { return r.UnlinkBlobIf(ctx, "r", b, seen) },
				func() error { return m.LinkBlob(ctx, "r", b, store.BlobLink{Size: 1}) },
				func() {
					if _, err := m.Blob(ctx, "r", b); err != nil {
						t.Fatalf("round %d: the link written again is gone: %v", round, err)
					}
				}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for round := range 8 {
				remove, write, check := tt.setup(round)
				var wg sync.WaitGroup
				var removeErr, writeErr error
				start := make(chan struct{})
				wg.Add(2)
				go func() { defer wg.Done(); <-start; removeErr = remove() }()
				go func() { defer wg.Done(); <-start; writeErr = write() }()
				close(start)
				wg.Wait()
				if writeErr != nil {
					t.Fatalf("round %d: the write: %v", round, writeErr)
				}
				if removeErr != nil && !errors.Is(removeErr, store.ErrConflict) && !errors.Is(removeErr, store.ErrNotFound) {
					t.Fatalf("round %d: the removal: %v", round, removeErr)
				}
				check()
			}
		})
	}
}
