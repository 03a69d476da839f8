// Command coldstart measures the cold start of Pier's Lambda function
// under the AWS Lambda Runtime Interface Emulator: for each run it starts
// a fresh emulator with the bootstrap binary (aws backend, auth on with
// its signing key in a file, in the environment Lambda gives a function
// rather than this machine's), sends the first event (a ping, the anonymous
// GET /v2/ every client starts with, from an HTTP API, answered with a 401
// challenge) as soon as the emulator listens, and
// records the time from process start to the first response (emulator,
// function init and the request), and the function's own init (from its
// main to ready: configuration, SDK clients, handler), which it logs as
// init_ms. With -baseline, each run is followed by one of the smallest
// Go function (scripts/coldstart/baseline): what the emulator, a process
// start and the machine's load cost whatever the function, so that the
// function's own part shows even on a loaded machine. It prints a
// markdown table of medians, minimums and maximums with the machine's
// load average, checks them against the targets, and exits 1 when one is
// missed.
//
//	go run ./scripts/coldstart -rie PATH -bootstrap PATH [-baseline PATH] [-runs 15]
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Targets of the issue: a cold start (process start to first response)
// under 50 ms, a binary under 20 MB.
const (
	initTarget   = 50 * time.Millisecond
	binaryTarget = 20 << 20
)

const ping = `{"version":"2.0","routeKey":"$default","rawPath":"/v2/","rawQueryString":"","headers":{"host":"registry.example.com"},
"requestContext":{"accountId":"123456789012","apiId":"bench","domainName":"registry.example.com","requestId":"cold-start","stage":"$default",
"http":{"method":"GET","path":"/v2/","protocol":"HTTP/1.1","sourceIp":"127.0.0.1","userAgent":"coldstart"},"timeEpoch":0},"isBase64Encoded":false}`

var initRE = regexp.MustCompile(`"init_ms":([0-9.]+)`)

func main() {
	rie := flag.String("rie", "", "path of aws-lambda-rie")
	bootstrap := flag.String("bootstrap", "", "path of the function's bootstrap binary")
	baseline := flag.String("baseline", "", "path of the baseline function's bootstrap (scripts/coldstart/baseline), run between the function's runs; \"\": none")
	runs := flag.Int("runs", 15, "cold starts to measure")
	flag.Parse()
	if *rie == "" || *bootstrap == "" {
		flag.Usage()
		os.Exit(2)
	}
	fi, err := os.Stat(*bootstrap)
	if err != nil {
		fail(err)
	}
	load := loadAverage()
	var firsts, inits, bases, diffs []time.Duration
	for i := 0; i < *runs; i++ {
		first, init, err := coldStart(*rie, *bootstrap)
		if err != nil {
			fail(fmt.Errorf("run %d: %w", i+1, err))
		}
		firsts, inits = append(firsts, first), append(inits, init)
		if *baseline != "" {
			base, _, err := coldStart(*rie, *baseline)
			if err != nil {
				fail(fmt.Errorf("baseline run %d: %w", i+1, err))
			}
			bases, diffs = append(bases, base), append(diffs, first-base)
		}
	}
	ok := true
	fmt.Printf("| measure (%d cold starts; load average %s before, %s after, %d CPUs) | median | min | max | target |\n| --- | --- | --- | --- | --- |\n",
		*runs, load, loadAverage(), runtime.NumCPU())
	ok = row("process start to first response (emulator, function init, the request)", firsts, initTarget) && ok
	row("function init (main to ready: configuration, SDK clients, handler)", inits, 0)
	if *baseline != "" {
		row("the same for the baseline function (emulator and process start alone: aws-lambda-go, no work)", bases, 0)
		row("the function's part: its first response minus the baseline's run next to it", diffs, 0)
	}
	size := fi.Size()
	fmt.Printf("| bootstrap binary | %.1f MB | | | < %d MB |\n", float64(size)/1e6, binaryTarget>>20)
	if size >= binaryTarget {
		ok = false
	}
	if !ok {
		fmt.Fprintln(os.Stderr, "coldstart: a target is missed")
		os.Exit(1)
	}
}

// loadAverage returns the machine's 1-minute load average ("?" when it
// cannot be read): on a shared machine the cold start grows with it.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

// row prints a table row of ds and reports whether the median meets
// target (no target when 0).
func row(name string, ds []time.Duration, target time.Duration) bool {
	s := slices.Clone(ds)
	slices.Sort(s)
	med := s[len(s)/2]
	t := ""
	if target > 0 {
		t = "< " + target.String()
	}
	fmt.Printf("| %s | %s | %s | %s | %s |\n", name, ms(med), ms(s[0]), ms(s[len(s)-1]), t)
	return target == 0 || med < target
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) + " ms"
}

// coldStart starts the emulator with bootstrap and times its first answer.
func coldStart(rie, bootstrap string) (first, init time.Duration, err error) {
	addr, api := freeAddr(), freeAddr()
	var log bytes.Buffer
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, "--runtime-api-address", api, bootstrap)
	// Auth is on, as in AWS, with the signing key in a file: in AWS it
	// comes from Secrets Manager, one request that cannot be made here.
	key := filepath.Join(os.TempDir(), fmt.Sprintf("pier-coldstart-%d.key", os.Getpid()))
	defer os.Remove(key)
	cmd.Env = append(lambdaEnv(), "PIER_BACKEND=aws", "PIER_BUCKET=coldstart", "PIER_AUTH_KEY_FILE="+key)
	cmd.Stdout, cmd.Stderr = &log, &log
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	url := "http://" + addr + "/2015-03-31/functions/function/invocations"
	deadline := start.Add(10 * time.Second)
	for {
		resp, err := http.Post(url, "application/json", bytes.NewReader([]byte(ping)))
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			first = time.Since(start)
			// Every client starts with an anonymous GET /v2/: with auth
			// on, its answer is a 401 challenge.
			if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"statusCode":401`)) {
				return 0, 0, fmt.Errorf("ping answered %s %s\n%s", resp.Status, body, log.String())
			}
			break
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("the emulator did not answer in 10 s: %v\n%s", err, log.String())
		}
		time.Sleep(time.Millisecond)
	}
	for range 100 {
		if m := initRE.FindSubmatch(log.Bytes()); m != nil {
			v, _ := strconv.ParseFloat(string(m[1]), 64)
			return first, time.Duration(v * float64(time.Millisecond)), nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0, 0, fmt.Errorf("no init_ms in the function's log:\n%s", log.String())
}

// lambdaEnv is the environment Lambda gives a function (its
// documented defined runtime variables, with test credentials) and
// nothing of this machine's: a variable of the host's shell would be
// measured too. AWS_CA_BUNDLE, for one, which a sandbox may set to the
// system's bundle, makes the SDK parse every certificate in it at each
// cold start (about 15 ms here); Lambda sets no such variable.
func lambdaEnv() []string {
	return []string{
		"PATH=/usr/local/bin:/usr/bin/:/bin:/opt/bin", "LANG=en_US.UTF-8", "TZ=:UTC",
		"LAMBDA_TASK_ROOT=" + os.TempDir(), "AWS_REGION=us-east-1", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=x", "AWS_SESSION_TOKEN=x",
		"AWS_LAMBDA_FUNCTION_NAME=api", "AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_TIMEOUT=30", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512",
	}
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "coldstart:", err)
	os.Exit(1)
}
