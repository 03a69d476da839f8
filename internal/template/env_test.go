package template

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pier-registry/pier/internal/auth"
	"github.com/pier-registry/pier/internal/config"
)

// notOnLambda lists the variables that the code reads and the functions
// deliberately leave unset (so they take their defaults), with the reason.
// A variable that the code reads is either set by the template or listed
// here: TestEnvironment fails otherwise.
var notOnLambda = map[string]string{
	"PIER_ADDR":                    "the listen address of `pier serve`: a function has no listener",
	"PIER_DATA_DIR":                "the local backend's directory: the functions use the aws backend",
	"PIER_CREATE_RESOURCES":        "the template creates the bucket and the table; the functions may not (their grants have no CreateBucket or CreateTable)",
	"PIER_ALLOW_SPARSE":            "off by default (a conformance-suite option for sparse manifests), not offered by the template",
	"PIER_AUTH_KEY_FILE":           "the token signing key comes from Secrets Manager in AWS (PIER_AUTH_SECRET: the template's TokenSigningKey), not from a file",
	"PIER_STACK":                   "pier serve's way to find a deployed stack's bucket and table; the functions are given them",
	"PIER_BLOB_LINK_CACHE_TTL":     "off by default: Lambda runs several instances, and a per-instance cache would serve a blob deleted through another one (the README says so); not offered by the template",
	"PIER_BLOB_LINK_CACHE_ENTRIES": "the cache is off (PIER_BLOB_LINK_CACHE_TTL); not offered by the template",
	"PIER_GC_GRACE":                "garbage collection's defaults (README, Garbage collection) suit a daily schedule; set on the function to change them",
	"PIER_GC_LEFTOVER_GRACE":       "garbage collection's defaults (README, Garbage collection) suit a daily schedule; set on the function to change them",
	"PIER_GC_SETTLE":               "garbage collection's defaults (README, Garbage collection) suit a daily schedule; set on the function to change them",
	"PIER_GC_INTERVAL":             "the functions run no loop: the gc function is scheduled (GcSchedule)",
	"PIER_GC_TOMBSTONE":            "garbage collection's defaults (README, Garbage collection) suit a daily schedule; set on the function to change them",
	"PIER_IDLE_TIMEOUT":            "connection timeouts of `pier serve`: API Gateway holds the connections",
	"PIER_READ_TIMEOUT":            "connection timeouts of `pier serve`: API Gateway holds the connections",
	"PIER_PART_URL_TTL":            "direct uploads' part URLs are valid for the default 15m (a client asks for fresh ones); not offered by the template",
	"PIER_METRICS_ADDR":            "the Prometheus endpoint of `pier serve`: a function has no listener (its metrics are EMF lines, PIER_EMF)",
}

// notOnGc lists the variables that ApiFunction sets and GcFunction
// deliberately does not, with the reason; the two functions' environments
// are otherwise the same.
var notOnGc = map[string]string{
	"PIER_AUTH":        "auth is the API's: the gc function serves no request (it takes the default, which needs nothing more to start)",
	"PIER_AUTH_SECRET": "the gc function signs and checks no token, and may not read the signing key (no secretsmanager grant)",
	"PIER_PUBLIC":      "the gc function serves no request",
	"PIER_TOKEN_TTL":   "the gc function issues no token",
	"PIER_UPLOAD_URL":  "the gc function answers no upload",
}

// wantEnv is the environment of ApiFunction, with the template's
// parameters at their defaults. GcFunction's is the same but for the
// variables of notOnGc.
var wantEnv = map[string]string{
	"PIER_BACKEND":           "aws",
	"PIER_BUCKET":            "${Bucket}",
	"PIER_TABLE_PREFIX":      defaultTablePrefix,
	"PIER_PRESIGN_TTL":       "5m",
	"PIER_COPY_BUDGET":       "20s",
	"PIER_LOG_LEVEL":         "info",
	"PIER_CHUNK_MIN_LENGTH":  "1048576",
	"PIER_CHUNK_MAX_LENGTH":  "4194304",
	"PIER_AUTH":              "token",
	"PIER_AUTH_SECRET":       "${TokenSigningKey}",
	"PIER_PUBLIC":            "",
	"PIER_TOKEN_TTL":         "5m",
	"PIER_UPLOAD_URL":        "",
	"PIER_EMF":               "true",
	"PIER_METRICS_NAMESPACE": metricsNamespace,
}

