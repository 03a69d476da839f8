package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/pier-registry/pier/internal/auth"
	"github.com/pier-registry/pier/internal/config"
	"github.com/pier-registry/pier/internal/server"
	"github.com/pier-registry/pier/internal/store"
)

// policyCommand runs `pier policy set|rm|list`: the repository policies
// (immutable tags) kept in the metadata store. The registry applies a
// change within a minute.
func policyCommand(args []string) error {
	return runPolicy(context.Background(), args, config.Getenv, stdio)
}

const policyUsage = `usage:
  pier policy set PATTERN [--immutable-tags] [--tag-deleter NAME]... [backend flags]
  pier policy rm PATTERN [backend flags]
  pier policy list [backend flags]

PATTERN is a repository name, NAME/* (every repository under NAME/) or *;
where several match a repository, the most specific applies.
--immutable-tags: a tag that exists may not be pushed again naming another
manifest (DENIED), nor deleted but by the identities of --tag-deleter.
`

func runPolicy(ctx context.Context, args []string, getenv func(string) string, out adminIO) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(out.stderr, policyUsage)
		if len(args) == 0 {
			return errors.New("pier policy: which command? set, rm, list")
		}
		return nil
	}
	sub := args[0]
	want := map[string]int{"set": 1, "rm": 1, "list": 0}
	n, ok := want[sub]
	if !ok {
		return fmt.Errorf("pier policy: unknown command %q (want set, rm, list)", sub)
	}
	name := "pier policy " + sub
	var (
		immutable bool
		deleters  nameList
	)
	own := func(fs *flag.FlagSet) {
		if sub == "set" {
			fs.BoolVar(&immutable, "immutable-tags", false, "tags that exist may not move to another manifest, nor be deleted but by --tag-deleter")
			fs.Var(&deleters, "tag-deleter", "NAME: an identity that may delete immutable tags; repeat for more")
		}
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	own(fs)
	flags, positional := splitArgs(own, args[1:])
	cfg, err := config.Parse(fs, flags, getenv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(out.stderr, policyUsage)
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w (pier policy -h)", name, err)
	}
	if len(positional) != n {
		return fmt.Errorf("%s: want %d argument(s), got %d\n%s", name, n, len(positional), policyUsage)
	}
	if n == 1 {
		if err := auth.CheckPattern(positional[0]); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	for _, d := range deleters {
		if err := auth.CheckName(d); err != nil {
			return fmt.Errorf("%s: --tag-deleter: %w", name, err)
		}
	}
	if len(deleters) > 0 && !immutable {
		return fmt.Errorf("%s: --tag-deleter without --immutable-tags: there is nothing to allow", name)
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	ps, closeStore, err := server.OpenPolicies(ctx, cfg)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer closeStore()
	switch sub {
	case "set":
		p := store.Policy{Pattern: positional[0], ImmutableTags: immutable, TagDeleters: deleters}
		if err := ps.PutPolicy(ctx, p); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		fmt.Fprintf(out.stdout, "policy %s: %s\n", p.Pattern, describePolicy(p))
	case "rm":
		err := ps.DeletePolicy(ctx, positional[0])
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%s: no policy for %s", name, positional[0])
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		fmt.Fprintf(out.stdout, "policy %s removed\n", positional[0])
	case "list":
		list, err := ps.Policies(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		tw := tabwriter.NewWriter(out.stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "PATTERN\tRULES")
		for _, p := range list {
			fmt.Fprintf(tw, "%s\t%s\n", p.Pattern, describePolicy(p))
		}
		tw.Flush()
	}
	return nil
}

// describePolicy says what p does.
func describePolicy(p store.Policy) string {
	if !p.ImmutableTags {
		return "mutable tags"
	}
	if len(p.TagDeleters) == 0 {
		return "immutable tags, deleted by no one"
	}
	return "immutable tags, deleted by " + strings.Join(p.TagDeleters, ",")
}

// nameList is a repeatable flag of identity names.
type nameList []string

func (l *nameList) String() string { return strings.Join(*l, ",") }

func (l *nameList) Set(v string) error {
	*l = append(*l, v)
	return nil
}
