package main

import (
	"archive/zip"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bootstrap")
	body := bytes.Repeat([]byte("\x7fELF pier "), 1000)
	if err := os.WriteFile(bin, body, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "fn.zip")
	if err := write(out, bin); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.OpenReader(out)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) != 1 {
		t.Fatalf("%d entries, want 1", len(zr.File))
	}
	f := zr.File[0]
	if f.Name != "bootstrap" || f.Mode().Perm() != 0o755 || f.Method != zip.Deflate {
		t.Errorf("entry %q mode %v method %d, want bootstrap 0755 deflate", f.Name, f.Mode(), f.Method)
	}
	r, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, body) {
		t.Errorf("entry holds %d bytes (%v), want the binary's %d", len(got), err, len(body))
	}

	// The same binary makes the same zip.
	first, _ := os.ReadFile(out)
	if err := write(out, bin); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(out)
	if !bytes.Equal(first, second) {
		t.Error("two zips of one binary differ")
	}
}

func TestWriteRefusesOtherNames(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "api")
	os.WriteFile(bin, []byte("x"), 0o755)
	if err := write(filepath.Join(dir, "fn.zip"), bin); err == nil {
		t.Error("a binary not named bootstrap was zipped")
	}
}
