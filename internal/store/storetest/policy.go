package storetest

import (
	"reflect"
	"testing"

	"github.com/pier-registry/pier/internal/store"
)

// TestPolicies runs the contract tests of store.Policies against the
// stores that open returns.
func TestPolicies(t *testing.T, open func(t *testing.T) store.Metadata) {
	m := open(t)
	ps := as[store.Policies](t, m)
	list := func(want ...store.Policy) {
		t.Helper()
		got, err := ps.Policies(ctx)
		wantErr(t, "Policies", err, nil)
		if want == nil {
			want = []store.Policy{}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Policies: %+v, want %+v", got, want)
		}
	}
	list()
	all := store.Policy{Pattern: "*", ImmutableTags: true}
	team := store.Policy{Pattern: "team/*", ImmutableTags: true, TagDeleters: []string{"alice", "ci"}}
	wantErr(t, "PutPolicy", ps.PutPolicy(ctx, team), nil)
	wantErr(t, "PutPolicy", ps.PutPolicy(ctx, all), nil)
	list(all, team)
	team.TagDeleters = []string{"bob"}
	wantErr(t, "PutPolicy again", ps.PutPolicy(ctx, team), nil)
	list(all, team)
	wantErr(t, "DeletePolicy", ps.DeletePolicy(ctx, "*"), nil)
	wantErr(t, "DeletePolicy again", ps.DeletePolicy(ctx, "*"), store.ErrNotFound)
	list(team)
	// Policies are apart from repositories and identities.
	if repos, err := m.Repositories(ctx, "", 10); err != nil || len(repos) != 0 {
		t.Fatalf("Repositories: %v, %v; want none", repos, err)
	}
}
