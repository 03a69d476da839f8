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
