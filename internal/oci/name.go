package oci

import (
	"regexp"
)

// MaxNameLength is the longest repository name Pier accepts. The spec asks
// clients to keep the registry host and the name under 255 characters.
const MaxNameLength = 255

var (
	nameRE = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagRE  = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
)

// ValidName reports whether name is a repository name of the spec's grammar.
// A valid name has no "..", no empty component and no leading "/", so it is
// safe to use as a storage key.
func ValidName(name string) bool {
	return len(name) <= MaxNameLength && nameRE.MatchString(name)
}

// ValidTag reports whether tag is a tag of the spec's grammar.
func ValidTag(tag string) bool {
	return tagRE.MatchString(tag)
}

// CheckName returns a NAME_INVALID error when name is not a valid
// repository name.
func CheckName(name string) error {
	if !ValidName(name) {
		return Errorf(CodeNameInvalid, "invalid repository name %q", truncate(name))
	}
	return nil
}

// truncate shortens s for an error message.
func truncate(s string) string {
	const max = 300
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
