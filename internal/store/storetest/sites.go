package storetest

import (
	"errors"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/store"
)

// TestSiteIndexes is the contract of store.SiteIndexes.
func TestSiteIndexes(t *testing.T, open func(t *testing.T) store.SiteIndexes) {
	m1, m2 := digest.FromString("manifest 1"), digest.FromString("manifest 2")
	x1, x2 := digest.FromString("index 1"), digest.FromString("index 2")
	tests := []subtest[store.SiteIndexes]{
		{"Missing", func(t *testing.T, s store.SiteIndexes) {
			_, err := s.SiteIndex(ctx, m1)
			wantErr(t, "SiteIndex of a manifest never recorded", err, store.ErrNotFound)
		}},
		{"RoundTrip", func(t *testing.T, s store.SiteIndexes) {
			wantErr(t, "PutSiteIndex", s.PutSiteIndex(ctx, m1, x1), nil)
			wantErr(t, "PutSiteIndex", s.PutSiteIndex(ctx, m2, x2), nil)
			for m, want := range map[digest.Digest]digest.Digest{m1: x1, m2: x2} {
				got, err := s.SiteIndex(ctx, m)
				wantErr(t, "SiteIndex", err, nil)
				if got != want {
					t.Errorf("SiteIndex(%s) = %s, want %s", m, got, want)
				}
			}
		}},
		{"Replace", func(t *testing.T, s store.SiteIndexes) {
			wantErr(t, "PutSiteIndex", s.PutSiteIndex(ctx, m1, x1), nil)
			wantErr(t, "PutSiteIndex again", s.PutSiteIndex(ctx, m1, x2), nil)
			if got, err := s.SiteIndex(ctx, m1); err != nil || got != x2 {
				t.Errorf("SiteIndex after a replace = %s, %v; want %s", got, err, x2)
			}
		}},
		{"Concurrent", func(t *testing.T, s store.SiteIndexes) {
			// Two first visits record the same index at once.
			var wg sync.WaitGroup
			errs := make([]error, 8)
			for i := range errs {
				wg.Go(func() { errs[i] = s.PutSiteIndex(ctx, m1, x1) })
			}
			wg.Wait()
			wantErr(t, "concurrent PutSiteIndex", errors.Join(errs...), nil)
			if got, err := s.SiteIndex(ctx, m1); err != nil || got != x1 {
				t.Errorf("SiteIndex = %s, %v; want %s", got, err, x1)
			}
		}},
	}
	runSubtests(t, open, tests)
}
