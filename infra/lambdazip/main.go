// Command lambdazip writes the deployment package of a Lambda function on
// a custom runtime (provided.al2023): a zip holding one executable named
// bootstrap. It needs nothing but Go, so `make build` runs on a machine
// without the zip command, and its output depends only on the binary (a
// fixed time stamp, mode 0755, deflate), so the same binary makes the same
// zip.
//
//	go run ./infra/lambdazip -o build/lambda/arm64/api.zip build/lambda/arm64/api/bootstrap
package main

import (
	"archive/zip"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

func main() {
	out := flag.String("o", "", "zip file to write")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: lambdazip -o out.zip path/to/bootstrap")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *out == "" || flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := write(*out, flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "lambdazip:", err)
		os.Exit(1)
	}
}

// modTime is the time stamp of the zip entry, fixed for reproducible zips.
var modTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// write writes to out a zip with the file at bin as its one entry,
// bootstrap.
func write(out, bin string) error {
	if filepath.Base(bin) != "bootstrap" {
		return fmt.Errorf("%s: the executable of a custom runtime must be named bootstrap", bin)
	}
	src, err := os.Open(bin)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp, err := os.CreateTemp(filepath.Dir(out), ".lambdazip-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename: a no-op
	zw := zip.NewWriter(tmp)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate, Modified: modTime}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err == nil {
		_, err = io.Copy(w, src)
	}
	if err == nil {
		err = zw.Close()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}
