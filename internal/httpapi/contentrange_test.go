package httpapi

import (
	"math"
	"strconv"
	"testing"
)

func TestParseContentRange(t *testing.T) {
	tests := []struct {
		in         string
		start, end int64
		ok         bool
	}{
		// The spec's form and what clients send besides.
		{"0-99", 0, 99, true},
		{"0-0", 0, 0, true},
		{"100-199", 100, 199, true},
		{"5-5", 5, 5, true},
		{"bytes 0-99/100", 0, 99, true},
		{"bytes 0-99/*", 0, 99, true},
		{"bytes=5-9", 5, 9, true},
		{"bytes=5-9/10", 5, 9, true},
		{"bytes  5-9", 5, 9, true},
		{"  0-99  ", 0, 99, true},
		{"\t0-99\r\n", 0, 99, true},
		{"0-99/", 0, 99, true},
		{"0-9223372036854775807", 0, math.MaxInt64, true},
		{"9223372036854775807-9223372036854775807", math.MaxInt64, math.MaxInt64, true},

		// End before start, negative, not numbers.
		{"5-4", 0, 0, false},
		{"1-0", 0, 0, false},
		{"-1-3", 0, 0, false},
		{"0--1", 0, 0, false},
		{"-5", 0, 0, false},
		{"5-", 0, 0, false},
		{"-", 0, 0, false},
		{"a-b", 0, 0, false},
		{"0x0-0x9", 0, 0, false},
		{"1.0-2.0", 0, 0, false},
		{"0 - 99", 0, 0, false},
		{"", 0, 0, false},
		{" ", 0, 0, false},
		{"bytes", 0, 0, false},
		{"bytes=", 0, 0, false},
		{"99", 0, 0, false},
		{"/0-99", 0, 0, false},
		{"bytes */100", 0, 0, false},
		{"items 0-99", 0, 0, false},
		{"0-99,200-299", 0, 0, false},
		{"0-1-2", 0, 0, false},

		// Numbers that do not fit in an int64.
		{"0-9223372036854775808", 0, 0, false},
		{"9223372036854775808-9223372036854775809", 0, 0, false},
		{"0-99999999999999999999999999", 0, 0, false},
		{"bytes 18446744073709551615-18446744073709551615/*", 0, 0, false},
	}
	for _, tt := range tests {
		start, end, err := parseContentRange(tt.in)
		if !tt.ok {
			if err == nil {
				t.Errorf("parseContentRange(%q) = %d, %d, want an error", tt.in, start, end)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseContentRange(%q): %v", tt.in, err)
			continue
		}
		if start != tt.start || end != tt.end {
			t.Errorf("parseContentRange(%q) = %d, %d, want %d, %d", tt.in, start, end, tt.start, tt.end)
		}
	}
}

func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{
		"0-99", "bytes 0-99/100", "bytes=5-9", "bytes 0-99/*", "5-4", "-1-3", "a-b", "",
		"0-9223372036854775807", "0-9223372036854775808", "+1-+2", "bytes=-", "/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		start, end, err := parseContentRange(s)
		if err != nil {
			if start != 0 || end != 0 {
				t.Fatalf("parseContentRange(%q) = %d, %d with error %v", s, start, end, err)
			}
			return
		}
		if start < 0 || end < start {
			t.Fatalf("parseContentRange(%q) = %d, %d", s, start, end)
		}
		back := strconv.FormatInt(start, 10) + "-" + strconv.FormatInt(end, 10)
		start2, end2, err := parseContentRange(back)
		if err != nil || start2 != start || end2 != end {
			t.Fatalf("parseContentRange(%q) = %d, %d, but %q parses to %d, %d, %v", s, start, end, back, start2, end2, err)
		}
	})
}
