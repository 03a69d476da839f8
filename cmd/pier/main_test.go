package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pier-registry/pier/internal/syncbuf"
)

// These tests run the real `pier serve` binary, as a user would.

var (
	buildOnce sync.Once
	pierBin   string
	buildErr  error
)

// pierBinary builds cmd/pier once per test run.
func pierBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "pier-bin")
		if err != nil {
			buildErr = err
			return
		}
		pierBin = filepath.Join(dir, "pier")
		out, err := exec.Command("go", "build", "-o", pierBin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return pierBin
}

// instance is a running `pier serve`.
type instance struct {
	cmd  *exec.Cmd
	addr string
	log  *syncbuf.Buffer
	done chan error
}

// logSnapshot returns what the server has logged so far.
func (s *instance) logSnapshot() string { return s.log.String() }

// startServer starts `pier serve` on a free loopback port with data dir
// and extra flags, and waits until it answers /v2/.
func startServer(t *testing.T, data string, flags ...string) *instance {
	t.Helper()
	return startServerCmd(t, nil, data, flags...)
}

// startServerCmd is startServer with setup, when not nil, called on the
// command before it starts (to set its environment, say).
func startServerCmd(t *testing.T, setup func(*exec.Cmd), data string, flags ...string) *instance {
	t.Helper()
	addr := freeAddr(t)
	args := append([]string{"serve", "--addr", addr, "--data", data}, flags...)
	if !slices.ContainsFunc(flags, func(f string) bool { return strings.HasPrefix(f, "--auth") }) {
		// The tests of the API run an open registry; those of auth say so.
		args = append(args, "--auth", "none")
	}
	// An open registry answers /v2/ with 200; one with auth on, with 401.
	ready := http.StatusOK
	if i := slices.Index(flags, "--auth"); i >= 0 && i+1 < len(flags) && flags[i+1] == "token" || slices.Contains(flags, "--auth=token") {
		ready = http.StatusUnauthorized
	}
	cmd := exec.Command(pierBinary(t), args...)
	if setup != nil {
		setup(cmd)
	}
	return launch(t, cmd, addr, "pier serve", os.Kill, 20*time.Second, func(s *instance) bool {
		resp, err := http.Get(s.url("/v2/"))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == ready
	})
}

// launch starts cmd, a registry that will listen on addr, logging into
// the instance, and waits up to timeout for ready. The test's end stops it
// with the signal stop (killing it 30 s later), and shows its log when the
// test failed.
func launch(t *testing.T, cmd *exec.Cmd, addr, name string, stop os.Signal, timeout time.Duration, ready func(*instance) bool) *instance {
	t.Helper()
	s := &instance{cmd: cmd, addr: addr, log: new(syncbuf.Buffer), done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(stop)
			select {
			case <-s.done:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				<-s.done
			}
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", name, s.log)
		}
	})
	deadline := time.Now().Add(timeout)
	for !ready(s) {
		select {
		case err := <-s.done:
			t.Fatalf("%s exited before it was ready: %v\n%s", name, err, s.log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s was not ready within %s\n%s", name, timeout, s.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s
}

func (s *instance) url(path string) string { return "http://" + s.addr + path }

// stop sends SIGTERM and checks that pier shuts down cleanly.
func (s *instance) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("pier serve did not exit cleanly on SIGTERM: %v\n%s", err, s.log)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("pier serve did not stop within 30 s of SIGTERM")
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// do sends a request and returns the response with its body read.
func do(t *testing.T, method, url string, hdr map[string]string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestLogLinesAreJSONWithRequestID(t *testing.T) {
	s := startServer(t, t.TempDir())
	resp, _ := do(t, http.MethodGet, s.url("/v2/nope/manifests/latest"), nil, nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET unknown manifest: status %d, want 404", resp.StatusCode)
	}
	id := resp.Header.Get("X-Request-Id")
	s.stop(t)
	var found bool
	for _, line := range strings.Split(s.log.String(), "\n") {
		if strings.Contains(line, `"path":"/v2/nope/manifests/latest"`) {
			found = true
			for _, want := range []string{`"request_id":"` + id + `"`, `"method":"GET"`, `"status":404`, `"bytes":`, `"duration_ms":`} {
				if !strings.Contains(line, want) {
					t.Errorf("log line %s lacks %s", line, want)
				}
			}
		}
	}
	if !found || id == "" {
		t.Fatalf("no log line for the request (id %q):\n%s", id, s.log)
	}
}
