package auth

import (
	"reflect"
	"strings"
	"testing"

	"github.com/pier-registry/pier/internal/store"
)

func TestCheckName(t *testing.T) {
	tests := []struct {
		name    string
		wantErr string // "" for a valid name
	}{
		{"alice", ""},
		{"ci-bot_2.eu@example.com", ""},
		{"A", ""},
		{strings.Repeat("a", MaxNameLength), ""},
		{"", "want 1 to 128 characters"},
		{strings.Repeat("a", MaxNameLength+1), "want 1 to 128 characters"},
		{"bad/name", "only letters, digits"},
		{"two words", "only letters, digits"},
		{"team:app", "only letters, digits"},
		{"héllo", "only letters, digits"},
		{"a#b", "only letters, digits"},
	}
	for _, tt := range tests {
		err := CheckName(tt.name)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("CheckName(%q) = %v, want nil", tt.name, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("CheckName(%q) = %v, want an error with %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestParseGrant(t *testing.T) {
	tests := []struct {
		in      string
		want    store.Grant
		wantErr string
	}{
		{in: "team/*=pull,push", want: grant("team/*", Pull, Push)},
		{in: "*=delete,push,pull", want: grant("*", Pull, Push, Delete)},
		{in: " app = push , pull,push ", want: grant("app", Pull, Push)},
		{in: "app=pull,,", want: grant("app", Pull)},
		{in: "team/*", wantErr: "want PATTERN=ACTIONS"},
		{in: "app=", wantErr: "no actions"},
		{in: "app=pull,write", wantErr: `unknown action "write"`},
		{in: "=pull", wantErr: "pattern"},
		{in: "team/a*=pull", wantErr: "pattern"},
	}
	for _, tt := range tests {
		got, err := ParseGrant(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseGrant(%q) = %v, %v; want an error with %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseGrant(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// TestFormatGrants checks that FormatGrants writes what ParseGrant reads
// back, one grant per space-separated word.
func TestFormatGrants(t *testing.T) {
	tests := []struct {
		grants []store.Grant
		want   string
	}{
		{nil, ""},
		{[]store.Grant{grant("team/*", Pull, Push)}, "team/*=pull,push"},
		{[]store.Grant{grant("team/*", Pull, Push), grant("*", Pull)}, "team/*=pull,push *=pull"},
	}
	for _, tt := range tests {
		got := FormatGrants(tt.grants)
		if got != tt.want {
			t.Errorf("FormatGrants(%v) = %q, want %q", tt.grants, got, tt.want)
		}
		for i, word := range strings.Fields(got) {
			g, err := ParseGrant(word)
			if err != nil || !reflect.DeepEqual(g, tt.grants[i]) {
				t.Errorf("ParseGrant(%q) = %v, %v; want %v", word, g, err, tt.grants[i])
			}
		}
	}
}
