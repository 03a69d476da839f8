package store

import (
	"strings"
	"testing"
)

func TestCheckUploadID(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{NewUploadID(), true},
		{"0123456789abcdef0123456789abcdef", true},
		{"", false},
		{"0123456789abcdef0123456789abcde", false},   // 31
		{"0123456789abcdef0123456789abcdef0", false}, // 33
		{"0123456789ABCDEF0123456789abcdef", false},  // upper case
		{"0123456789abcdef0123456789abcdeg", false},
		{"../../../../../../../../../../x/", false},
		{"0123456789abcdef/123456789abcdef", false},
		{strings.Repeat("a", 1000), false},
	}
	for _, tt := range tests {
		err := CheckUploadID(tt.id)
		if (err == nil) != tt.ok {
			t.Errorf("CheckUploadID(%q) = %v, want ok %v", tt.id, err, tt.ok)
		}
		if err != nil && len(err.Error()) > 200 {
			t.Errorf("CheckUploadID(%d characters): error of %d characters", len(tt.id), len(err.Error()))
		}
	}
}
