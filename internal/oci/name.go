package oci

import "strings"

// MaxNameLength is the longest repository name Pier accepts. The spec asks
// clients to keep the registry host and the name under 255 characters.
const MaxNameLength = 255

// maxTagLength is the longest tag of the spec's grammar.
const maxTagLength = 128

// The spec gives both grammars as regular expressions:
//
//	name: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
//	tag:  [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
//
// ValidName and ValidTag match them by hand: compiling the expressions
// with package regexp took about 1,800 allocations and a third of the
// function's instructions at each Lambda cold start (a package variable is
// built when the process starts, before any request). The tests check the
// matchers against the expressions.

// ValidName reports whether name is a repository name of the spec's grammar.
// A valid name has no "..", no empty component and no leading "/", so it is
// safe to use as a storage key.
func ValidName(name string) bool {
	if name == "" || len(name) > MaxNameLength {
		return false
	}
	for component := range strings.SplitSeq(name, "/") {
		if !validComponent(component) {
			return false
		}
	}
	return true
}

// validComponent reports whether c is a path component of a name: runs of
// [a-z0-9] joined by one separator each, ".", "_", "__" or any number of
// "-".
func validComponent(c string) bool {
	i := 0
	for {
		run := i
		for i < len(c) && (c[i] >= 'a' && c[i] <= 'z' || c[i] >= '0' && c[i] <= '9') {
			i++
		}
		if i == run {
			return false // empty component, or a separator at a start or next to another
		}
		if i == len(c) {
			return true
		}
		switch c[i] {
		case '.':
			i++
		case '_':
			i++
			if i < len(c) && c[i] == '_' {
				i++
			}
		case '-':
			for i < len(c) && c[i] == '-' {
				i++
			}
		default:
			return false
		}
	}
}

// ValidTag reports whether tag is a tag of the spec's grammar.
func ValidTag(tag string) bool {
	if tag == "" || len(tag) > maxTagLength || tag[0] == '.' || tag[0] == '-' {
		return false
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
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
