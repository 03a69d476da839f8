// Command localapi is the local front door of `make local-api`
// (scripts/local-api.sh): it plays API Gateway (an HTTP API or a REST API)
// or a Lambda function URL in front of Pier's Lambda function run by the
// Runtime Interface Emulator, turning HTTP requests into that front
// door's events (internal/localapi). It is a development and test tool:
// it is not part of the `pier` binary that users deploy.
//
// Usage:
//
//	localapi --invoke URL[,URL]... [--kind http|rest|url] [--addr HOST:PORT] [--gate] [--upload-origin URL]
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/pier-registry/pier/internal/localapi"
	"github.com/pier-registry/pier/internal/server"
)

func main() {
	if err := run(os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "localapi:", err)
		os.Exit(1)
	}
}

// run parses args (with defaults from getenv), logs JSON lines to logOut
// and serves the front door until SIGINT or SIGTERM.
func run(args []string, getenv func(string) string, logOut io.Writer) error {
	envOr := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("localapi", flag.ContinueOnError)
	kind := fs.String("kind", envOr("PIER_LOCAL_API_KIND", "http"), "front door: http (HTTP API, payload 2.0), rest (REST API, payload 1.0) or url (Lambda function URL, payload 2.0) (env PIER_LOCAL_API_KIND)")
	addr := fs.String("addr", envOr("PIER_LOCAL_API_ADDR", "127.0.0.1:9000"), "address to listen on (env PIER_LOCAL_API_ADDR)")
	invoke := fs.String("invoke", "", "the RIE's invocation URL, http://HOST:PORT/2015-03-31/functions/function/invocations; several, comma-separated, for as many RIEs (execution environments: as many invocations at once)")
	uploadOrigin := fs.String("upload-origin", getenv("PIER_LOCAL_API_UPLOAD_ORIGIN"), "http(s)://host:port of an upload endpoint: a CloudFront distribution in front (template.yaml's UploadOrigin) sends the requests of blob uploads there instead of to the function (env PIER_LOCAL_API_UPLOAD_ORIGIN)")
	gate := fs.Bool("gate", false, "rest only: the template's gate (a Lambda authorizer that answers requests without Authorization with a 401 and the Bearer challenge); for a function with auth on")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if !localapi.Kind(*kind).Valid() {
		return fmt.Errorf("--kind %q: want http, rest or url", *kind)
	}
	if *invoke == "" {
		return errors.New("--invoke is required")
	}
	log := slog.New(slog.NewJSONHandler(logOut, nil))
	urls := strings.Split(*invoke, ",")
	front := &localapi.Front{Kind: localapi.Kind(*kind), InvokeURL: urls[0], InvokeURLs: urls[1:], Log: log, Gate: *gate}
	if *uploadOrigin != "" {
		u, err := localapi.ParseOrigin(*uploadOrigin)
		if err != nil {
			return fmt.Errorf("--upload-origin: %w", err)
		}
		front.UploadOrigin = u
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: front, ReadHeaderTimeout: 30 * time.Second}
	log.Info("local api gateway", "kind", *kind, "url", "http://"+ln.Addr().String()+"/v2/", "invoke", *invoke, "upload_origin", *uploadOrigin)
	return server.ServeUntilSignal(srv, ln, log, 10*time.Second)
}
