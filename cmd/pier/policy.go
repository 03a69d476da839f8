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
	"github.com/pier-registry/pier/internal/gc"
	"github.com/pier-registry/pier/internal/server"
	"github.com/pier-registry/pier/internal/store"
)

// policyCommand runs `pier policy set|rm|list`: the repository policies
// (immutable tags, retention rules) kept in the metadata store. The
// registry applies a change within a minute, garbage collection at its
// next run.
func policyCommand(args []string) error {
	return runPolicy(context.Background(), args, config.Getenv, stdio)
}

const policyUsage = `usage:
  pier policy set PATTERN [--immutable-tags] [--tag-deleter NAME]...
                  [--keep-tags N [--tag-pattern GLOB]] [--untagged-days N]
                  [--unlink-days N] [backend flags]
  pier policy rm PATTERN [backend flags]
  pier policy list [backend flags]

PATTERN is a repository name, NAME/* (every repository under NAME/) or *;
where several match a repository, the most specific applies.
--immutable-tags: a tag that exists may not be pushed again naming another
manifest (DENIED), nor deleted but by the identities of --tag-deleter
(nor the manifest it names, by digest).
Retention rules, applied by garbage collection (pier gc, the gc function;
pier gc --dry-run shows what they would remove):
--keep-tags N: keep the N most recently pushed tags (of those matching
  --tag-pattern, a glob like dev-*; others are not touched), remove the
  others with the manifests only they kept (and those manifests' referrers).
--untagged-days N: remove manifests no tag keeps N days after their push.
--unlink-days N: remove blob links nothing in the repository names N days
  after they were written.
set replaces the whole policy of PATTERN.
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
		rules     store.Policy
	)
	own := func(fs *flag.FlagSet) {
		if sub == "set" {
			fs.BoolVar(&immutable, "immutable-tags", false, "tags that exist may not move to another manifest, nor be deleted but by --tag-deleter")
			fs.Var(&deleters, "tag-deleter", "NAME: an identity that may delete immutable tags; repeat for more")
			fs.IntVar(&rules.KeepTags, "keep-tags", 0, "N: keep the N most recently pushed tags (0: all)")
			fs.StringVar(&rules.TagPattern, "tag-pattern", "", "GLOB: --keep-tags counts only the tags matching it")
			fs.IntVar(&rules.UntaggedDays, "untagged-days", 0, "N: remove untagged manifests N days after their push (0: never)")
			fs.IntVar(&rules.UnlinkDays, "unlink-days", 0, "N: remove blob links nothing names N days after they were written (0: never)")
		}
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	own(fs)
	flags, positional := splitArgs(own, args[1:])
	cfg, err := parseConfig(fs, flags, getenv)
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
	if err := checkRules(rules); err != nil {
		return fmt.Errorf("%s: %w", name, err)
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
		p := rules
		p.Pattern, p.ImmutableTags, p.TagDeleters = positional[0], immutable, deleters
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

// maxDays bounds the days of a rule (a century).
const maxDays = 36500

// checkRules returns an error saying what is wrong with the retention
// rules of p.
func checkRules(p store.Policy) error {
	switch {
	case p.KeepTags < 0:
		return fmt.Errorf("--keep-tags %d: want a number of tags to keep, 1 or more (0: keep all)", p.KeepTags)
	case p.TagPattern != "" && p.KeepTags == 0:
		return errors.New("--tag-pattern without --keep-tags: the pattern says which tags --keep-tags counts")
	case p.UntaggedDays < 0 || p.UntaggedDays > maxDays:
		return fmt.Errorf("--untagged-days %d: want a number of days from 1 to %d (0: never)", p.UntaggedDays, maxDays)
	case p.UnlinkDays < 0 || p.UnlinkDays > maxDays:
		return fmt.Errorf("--unlink-days %d: want a number of days from 1 to %d (0: never)", p.UnlinkDays, maxDays)
	}
	if err := gc.CheckTagPattern(p.TagPattern); err != nil {
		return fmt.Errorf("--tag-pattern %q: %w (want a glob such as dev-* or v[0-9]*)", p.TagPattern, err)
	}
	return nil
}

// describePolicy says what p does.
func describePolicy(p store.Policy) string {
	var parts []string
	switch {
	case !p.ImmutableTags:
		parts = append(parts, "mutable tags")
	case len(p.TagDeleters) == 0:
		parts = append(parts, "immutable tags, deleted by no one")
	default:
		parts = append(parts, "immutable tags, deleted by "+strings.Join(p.TagDeleters, ","))
	}
	if p.KeepTags > 0 {
		s := fmt.Sprintf("keep the last %d tags", p.KeepTags)
		if p.TagPattern != "" {
			s += " matching " + p.TagPattern
		}
		parts = append(parts, s)
	}
	if p.UntaggedDays > 0 {
		parts = append(parts, fmt.Sprintf("untagged manifests removed after %d days", p.UntaggedDays))
	}
	if p.UnlinkDays > 0 {
		parts = append(parts, fmt.Sprintf("unnamed links removed after %d days", p.UnlinkDays))
	}
	return strings.Join(parts, "; ")
}

// nameList is a repeatable flag of identity names.
type nameList []string

func (l *nameList) String() string { return strings.Join(*l, ",") }

func (l *nameList) Set(v string) error {
	*l = append(*l, v)
	return nil
}