func TestEnvironment(t *testing.T) {
	tpl := load(t, nil)
	envs := map[string]map[string]string{}
	for _, name := range []string{apiFunction, gcFunction} {
		fn := function(t, tpl, name)
		if fn.Environment == nil {
			t.Fatalf("%s has no environment", name)
		}
		envs[name] = fn.Environment.Variables
	}
	if !reflect.DeepEqual(envs[apiFunction], wantEnv) {
		t.Errorf("ApiFunction's environment\n got %v\nwant %v", envs[apiFunction], wantEnv)
	}
	wantGc := map[string]string{}
	for k, v := range envs[apiFunction] {
		if _, ok := notOnGc[k]; !ok {
			wantGc[k] = v
		}
	}
	if !reflect.DeepEqual(envs[gcFunction], wantGc) {
		t.Errorf("GcFunction's environment is not ApiFunction's without the variables of notOnGc: both build the same stores\n gc: %v\nwant %v",
			envs[gcFunction], wantGc)
	}
	for name := range notOnGc {
		if _, ok := envs[apiFunction][name]; !ok {
			t.Errorf("notOnGc lists %s, which ApiFunction does not set", name)
		}
	}

	vars := config.EnvVars()
	env := envs[apiFunction]

	t.Run("config settings", func(t *testing.T) {
		for name := range vars {
			_, set := env[name]
			_, skipped := notOnLambda[name]
			switch {
			case set && skipped:
				t.Errorf("%s is set by the template and listed in notOnLambda", name)
			case !set && !skipped:
				t.Errorf("the code reads %s (internal/config), which the template does not set: set it, or list it in notOnLambda with the reason", name)
			}
		}
		for name := range env {
			if _, ok := vars[name]; !ok {
				t.Errorf("the template sets %s, which internal/config does not read", name)
			}
		}
		for name := range notOnLambda {
			if _, ok := vars[name]; !ok {
				t.Errorf("notOnLambda lists %s, which internal/config does not read", name)
			}
		}
	})

	t.Run("valid", func(t *testing.T) {
		// The functions' environment is a configuration that loads, with
		// the parameters at their defaults and at other allowed values.
		for _, tt := range []struct {
			overrides map[string]any
			public    []string
			tokenTTL  time.Duration
		}{
			{nil, nil, 5 * time.Minute},
			{map[string]any{"LogLevel": "debug", "PresignTTL": "1h", "CopyBudget": "0", "PublicRepositories": "site/*,public/docs", "TokenTTL": "15m"},
				[]string{"site/*", "public/docs"}, 15 * time.Minute},
		} {
			tpl := load(t, tt.overrides)
			for _, name := range []string{apiFunction, gcFunction} {
				env := function(t, tpl, name).Environment.Variables
				cfg, err := config.FromEnv(func(k string) string { return env[k] })
				if err != nil {
					t.Errorf("with %v the environment of %s is not a valid configuration: %v", tt.overrides, name, err)
					continue
				}
				if cfg.Backend != "aws" || cfg.ChunkMaxLength != 4<<20 || cfg.ChunkMinLength != 1<<20 {
					t.Errorf("%s: configuration %+v: want the aws backend and chunks of 1 to 4 MiB", name, cfg)
				}
				if name != apiFunction {
					continue
				}
				// Auth is on in AWS, with the key of the template's secret.
				if cfg.Auth != "token" || cfg.AuthSecret != "${TokenSigningKey}" || cfg.AuthKeyFile != "" {
					t.Errorf("%s: auth %q, secret %q, key file %q; want token, ${TokenSigningKey}, none", name, cfg.Auth, cfg.AuthSecret, cfg.AuthKeyFile)
				}
				if !slices.Equal(cfg.PublicPatterns(), tt.public) || cfg.TokenTTL != tt.tokenTTL {
					t.Errorf("with %v: public %q, token TTL %s; want %q, %s", tt.overrides, cfg.PublicPatterns(), cfg.TokenTTL, tt.public, tt.tokenTTL)
				}
				for _, p := range cfg.PublicPatterns() {
					if err := auth.CheckPattern(p); err != nil {
						t.Error(err)
					}
				}
			}
		}
	})

	t.Run("parameter defaults", func(t *testing.T) {
		// The template's defaults are the code's.
		for param, variable := range map[string]string{
			"PresignTTL":         "PIER_PRESIGN_TTL",
			"CopyBudget":         "PIER_COPY_BUDGET",
			"LogLevel":           "PIER_LOG_LEVEL",
			"TokenTTL":           "PIER_TOKEN_TTL",
			"PublicRepositories": "PIER_PUBLIC",
		} {
			if got, want := fmt.Sprint(tpl.Parameters[param].Default), vars[variable]; got != want {
				t.Errorf("parameter %s defaults to %q, %s to %q", param, got, variable, want)
			}
		}
	})

	// Every PIER_ variable named in the code of the functions (a string
	// literal that is exactly a variable's name, in any package of the
	// module that the function's main package imports, directly or not)
	// is set or listed in notOnLambda. This catches a variable read
	// outside internal/config, e.g. by the Lambda adapter.
	for name, pkg := range map[string]string{apiFunction: "./functions/api", gcFunction: "./functions/gc"} {
		t.Run("code of "+name, func(t *testing.T) {
			names := pierLiterals(t, pkg)
			if len(names) == 0 {
				t.Fatalf("no PIER_ variable named in the code of %s", pkg)
			}
			t.Logf("%s names %s", pkg, strings.Join(names, " "))
			for _, v := range names {
				_, set := envs[name][v]
				_, skipped := notOnLambda[v]
				if _, notGc := notOnGc[v]; name == gcFunction && notGc {
					skipped = true
				}
				if !set && !skipped {
					t.Errorf("the code of %s names %s, which the template does not set: set it, or list it in notOnLambda with the reason", pkg, v)
				}
			}
		})
	}
}

var pierName = regexp.MustCompile(`^PIER_[A-Z0-9_]+$`)

// pierLiterals returns the string literals that are PIER_ variable names
// in the non-test Go files of the module's packages that pkg (a main
// package) is built from, for linux with the tag lambda.norpc, as `make
// build` builds it.
func pierLiterals(t *testing.T, pkg string) []string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, pkg)); os.IsNotExist(err) {
		t.Skipf("%s does not exist yet", pkg)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the packages with")
	}
	cmd := exec.Command(goTool, "list", "-deps", "-tags", "lambda.norpc",
		"-f", `{{if and .Module .Module.Main}}{{.Dir}}{{range .GoFiles}} {{.}}{{end}}{{end}}`, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, stderr.String())
	}
	seen := map[string]bool{}
	fset := token.NewFileSet()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		for _, f := range fields[1:] {
			file, err := parser.ParseFile(fset, filepath.Join(fields[0], f), nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(file, func(n ast.Node) bool {
				if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if s, err := strconv.Unquote(lit.Value); err == nil && pierName.MatchString(s) {
						seen[s] = true
					}
				}
				return true
			})
		}
	}
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
