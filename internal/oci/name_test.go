package oci_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/pier-registry/pier/internal/oci"
)

// long255 is a 255-character name made of 2-character components:
// "ab/ab/.../abc".
var long255 = strings.Repeat("ab/", 84) + "abc"

// nameTests are names and whether they are valid; FuzzValidName starts
// from them.
var nameTests = []struct {
	name string
	want bool
}{
	// Valid names of the spec's grammar.
	{"a", true},
	{"0", true},
	{"library/ubuntu", true},
	{"a/b/c/d", true},
	{"a.b", true},
	{"a_b", true},
	{"a__b", true},
	{"a-b", true},
	{"a--b", true},
	{"a---b", true},
	{"a0/b-c.d_e__f", true},
	{"my-org/my.team/app_v2", true},
	{strings.Repeat("a", 255), true},
	{long255, true},

	// Too long.
	{strings.Repeat("a", 256), false},
	{long255 + "c", false},
	{"a/" + strings.Repeat("b", 254), false},

	// Path tricks: none may become a storage key outside the name.
	{"", false},
	{".", false},
	{"..", false},
	{"../a", false},
	{"a/..", false},
	{"a/../b", false},
	{"a/./b", false},
	{"./a", false},
	{"/a", false},
	{"a/", false},
	{"/", false},
	{"a//b", false},
	{`a\b`, false},
	{`..\a`, false},

	// Separators.
	{"a___b", false},
	{"a..b", false},
	{"a.-b", false},
	{"a-.b", false},
	{"a._b", false},
	{"a_-b", false},
	{".a", false},
	{"a.", false},
	{"-a", false},
	{"a-", false},
	{"_a", false},
	{"a_", false},
	{"a/-b", false},
	{"a/_b", false},
	{"a-/b", false},

	// Characters outside [a-z0-9._/-].
	{"A", false},
	{"Library/ubuntu", false},
	{"library/Ubuntu", false},
	{"a b", false},
	{"a:b", false},
	{"a@b", false},
	{"a+b", false},
	{"a%2fb", false},
	{"a%2Fb", false},
	{"é", false},
	{"a\x00", false},
	{"a\n", false},
	{"a\nb", false},
	{"a/b\n", false},
}

func TestValidName(t *testing.T) {
	if len(long255) != 255 {
		t.Fatalf("long255 has %d characters", len(long255))
	}
	for _, tt := range nameTests {
		if got := oci.ValidName(tt.name); got != tt.want {
			t.Errorf("ValidName(%q) = %v, want %v", tt.name, got, tt.want)
		}
		err := oci.CheckName(tt.name)
		if tt.want {
			if err != nil {
				t.Errorf("CheckName(%q) = %v, want nil", tt.name, err)
			}
			continue
		}
		e, ok := oci.AsError(err)
		if !ok {
			t.Errorf("CheckName(%q) = %v, want an *oci.Error", tt.name, err)
			continue
		}
		if e.Code != oci.CodeNameInvalid || e.Status() != 400 {
			t.Errorf("CheckName(%q): code %s status %d, want NAME_INVALID 400", tt.name, e.Code, e.Status())
		}
	}
}

func TestCheckNameTruncatesMessage(t *testing.T) {
	err := oci.CheckName(strings.Repeat("A", 10000))
	if err == nil {
		t.Fatal("CheckName accepted an uppercase name")
	}
	if n := len(err.Error()); n > 400 {
		t.Errorf("error message is %d characters long, want a truncated name", n)
	}
}

// tagTests are tags and whether they are valid; FuzzValidTag starts from
// them.
var tagTests = []struct {
	tag  string
	want bool
}{
	{"latest", true},
	{"v1.0.0", true},
	{"1", true},
	{"A", true},
	{"_", true},
	{"_x", true},
	{"a-b_c.D", true},
	{"v1..2--3__4", true},
	{"sha256", true},
	{strings.Repeat("a", 128), true},
	{"_" + strings.Repeat("-", 127), true},

	{strings.Repeat("a", 129), false},
	{"", false},
	{".a", false},
	{"-a", false},
	{".", false},
	{"..", false},
	{"a/b", false},
	{"a:b", false},
	{"sha256:abc", false},
	{"a b", false},
	{"a@b", false},
	{"a+b", false},
	{"é", false},
	{"a\n", false},
	{"a\x00", false},
}

func TestValidTag(t *testing.T) {
	for _, tt := range tagTests {
		if got := oci.ValidTag(tt.tag); got != tt.want {
			t.Errorf("ValidTag(%q) = %v, want %v", tt.tag, got, tt.want)
		}
	}
}

// The spec's grammars, which ValidName and ValidTag match by hand.
var (
	specName = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)
	specTag  = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
)

// FuzzValidName checks ValidName against the spec's regular expression
// (and the length limit) on any string.
func FuzzValidName(f *testing.F) {
	for _, tt := range nameTests {
		f.Add(tt.name)
	}
	f.Fuzz(func(t *testing.T, name string) {
		want := len(name) <= oci.MaxNameLength && specName.MatchString(name)
		if got := oci.ValidName(name); got != want {
			t.Errorf("ValidName(%q) = %v, the spec's grammar says %v", name, got, want)
		}
	})
}

// FuzzValidTag checks ValidTag against the spec's regular expression on
// any string.
func FuzzValidTag(f *testing.F) {
	for _, tt := range tagTests {
		f.Add(tt.tag)
	}
	f.Fuzz(func(t *testing.T, tag string) {
		if got, want := oci.ValidTag(tag), specTag.MatchString(tag); got != want {
			t.Errorf("ValidTag(%q) = %v, the spec's grammar says %v", tag, got, want)
		}
	})
}
