package oci_test

import (
	"strings"
	"testing"

	"github.com/pier-registry/pier/internal/oci"
)

func TestValidName(t *testing.T) {
	// A 255-character name made of 2-character components: "ab/ab/.../abc".
	long255 := strings.Repeat("ab/", 84) + "abc"
	if len(long255) != 255 {
		t.Fatalf("long255 has %d characters", len(long255))
	}
	tests := []struct {
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
	for _, tt := range tests {
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

func TestValidTag(t *testing.T) {
	tests := []struct {
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
	for _, tt := range tests {
		if got := oci.ValidTag(tt.tag); got != tt.want {
			t.Errorf("ValidTag(%q) = %v, want %v", tt.tag, got, tt.want)
		}
	}
}
