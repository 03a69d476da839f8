package store

import "context"

// Policy is the set of rules of the repositories whose names match
// Pattern (a pattern of internal/auth.Match: NAME, PREFIX/* or *). Where
// several match, the most specific applies: the exact name, then the
// longest prefix, then "*".
type Policy struct {
	Pattern string `json:"pattern"`
	// ImmutableTags: a tag that exists may not be pushed again naming
	// another manifest, nor deleted but by the identities of TagDeleters.
	ImmutableTags bool `json:"immutableTags,omitempty"`
	// TagDeleters are the identities that may delete an immutable tag.
	TagDeleters []string `json:"tagDeleters,omitempty"`

	// The retention rules, applied by garbage collection (internal/gc,
	// docs/gc.md); zero turns a rule off.

	// KeepTags: only the KeepTags most recently pushed tags (of those
	// matching TagPattern) are kept; the others are deleted, with the
	// manifests only they kept.
	KeepTags int `json:"keepTags,omitempty"`
	// TagPattern limits KeepTags to the tags it matches (path.Match
	// syntax); tags it does not match are not touched. "": every tag.
	TagPattern string `json:"tagPattern,omitempty"`
	// UntaggedDays: a manifest that no tag keeps is deleted this many
	// days after it was pushed.
	UntaggedDays int `json:"untaggedDays,omitempty"`
	// UnlinkDays: a blob link that nothing in the repository names is
	// removed this many days after it was written.
	UnlinkDays int `json:"unlinkDays,omitempty"`
}

// HasRetention reports whether p has a retention rule.
func (p Policy) HasRetention() bool {
	return p.KeepTags > 0 || p.UntaggedDays > 0 || p.UnlinkDays > 0
}

// Policies keeps the repository policies, in the metadata store.
type Policies interface {
	// PutPolicy records p, replacing the policy of its pattern.
	PutPolicy(ctx context.Context, p Policy) error
	// Policies returns every policy, in byte order of their patterns.
	Policies(ctx context.Context) ([]Policy, error)
	// DeletePolicy removes the policy of pattern, or returns ErrNotFound.
	DeletePolicy(ctx context.Context, pattern string) error
}
