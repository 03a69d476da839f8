// Command coldstart measures the cold start of Pier's Lambda function
// under the AWS Lambda Runtime Interface Emulator, as Lambda counts it.
//
// A Lambda cold start is the Init phase of a new execution environment
// (Lambda starts the extensions, bootstraps the runtime, runs the
// function's static code; the phase ends when the runtime asks the
// Runtime API for its first event, and Lambda reports its length as Init
// Duration) followed by the first invocation. The sandbox and the Runtime
// API are up before it starts: see "Understanding the Lambda execution
// environment lifecycle",
// https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html.
// The emulator starts the function's process lazily, at the first
// invocation, so for each run this command starts a fresh emulator with
// the bootstrap binary (aws backend, auth on with its signing key in a
// file, in the environment Lambda gives a function rather than this
// machine's), waits until it listens, and then times the first
// invocation: the runtime process start, the function's init and the
// first request (a ping: the anonymous GET /v2/ every client starts with,
// from an HTTP API, answered with a 401 challenge). That first invocation
// is the cold start held to the 50 ms target. It also reads, from the
// emulator's log, its INIT REPORT (Lambda's Init Duration) and the
// invocation's duration (INVOKE RTDONE), and from the function's log its
// own init (from its main to ready: configuration, SDK clients, handler),
// which it logs as init_ms.
//
// Until 2026-12-05 the measure was the time from the emulator's start to
// the first response, which adds the emulator's own start-up (a 13.6 MB
// Go program that parses its flags and opens its listeners: 50-120 ms on a
// loaded 2-core machine) to the cold start, although it has no counterpart
// in a Lambda cold start. Both are still printed, without a target.
//
// With -baseline, each run is followed by one of the smallest Go function
// (scripts/coldstart/baseline): what the emulator, a process start and
// the machine's load cost whatever the function; the paired difference of
// each measure is the function's own part, which shows even on a loaded
// machine. It prints a markdown table of medians, minimums and maximums
// with the machine's load average, checks the targets, and exits 1 when
// one is missed.
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

	"github.com/pier-registry/pier/internal/syncbuf"
)

// Targets of the issue: a cold start (the first invocation, runtime
// process start to first response) under 50 ms, a binary under 20 MB.
const (
	coldStartTarget = 50 * time.Millisecond
	binaryTarget    = 20 << 20
)

const ping = `{"version":"2.0","routeKey":"$default","rawPath":"/v2/","rawQueryString":"","headers":{"host":"registry.example.com"},
"requestContext":{"accountId":"123456789012","apiId":"bench","domainName":"registry.example.com","requestId":"cold-start","stage":"$default",
"http":{"method":"GET","path":"/v2/","protocol":"HTTP/1.1","sourceIp":"127.0.0.1","userAgent":"coldstart"},"timeEpoch":0},"isBase64Encoded":false}`

