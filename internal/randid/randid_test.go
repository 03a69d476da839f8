package randid

import (
	"encoding/base64"
	"encoding/hex"
	"testing"
)

func TestIDs(t *testing.T) {
	tests := []struct {
		name   string
		make   func() string
		length int
		decode func(string) ([]byte, error)
		bytes  int
	}{
		{"Hex(8)", func() string { return Hex(8) }, 16, hex.DecodeString, 8},
		{"Hex(16)", func() string { return Hex(16) }, 32, hex.DecodeString, 16},
		{"Base64URL(24)", func() string { return Base64URL(24) }, 32, base64.RawURLEncoding.DecodeString, 24},
		{"Base64URL(32)", func() string { return Base64URL(32) }, 43, base64.RawURLEncoding.DecodeString, 32},
	}
	for _, tt := range tests {
		seen := map[string]bool{}
		for range 100 {
			id := tt.make()
			if len(id) != tt.length {
				t.Fatalf("%s = %q: %d characters, want %d", tt.name, id, len(id), tt.length)
			}
			if b, err := tt.decode(id); err != nil || len(b) != tt.bytes {
				t.Fatalf("%s = %q: decodes to %d bytes, %v; want %d", tt.name, id, len(b), err, tt.bytes)
			}
			if seen[id] {
				t.Fatalf("%s repeated %q in 100 calls", tt.name, id)
			}
			seen[id] = true
		}
	}
}
