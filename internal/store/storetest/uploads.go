package storetest

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pier-registry/pier/internal/store"
)

// testUpload returns an upload session with every field set.
func testUpload(repo string) store.Upload {
	return store.Upload{
		ID:         newID(),
		Repository: repo,
		Offset:     0,
		Hash:       []byte("hash state\x00\x01\xff"),
		State:      []byte(`{"opaque":true}`),
		Version:    0,
		Expires:    time.Now().Add(time.Hour).Truncate(time.Second),
		Owner:      "alice",
	}
}

// wantUpload fails t unless session u.ID is u.
func wantUpload(t *testing.T, m store.Metadata, u store.Upload) {
	t.Helper()
	got, err := m.Upload(ctx, u.ID)
	if err != nil {
		t.Fatalf("Upload(%s): %v", u.ID, err)
	}
	if got.ID != u.ID || got.Repository != u.Repository || got.Offset != u.Offset ||
		!bytes.Equal(got.Hash, u.Hash) || !bytes.Equal(got.State, u.State) ||
		got.Version != u.Version || !got.Expires.Equal(u.Expires) || got.Owner != u.Owner {
		t.Fatalf("Upload(%s) = %+v, want %+v", u.ID, got, u)
	}
}

func wantNoUpload(t *testing.T, m store.Metadata, id string) {
	t.Helper()
	_, err := m.Upload(ctx, id)
	wantErr(t, fmt.Sprintf("Upload(%s)", id), err, store.ErrNotFound)
}

func testUploads(t *testing.T, m store.Metadata) {
	u := testUpload("repo")
	wantNoUpload(t, m, u.ID)
	wantErr(t, "CreateUpload", m.CreateUpload(ctx, u), nil)
	wantUpload(t, m, u)
	// A retry of that create (its answer lost after the store applied it)
	// succeeds and changes nothing.
	wantErr(t, "CreateUpload again", m.CreateUpload(ctx, u), nil)
	wantUpload(t, m, u)

	// Another session is another record.
	v := testUpload("other")
	v.Hash, v.State, v.Owner = nil, nil, ""
	wantErr(t, "CreateUpload", m.CreateUpload(ctx, v), nil)
	wantUpload(t, m, v)
	wantUpload(t, m, u)

	// A session id is used once.
	dup := testUpload("repo")
	dup.ID = u.ID
	dup.Owner = "mallory"
	err := m.CreateUpload(ctx, dup)
	wantErr(t, "CreateUpload of an existing id", err, store.ErrConflict)
	wantUpload(t, m, u)

	wantErr(t, "DeleteUpload", m.DeleteUpload(ctx, u.ID), nil)
	wantNoUpload(t, m, u.ID)
	wantUpload(t, m, v)
	wantErr(t, "DeleteUpload again", m.DeleteUpload(ctx, u.ID), nil)
	wantErr(t, "DeleteUpload of an unknown id", m.DeleteUpload(ctx, newID()), nil)
	u.Version = 1
	wantErr(t, "UpdateUpload after DeleteUpload", m.UpdateUpload(ctx, u), store.ErrNotFound)
	wantNoUpload(t, m, newID())
}

func testUploadVersions(t *testing.T, m store.Metadata) {
	u := testUpload("repo")
	wantErr(t, "CreateUpload", m.CreateUpload(ctx, u), nil)

	next := func(u store.Upload, chunk string) store.Upload {
		u.Offset += int64(len(chunk))
		u.Hash = append(slices.Clone(u.Hash), chunk...)
		u.State = append(slices.Clone(u.State), chunk...)
		u.Version++
		return u
	}
	u1 := next(u, "first")
	wantErr(t, "UpdateUpload to version 1", m.UpdateUpload(ctx, u1), nil)
	wantUpload(t, m, u1)
	// A retry of that update (its answer lost after the store applied it)
	// succeeds and changes nothing; another update from version 0 (the
	// "from version 0" case below) still conflicts.
	wantErr(t, "UpdateUpload to version 1 again", m.UpdateUpload(ctx, u1), nil)
	wantUpload(t, m, u1)

	for _, tt := range []struct {
		name    string
		version int64 // the stored version is 1
	}{
		{"from version 0", 1}, // another writer that read version 0
		{"unchanged", 0},
		{"skipping", 3},
		{"far ahead", 99},
		{"negative", -1},
	} {
		bad := next(u1, "bad")
		bad.Version = tt.version
		err := m.UpdateUpload(ctx, bad)
		wantErr(t, fmt.Sprintf("UpdateUpload %s (version %d)", tt.name, bad.Version), err, store.ErrConflict)
		wantUpload(t, m, u1)
	}

	u2 := next(u1, "second")
	u2.Expires = u2.Expires.Add(time.Hour)
	wantErr(t, "UpdateUpload to version 2", m.UpdateUpload(ctx, u2), nil)
	wantUpload(t, m, u2)
}

func testUploadExpiry(t *testing.T, m store.Metadata) {
	for _, tt := range []struct {
		name    string
		expires time.Time
		found   bool
	}{
		{"past", time.Now().Add(-time.Minute).Truncate(time.Second), false},
		{"long past", time.Unix(1e9, 0), false},
		{"future", time.Now().Add(time.Hour).Truncate(time.Second), true},
		{"never", time.Time{}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u := testUpload("repo")
			u.Expires = tt.expires
			wantErr(t, "CreateUpload", m.CreateUpload(ctx, u), nil)
			u1 := u
			u1.Version++
			u1.Offset = 10
			if tt.found {
				wantUpload(t, m, u)
				wantErr(t, "UpdateUpload", m.UpdateUpload(ctx, u1), nil)
				wantUpload(t, m, u1)
			} else {
				wantNoUpload(t, m, u.ID)
				wantErr(t, "UpdateUpload of an expired session", m.UpdateUpload(ctx, u1), store.ErrNotFound)
				wantNoUpload(t, m, u.ID)
			}
			wantErr(t, "DeleteUpload", m.DeleteUpload(ctx, u.ID), nil)
			wantNoUpload(t, m, u.ID)
		})
	}

	// A session updated with a past expiry is gone.
	u := testUpload("repo")
	wantErr(t, "CreateUpload", m.CreateUpload(ctx, u), nil)
	u.Version++
	u.Expires = time.Now().Add(-time.Second).Truncate(time.Second)
	wantErr(t, "UpdateUpload", m.UpdateUpload(ctx, u), nil)
	wantNoUpload(t, m, u.ID)
}

// testUploadRace has 8 writers race to update one session from one
// version: exactly one wins.
func testUploadRace(t *testing.T, m store.Metadata) {
	const writers = 8
	u := testUpload("repo")
	wantErr(t, "CreateUpload", m.CreateUpload(ctx, u), nil)
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			v := u
			v.Version = 1
			v.Offset = int64(100 + i)
			errs[i] = m.UpdateUpload(ctx, v)
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("writers %d and %d both won", winner, i)
		case err == nil:
			winner = i
		default:
			wantErr(t, fmt.Sprintf("writer %d", i), err, store.ErrConflict)
		}
	}
	if winner < 0 {
		t.Fatal("no writer won")
	}
	w := u
	w.Version = 1
	w.Offset = int64(100 + winner)
	wantUpload(t, m, w)
}
