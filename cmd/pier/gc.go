package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/pier-registry/pier/internal/config"
	"github.com/pier-registry/pier/internal/gc"
	"github.com/pier-registry/pier/internal/metrics"
	"github.com/pier-registry/pier/internal/server"
)

// gcCommand runs `pier gc`: one garbage collection of the backend's
// stores (internal/gc), the same as the scheduled gc function's. With
// --emf (PIER_EMF) it writes the run's CloudWatch EMF line to stderr, with
// its logs (stdout is the report's).
func gcCommand(args []string) error {
	return runGC(context.Background(), args, config.Getenv, stdio)
}

func runGC(ctx context.Context, args []string, getenv func(string) string, out adminIO) error {
	fs := flag.NewFlagSet("pier gc", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	dryRun := fs.Bool("dry-run", false, "delete nothing: print what a run would delete and the bytes it would free")
	wait := fs.Bool("wait", false, "when blobs were marked, wait --gc-settle and delete them in this run")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	cfg, err := parseConfig(fs, args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(out.stderr, "usage: pier gc [--dry-run] [--wait] [--json] [--gc-grace D] [--gc-settle D] [backend flags]\n\nflags:\n")
		fs.SetOutput(out.stderr)
		fs.PrintDefaults()
		return nil
	}
	if err != nil {
		return fmt.Errorf("pier gc: %w (pier gc -h lists the flags)", err)
	}
	opts := server.GCOptions(cfg)
	opts.DryRun, opts.Wait = *dryRun, *wait
	if fs.NArg() > 0 {
		return fmt.Errorf("pier gc: unexpected argument %q", fs.Arg(0))
	}
	opts.Log = cfg.Logger(out.stderr)

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, closeStore, err := server.Collector(ctx, cfg, opts)
	if err != nil {
		return fmt.Errorf("pier gc: %w", err)
	}
	defer closeStore()
	start := time.Now()
	rep, err := c.Run(ctx)
	if cfg.EMF && !*dryRun {
		// On stderr, with the logs: stdout is the report's.
		metrics.NewEMF(out.stderr, cfg.MetricsNamespace).GC(rep.Outcome(err, time.Since(start)))
	}
	if *asJSON {
		enc := json.NewEncoder(out.stdout)
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(rep); jerr != nil && err == nil {
			err = jerr
		}
	} else {
		printReport(out.stdout, rep)
	}
	if err != nil {
		return fmt.Errorf("pier gc: %w (what was done is kept: run it again to finish)", err)
	}
	return nil
}

// printReport writes rep for people: one line per blob and leftover, then
// the totals.
func printReport(w io.Writer, rep gc.Report) {
	verb, left := "deleted", "deleted"
	if rep.DryRun {
		verb, left = "would delete", "would delete"
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', tabwriter.AlignRight)
	removed := "removed"
	if rep.DryRun {
		removed = "would remove"
	}
	for _, it := range rep.RemovedTags {
		fmt.Fprintf(tw, "%s\ttag %s\t\t\n", removed, it.Name)
	}
	for _, it := range rep.RemovedManifests {
		fmt.Fprintf(tw, "%s\tmanifest %s\t%d bytes\t\n", removed, it.Name, it.Size)
	}
	for _, it := range rep.RemovedLinks {
		fmt.Fprintf(tw, "%s\tlink %s\t%d bytes\t\n", removed, it.Name, it.Size)
	}
	for _, it := range rep.Deleted {
		fmt.Fprintf(tw, "%s\tblob %s\t%d bytes\t\n", verb, it.Name, it.Size)
	}
	for _, it := range rep.Marked {
		fmt.Fprintf(tw, "marked\tblob %s\t%d bytes\t\n", it.Name, it.Size)
	}
	for _, it := range rep.Leftovers {
		fmt.Fprintf(tw, "%s\tleftover %s\t%d bytes\t\n", left, it.Name, it.Size)
	}
	for _, id := range rep.Expired {
		fmt.Fprintf(tw, "%s\texpired upload %s\t\t\n", left, id)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d links, %d manifests, %d upload sessions, %d blobs scanned\n", rep.Links, rep.Manifests, rep.Uploads, rep.Blobs)
	fmt.Fprintf(w, "%s %d blobs (%d bytes) and %d leftovers (%d bytes); %d expired uploads ended; %d copies settled\n",
		verb, len(rep.Deleted), rep.Freed, len(rep.Leftovers), rep.LeftoverBytes, len(rep.Expired), rep.Settled)
	if n := len(rep.RemovedTags) + len(rep.RemovedManifests) + len(rep.RemovedLinks); n > 0 || rep.Raced > 0 {
		fmt.Fprintf(w, "retention rules: %s %d tags, %d manifests, %d links; %d kept because a push raced the removal\n",
			removed, len(rep.RemovedTags), len(rep.RemovedManifests), len(rep.RemovedLinks), rep.Raced)
	}
	if len(rep.Marked) > 0 {
		fmt.Fprintf(w, "marked %d blobs: a run after the settle time deletes them unless something names them again\n", len(rep.Marked))
	}
}