// What the emulator and the function log.
var (
	initMSRE     = regexp.MustCompile(`"init_ms":([0-9.]+)`)
	initReportRE = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)`)
	invokeRE     = regexp.MustCompile(`INVOKE RTDONE\(.*duration: ([0-9.]+)ms`)
)

// sample is what one cold start measured.
type sample struct {
	listen     time.Duration // emulator start to listening
	first      time.Duration // first invocation, emulator up: the cold start
	initReport time.Duration // the emulator's INIT REPORT: Init Duration
	invoke     time.Duration // the emulator's INVOKE RTDONE duration
	initMS     time.Duration // the function's init_ms
}

// measure is a row of the table: its name, how to read it from a sample,
// and its target (0: none).
type measure struct {
	name   string
	get    func(sample) time.Duration
	target time.Duration
}

var measures = []measure{
	{"**cold start**: first invocation with the emulator up (runtime process start, init, the request)",
		func(s sample) time.Duration { return s.first }, coldStartTarget},
	{"Init Duration (the emulator's INIT REPORT: process start to the runtime's first request for an event)",
		func(s sample) time.Duration { return s.initReport }, 0},
	{"first request (the emulator's INVOKE RTDONE duration)",
		func(s sample) time.Duration { return s.invoke }, 0},
	{"function init (its main to ready: configuration, SDK clients, handler; init_ms)",
		func(s sample) time.Duration { return s.initMS }, 0},
	{"emulator start-up (start to listening; no counterpart in a Lambda cold start)",
		func(s sample) time.Duration { return s.listen }, 0},
	{"emulator start to first response (the measure before 2026-12-05)",
		func(s sample) time.Duration { return s.listen + s.first }, 0},
}

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
	load := loadAverage()
	var fn, base []sample
	for i := 0; i < *runs; i++ {
		s, err := coldStart(*rie, *bootstrap)
		if err != nil {
			fail(fmt.Errorf("run %d: %w", i+1, err))
		}
		fn = append(fn, s)
		if *baseline != "" {
			b, err := coldStart(*rie, *baseline)
			if err != nil {
				fail(fmt.Errorf("baseline run %d: %w", i+1, err))
			}
			base = append(base, b)
		}
	}
	ok := true
	fmt.Printf("| measure (%d cold starts; load average %s before, %s after, %d CPUs) | function: median (min–max) | baseline: median (min–max) | function minus baseline: paired median | target |\n| --- | --- | --- | --- | --- |\n",
		*runs, load, loadAverage(), runtime.NumCPU())
	for _, m := range measures {
		f := values(fn, m.get, nil)
		cells := []string{m.name, stats(f), "", "", ""}
		if len(base) > 0 {
			b := values(base, m.get, nil)
			cells[2], cells[3] = stats(b), ms(median(values(fn, m.get, base)))
		}
		if m.target > 0 {
			cells[4] = "< " + m.target.String()
			ok = ok && median(f) < m.target
		}
		fmt.Println("| " + strings.Join(cells, " | ") + " |")
	}
	size := fileSize(*bootstrap)
	baseSize := ""
	if *baseline != "" {
		baseSize = mb(fileSize(*baseline))
	}
	fmt.Printf("| bootstrap binary | %s | %s | | < %d MB |\n", mb(size), baseSize, binaryTarget>>20)
	if size >= binaryTarget {
		ok = false
	}
	if !ok {
		fmt.Fprintln(os.Stderr, "coldstart: a target is missed")
		os.Exit(1)
	}
}

// values reads a measure from each sample, minus the same measure of the
// baseline's run next to it when base is not nil.
func values(ss []sample, get func(sample) time.Duration, base []sample) []time.Duration {
	ds := make([]time.Duration, len(ss))
	for i, s := range ss {
		ds[i] = get(s)
		if base != nil {
			ds[i] -= get(base[i])
		}
	}
	slices.Sort(ds)
	return ds
}

func median(sorted []time.Duration) time.Duration { return sorted[len(sorted)/2] }

// stats formats sorted durations as "median (min–max)".
func stats(sorted []time.Duration) string {
	return fmt.Sprintf("%s (%s–%s)", ms(median(sorted)), ms(sorted[0]), ms(sorted[len(sorted)-1]))
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) + " ms"
}

func mb(size int64) string { return fmt.Sprintf("%.1f MB", float64(size)/1e6) }

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		fail(err)
	}
	return fi.Size()
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

// coldStart starts the emulator with bootstrap, waits until it listens,
// then times the first invocation and reads the durations the emulator
// and the function log.
func coldStart(rie, bootstrap string) (sample, error) {
	var s sample
	addr, api := freeAddr(), freeAddr()
	var log syncbuf.Buffer
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, "--runtime-api-address", api, bootstrap)
	// Auth is on, as in AWS, with the signing key in a file: in AWS it
	// comes from Secrets Manager, one request that cannot be made here.
	key := filepath.Join(os.TempDir(), fmt.Sprintf("pier-coldstart-%d.key", os.Getpid()))
	defer os.Remove(key)
	cmd.Env = append(lambdaEnv(), "PIER_BACKEND=aws", "PIER_BUCKET=coldstart", "PIER_AUTH_KEY_FILE="+key)
	cmd.Stdout, cmd.Stderr = &log, &log
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return s, err
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			s.listen = time.Since(start)
			break
		}
		if time.Since(start) > 10*time.Second {
			return s, fmt.Errorf("the emulator did not listen in 10 s: %v\n%s", err, log.String())
		}
		time.Sleep(200 * time.Microsecond)
	}
	// The emulator starts the runtime at the first invocation; one that
	// started it before would make this no cold start.
	if strings.Contains(log.String(), "INIT START") {
		return s, fmt.Errorf("the emulator started the function before the first invocation:\n%s", log.String())
	}
	t0 := time.Now()
	resp, err := http.Post("http://"+addr+"/2015-03-31/functions/function/invocations", "application/json", strings.NewReader(ping))
	if err != nil {
		return s, fmt.Errorf("first invocation: %w\n%s", err, log.String())
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	s.first = time.Since(t0)
	// Every client starts with an anonymous GET /v2/: with auth on, its
	// answer is a 401 challenge.
	if err != nil || resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"statusCode":401`)) {
		return s, fmt.Errorf("ping answered %s %s (%v)\n%s", resp.Status, body, err, log.String())
	}
	for range 100 {
		out := log.String()
		ir, iv, im := initReportRE.FindStringSubmatch(out), invokeRE.FindStringSubmatch(out), initMSRE.FindStringSubmatch(out)
		if ir != nil && iv != nil && im != nil {
			s.initReport, s.invoke, s.initMS = msDuration(ir[1]), msDuration(iv[1]), msDuration(im[1])
			return s, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return s, fmt.Errorf("no INIT REPORT, INVOKE RTDONE or init_ms in the log:\n%s", log.String())
}

// msDuration parses a number of milliseconds.
func msDuration(v string) time.Duration {
	f, _ := strconv.ParseFloat(v, 64)
	return time.Duration(f * float64(time.Millisecond))
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
