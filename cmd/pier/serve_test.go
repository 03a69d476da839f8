package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLongListCursor: a last= cursor longer than any tag or repository
// name (or referrers cursor, or artifactType filter) gets a clear 400 on both backends (DynamoDB refuses sort keys over
// 1 KB: it was a 500 on the aws backend), and a real cursor still works.
func TestLongListCursor(t *testing.T) {
	for _, backend := range []string{"local", "aws"} {
		t.Run(backend, func(t *testing.T) {
			var s *instance
			if backend == "aws" {
				s = awsServer(t)
			} else {
				s = startServer(t, t.TempDir())
			}
			blob := []byte("cursor test")
			if resp, body := do(t, http.MethodPost, s.url("/v2/team/app/blobs/uploads/?digest="+digestOf(blob)), nil, blob); resp.StatusCode != http.StatusCreated {
				t.Fatalf("push blob: %s %s", resp.Status, body)
			}
			long := strings.Repeat("a", 2048)
			for _, path := range []string{
				"/v2/team/app/tags/list?last=" + long,
				"/v2/team/app/tags/list?n=10&last=" + long,
				"/v2/_catalog?last=" + long,
				"/v2/_catalog?n=10&last=" + long,
				"/v2/team/app/tags/list?last=%ff%fe",
				"/v2/_catalog?last=%ff%fe",
				"/v2/team/app/referrers/" + digestOf(blob) + "?last=" + long,
				"/v2/team/app/referrers/" + digestOf(blob) + "?artifactType=" + long,
			} {
				resp, body := do(t, http.MethodGet, s.url(path), nil, nil)
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"code":"UNSUPPORTED"`) {
					t.Errorf("GET %.60s...: %s %.300s; want 400 UNSUPPORTED", path, resp.Status, body)
				}
			}
			resp, body := do(t, http.MethodGet, s.url("/v2/_catalog?n=10&last=team/a"), nil, nil)
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"team/app"`) {
				t.Errorf("catalog after team/a: %s %s", resp.Status, body)
			}
		})
	}
}

// TestConnectionTimeouts: pier serve closes a keep-alive connection left
// idle and a request whose body stalls, after its timeouts; a body whose
// bytes keep coming may take longer than the read timeout.
func TestConnectionTimeouts(t *testing.T) {
	s := startServer(t, t.TempDir(), "--idle-timeout", "500ms", "--read-timeout", "500ms")
	// closed reports whether the server closes conn within 5 s (reading
	// and dropping whatever it answers first).
	closed := func(conn net.Conn) bool {
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := io.Copy(io.Discard, conn)
		return err == nil // EOF: closed by the server; a timeout: still open
	}
	dial := func() net.Conn {
		conn, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}

	t.Run("idle keep-alive", func(t *testing.T) {
		conn := dial()
		fmt.Fprintf(conn, "GET /v2/ HTTP/1.1\r\nHost: %s\r\n\r\n", s.addr)
		if !closed(conn) {
			t.Error("an idle keep-alive connection is still open 5 s after the answer")
		}
	})
	t.Run("stalled body", func(t *testing.T) {
		conn := dial()
		fmt.Fprintf(conn, "POST /v2/team/app/blobs/uploads/?digest=%s HTTP/1.1\r\nHost: %s\r\nContent-Length: 100\r\n\r\n0123456789", digestOf([]byte("x")), s.addr)
		if !closed(conn) {
			t.Error("a request whose body stalled is still open 5 s later")
		}
	})
	t.Run("slow body", func(t *testing.T) {
		blob := []byte("dripped, one byte at a time")
		conn := dial()
		fmt.Fprintf(conn, "POST /v2/team/app/blobs/uploads/?digest=%s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n", digestOf(blob), s.addr, len(blob))
		for _, b := range blob { // 27 bytes in 2.7 s
			time.Sleep(100 * time.Millisecond)
			conn.Write([]byte{b})
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("slow upload: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Errorf("slow upload: %s, want 201 Created", resp.Status)
		}
	})
}

// TestServeAWSWithAuth: the README's `pier serve --backend aws` runs
// with auth on (the default) without a signing key set: the key is made
// in the data directory, as with the local backend.
func TestServeAWSWithAuth(t *testing.T) {
	data := t.TempDir()
	startServer(t, data, append(awsBackendFlags(t), "--auth", "token")...)
	if _, err := os.Stat(filepath.Join(data, "auth.key")); err != nil {
		t.Errorf("no signing key made in the data directory: %v", err)
	}
}

// TestServeDataInUse: a second pier serve on a data directory in use
// says so, and what to do, instead of "timeout".
func TestServeDataInUse(t *testing.T) {
	data := t.TempDir()
	startServer(t, data)
	cmd := exec.Command(pierBinary(t), "serve", "--addr", freeAddr(t), "--data", data, "--auth", "none")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("a second pier serve on the same data directory ran:\n%s", out)
	}
	for _, want := range []string{data, "in use", "--data"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the second pier serve says %q, which lacks %q", out, want)
		}
	}
}

// TestServeHelp: pier serve -h shows each flag's environment variable
// and default once.
func TestServeHelp(t *testing.T) {
	out, err := exec.Command(pierBinary(t), "serve", "-h").CombinedOutput()
	if err != nil {
		t.Fatalf("pier serve -h: %v\n%s", err, out)
	}
	for _, want := range []string{"PIER_ADDR", "127.0.0.1:5000", "PIER_READ_TIMEOUT"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("pier serve -h does not show %s:\n%s", want, out)
		}
	}
	if n := strings.Count(string(out), "127.0.0.1:5000"); n != 1 {
		t.Errorf("pier serve -h shows the default address %d times, want once:\n%s", n, out)
	}
	if strings.Contains(string(out), ") (default ") {
		t.Errorf("pier serve -h shows defaults twice:\n%s", out)
	}
}
