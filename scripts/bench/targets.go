package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// target is one registry under test.
type target struct {
	name  string
	aws   bool // whether its storage is behind the counting proxies
	start func(workload string) (*proc, error)
	rssOf string // a descendant process whose peak RSS counts, by name; "": the process itself
	// clean removes what a workload stored, once its process has stopped,
	// so that the big workloads do not fill the disk: many GiB in all.
	clean func(workload string) error
}

type proc struct {
	rssOf     string
	reportLog string // the log of the Lambda runtime's REPORT lines, or ""
	cmd       *exec.Cmd
	base      string
	done      chan error
}

func (p *proc) peakRSS() int64 {
	pid := p.cmd.Process.Pid
	if p.rssOf != "" {
		if pid = descendant(pid, p.rssOf); pid == 0 {
			return 0
		}
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

// descendant finds a process under root whose name (comm) is name.
func descendant(root int, name string) int {
	ents, _ := os.ReadDir("/proc")
	parent, comm := map[int]int{}, map[int]string{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i, j := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if i < 0 || j < i {
			continue
		}
		f := strings.Fields(s[j+1:])
		if len(f) < 2 {
			continue
		}
		comm[pid] = s[i+1 : j]
		parent[pid], _ = strconv.Atoi(f[1])
	}
	for pid, c := range comm {
		if c != name {
			continue
		}
		for q := parent[pid]; q > 1; q = parent[q] {
			if q == root {
				return pid
			}
		}
	}
	return 0
}

func (p *proc) alive() error {
	select {
	case err := <-p.done:
		return fmt.Errorf("the registry exited: %v", err)
	default:
		return nil
	}
}

func (p *proc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// launch starts a registry (args[0]) with extra environment, its output in
// logFile, and waits until GET /v2/ answers (200, or 401 with auth on).
func launch(addr, logFile string, env []string, args ...string) (*proc, error) {
	log, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	p := &proc{cmd: cmd, base: "http://" + addr, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); log.Close() }()
	deadline := time.Now().Add(180 * time.Second)
	for {
		if err := p.alive(); err != nil {
			return nil, fmt.Errorf("%s (log: %s)", err, logFile)
		}
		resp, err := http.Get(p.base + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized { // 401: auth is on
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("no answer from %s within 180 s (log: %s)", addr, logFile)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func pierLocal(pier, work string) *target {
	dir := func(wl string) string { return filepath.Join(work, "pier-local-"+wl) }
	return &target{name: "pier-local", start: func(wl string) (*proc, error) {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		return launch(addr, dir(wl)+".log", []string{"PIER_LOG_LEVEL=warn"},
			pier, "serve", "--auth", "none", "--addr", addr, "--data", dir(wl))
	}, clean: func(wl string) error { return os.RemoveAll(dir(wl)) }}
}

func pierAWS(pier, work string, s3p, ddbp *countingProxy) *target {
	return &target{name: "pier-aws", aws: true, start: func(wl string) (*proc, error) {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		return launch(addr, filepath.Join(work, "pier-aws-"+wl+".log"),
			[]string{"PIER_LOG_LEVEL=warn", "AWS_ENDPOINT_URL_S3=" + s3p.URL, "AWS_ENDPOINT_URL_DYNAMODB=" + ddbp.URL},
			pier, "serve", "--auth", "none", "--addr", addr, "--backend", "aws",
			"--bucket", "pier-bench", "--table-prefix", "pierbench-", "--create-resources")
	}, clean: func(string) error { return emptyBucket("pier-bench") }}
}

// pierLambda runs the local Lambda path (scripts/local-api.sh: the
// bootstrap under the Runtime Interface Emulator behind the local front of
// the target's front door, lambdaTargets[name]), auth off unless env
// (more of the function's settings, which win) turns it on, on the
// counting proxies. Its peak RSS is the function process's (bootstrap).
func pierLambda(name, work string, s3p, ddbp *countingProxy, env ...string) *target {
	bucket := name + "-bench"
	return &target{name: name, aws: true, rssOf: "bootstrap", start: func(wl string) (*proc, error) {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		dir := filepath.Join(work, name+"-"+wl)
		p, err := launch(addr, dir+".log", append(
			[]string{"AWS_ENDPOINT_URL_S3=" + s3p.URL, "AWS_ENDPOINT_URL_DYNAMODB=" + ddbp.URL,
				"PIER_LOCAL_API_KIND=" + lambdaTargets[name].kind, "PIER_LOCAL_API_ADDR=" + addr, "PIER_LOCAL_API_DIR=" + dir,
				"PIER_BUCKET=" + bucket, "PIER_TABLE_PREFIX=" + strings.ReplaceAll(name, "-", "") + "-", "PIER_AUTH=none"}, env...),
			"scripts/local-api.sh")
		if p != nil {
			p.reportLog = filepath.Join(dir, "rie.log")
		}
		return p, err
	}, clean: func(string) error { return emptyBucket(bucket) }}
}

const distBucket = "dist-bench"

func distribution(name, blobCache, bin, work string, s3p *countingProxy) *target {
	return &target{name: name, aws: true, start: func(wl string) (*proc, error) {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		cache := ""
		if blobCache != "none" {
			cache = "  cache:\n    blobdescriptor: " + blobCache + "\n"
		}
		cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  s3:
    accesskey: %s
    secretkey: %s
    region: us-east-1
    regionendpoint: %s
    forcepathstyle: true
    bucket: %s
    secure: false
    rootdirectory: /
%s  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
`, os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), s3p.URL, distBucket, cache, addr)
		file := filepath.Join(work, name+"-"+wl+".yml")
		if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
			return nil, err
		}
		return launch(addr, filepath.Join(work, name+"-"+wl+".log"),
			[]string{"OTEL_TRACES_EXPORTER=none"}, bin, "serve", file)
	}, clean: func(string) error { return emptyBucket(distBucket) }}
}
