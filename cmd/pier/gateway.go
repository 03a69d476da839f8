package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/pier-registry/pier/internal/localapi"
)

// gateway runs the local front door of `make local-api` (API Gateway or a
// function URL): HTTP requests become the events of that front door for
// the Lambda function that the Runtime Interface Emulator at --invoke runs.
func gateway(args []string) error {
	fs := flag.NewFlagSet("pier gateway", flag.ContinueOnError)
	kind := fs.String("kind", envOr("PIER_LOCAL_API_KIND", "http"), "front door: http (HTTP API, payload 2.0), rest (REST API, payload 1.0) or url (Lambda function URL, payload 2.0) (env PIER_LOCAL_API_KIND)")
	addr := fs.String("addr", envOr("PIER_LOCAL_API_ADDR", "127.0.0.1:9000"), "address to listen on (env PIER_LOCAL_API_ADDR)")
	invoke := fs.String("invoke", "", "the RIE's invocation URL, http://HOST:PORT/2015-03-31/functions/function/invocations; several, comma-separated, for as many RIEs (execution environments: as many invocations at once)")
	uploadOrigin := fs.String("upload-origin", os.Getenv("PIER_LOCAL_API_UPLOAD_ORIGIN"), "http(s)://host:port of an upload endpoint: a CloudFront distribution in front (template.yaml's UploadOrigin) sends the requests of blob uploads there instead of to the function (env PIER_LOCAL_API_UPLOAD_ORIGIN)")
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
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
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
	return serveUntilSignal(srv, ln, log, 10*time.Second)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
