package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pier-registry/pier/internal/auth"
	"github.com/pier-registry/pier/internal/config"
	"github.com/pier-registry/pier/internal/randid"
	"github.com/pier-registry/pier/internal/server"
	"github.com/pier-registry/pier/internal/store"
	"github.com/pier-registry/pier/internal/store/awsstore"
)

// The admin commands manage the identities of the metadata store: users
// (`pier user add|rm|list`) and robot tokens (`pier token
// create|revoke`). Each takes the backend flags and variables of `pier
// serve` and opens the store as the server does (server.OpenIdentities).
// They print a password or secret once, when it is made, and never
// otherwise: the store keeps only hashes.

// maxPasswordInput bounds what --password-stdin reads.
const maxPasswordInput = 4 << 10

// adminIO is where an admin command reads and writes.
type adminIO struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

var stdio = adminIO{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}

func userCommand(args []string) error {
	return adminCommand("user", args, map[string]adminFunc{
		"add":  userAdd,
		"rm":   userRm,
		"list": userList,
	})
}

func tokenCommand(args []string) error {
	return adminCommand("token", args, map[string]adminFunc{
		"create": tokenCreate,
		"revoke": tokenRevoke,
	})
}

// adminFunc runs one admin subcommand on the identities ids with the
// positional arguments args and the command's own flags.
type adminFunc func(ctx context.Context, ids store.Identities, args []string, f *adminFlags, out adminIO) error

// adminSpec is what a subcommand takes.
type adminSpec struct {
	usage string // after "pier user|token SUB"
	args  int    // positional arguments
	// own flags
	grants, passwordStdin, expires bool
}

var adminSpecs = map[string]adminSpec{
	"user add":     {usage: "NAME [--grant PATTERN=ACTIONS]... [--password-stdin]", args: 1, grants: true, passwordStdin: true},
	"user rm":      {usage: "NAME", args: 1},
	"user list":    {usage: "", args: 0},
	"token create": {usage: "NAME [--grant PATTERN=ACTIONS]... [--expires DURATION]", args: 1, grants: true, expires: true},
	"token revoke": {usage: "NAME", args: 1},
}

// adminFlags are the admin commands' own flags.
type adminFlags struct {
	grants        grantList
	passwordStdin bool
	expires       time.Duration
}

// grantList is a repeatable --grant PATTERN=ACTIONS.
type grantList []store.Grant

func (g *grantList) String() string {
	if g == nil {
		return ""
	}
	return auth.FormatGrants(*g)
}

func (g *grantList) Set(v string) error {
	gr, err := auth.ParseGrant(v)
	if err != nil {
		return err
	}
	*g = append(*g, gr)
	return nil
}

// adminCommand runs `pier CMD SUB ...`: it parses the flags (the
// command's own and the backend's, anywhere among the arguments), opens
// the identity store and runs the subcommand.
func adminCommand(cmd string, args []string, subs map[string]adminFunc) error {
	var names []string
	for sub := range subs {
		names = append(names, sub)
	}
	slices.Sort(names)
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(stdio.stderr, "usage:\n")
		for _, sub := range names {
			fmt.Fprintf(stdio.stderr, "  %s\n", synopsis("pier "+cmd+" "+sub, adminSpecs[cmd+" "+sub].usage))
		}
		fmt.Fprintf(stdio.stderr, "\nthe backend flags are those of pier serve; pier %s %s -h lists them\n", cmd, names[0])
		if len(args) == 0 {
			return fmt.Errorf("pier %s: which command? %s", cmd, strings.Join(names, ", "))
		}
		return nil
	}
	sub, run := args[0], subs[args[0]]
	if run == nil {
		return fmt.Errorf("pier %s: unknown command %q (want %s)", cmd, sub, strings.Join(names, ", "))
	}
	spec := adminSpecs[cmd+" "+sub]
	name := "pier " + cmd + " " + sub

	var af adminFlags
	own := func(fs *flag.FlagSet) {
		if spec.grants {
			fs.Var(&af.grants, "grant", "PATTERN=ACTIONS: allow ACTIONS (pull, push, delete, comma separated) on the repositories that PATTERN (NAME, PREFIX/* or *) matches; repeat for more")
		}
		if spec.passwordStdin {
			fs.BoolVar(&af.passwordStdin, "password-stdin", false, "read the password from standard input (one line) instead of making a random one")
		}
		if spec.expires {
			fs.DurationVar(&af.expires, "expires", 0, "the token stops working after this long (e.g. 720h); 0: never")
		}
	}
	fs, cfg, positional, err := parseBackendArgs(name, own, args[1:], config.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		adminUsage(stdio.stderr, fs, own, name, spec)
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w (%s -h lists the flags)", name, err, name)
	}
	if len(positional) != spec.args {
		return fmt.Errorf("%s: want %d argument(s), got %d: %s", name, spec.args, len(positional), synopsis(name, spec.usage))
	}
	if spec.args == 1 {
		if err := auth.CheckName(positional[0]); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if spec.expires && af.expires < 0 {
		return fmt.Errorf("%s: --expires %s is negative", name, af.expires)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ids, closeStore, err := server.OpenIdentities(ctx, cfg)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer closeStore()
	if err := run(ctx, ids, positional, &af, stdio); err != nil {
		if noTable := (*types.ResourceNotFoundException)(nil); errors.As(err, &noTable) {
			return fmt.Errorf("%s: the DynamoDB table %s does not exist: make it with --create-resources (or deploy the stack), then try again", name, awsstore.TableName(cfg.TablePrefix))
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// synopsis is the usage line of the admin command name.
func synopsis(name, usage string) string {
	if usage == "" {
		return name + " [backend flags]"
	}
	return name + " " + usage + " [backend flags]"
}

// backendFlags are the flags of pier serve that the admin commands use.
var backendFlags = []string{"backend", "data", "bucket", "table-prefix", "create-resources"}

// adminUsage prints the usage of the admin command name: its own flags
// (those that own registers) and the backend's, from fs, which holds them
// and every other flag of pier serve; the others are taken and ignored.
func adminUsage(w io.Writer, fs *flag.FlagSet, own func(*flag.FlagSet), name string, spec adminSpec) {
	fmt.Fprintf(w, "usage: %s\n\nflags:\n", synopsis(name, spec.usage))
	ownSet := flag.NewFlagSet(name, flag.ContinueOnError)
	own(ownSet)
	probe := flag.NewFlagSet(name, flag.ContinueOnError)
	probe.SetOutput(w)
	fs.VisitAll(func(f *flag.Flag) {
		if slices.Contains(backendFlags, f.Name) || ownSet.Lookup(f.Name) != nil {
			probe.Var(f.Value, f.Name, f.Usage)
			probe.Lookup(f.Name).DefValue = f.DefValue
		}
	})
	probe.PrintDefaults()
	fmt.Fprintln(w, "\nthe other flags of pier serve are accepted (pier serve -h); so are the PIER_ variables (PIER_BACKEND, PIER_DATA_DIR, PIER_BUCKET, ...) and the AWS SDK's (AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL_DYNAMODB, ...)")
}

// parseBackendArgs parses args for the command name: the flags that own
// registers and those of pier serve (config.Parse, with getenv), which may
// stand before, between and after the positional arguments (splitArgs).
// The flag set prints nothing: the flag package would print the error and
// every flag of pier serve; the caller prints the error alone, and its
// usage (from fs) on flag.ErrHelp.
func parseBackendArgs(name string, own func(*flag.FlagSet), args []string, getenv func(string) string) (fs *flag.FlagSet, cfg config.Config, positional []string, err error) {
	fs = flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	own(fs)
	flags, positional := splitArgs(own, args)
	cfg, err = parseConfig(fs, flags, getenv)
	return fs, cfg, positional, err
}

// splitArgs splits args into flags (with their values) and positional
// arguments, so that flags may come after the name (`pier user add alice
// --grant ...`), which the flag package alone does not allow. Everything
// after "--" is positional. The flags are known from a flag set with own
// and the backend's flags; an unknown one is left for the parse to report.
func splitArgs(own func(*flag.FlagSet), args []string) (flags, positional []string) {
	probe := flag.NewFlagSet("", flag.ContinueOnError)
	probe.SetOutput(io.Discard)
	own(probe)
	config.Parse(probe, nil, func(string) string { return "" }) // registers the flags
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		fname := strings.TrimLeft(a, "-")
		if strings.Contains(fname, "=") {
			continue
		}
		f := probe.Lookup(fname)
		if f == nil {
			continue
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			flags = append(flags, args[i+1])
			i++
		}
	}
	return flags, positional
}

// now is the time of a record, to the second as the stores keep it.
func now() time.Time { return time.Now().UTC().Truncate(time.Second) }

// errExists is the error of adding an identity whose name is taken.
func errExists(id store.Identity) error {
	undo := "pier user rm " + id.Name
	if id.Kind == store.KindRobot {
		undo = "pier token revoke " + id.Name
	}
	return fmt.Errorf("%s %q already exists: remove it first (%s)", id.Kind, id.Name, undo)
}

// absent returns nil when no identity is called name.
func absent(ctx context.Context, ids store.Identities, name string) error {
	id, err := ids.Identity(ctx, name)
	switch {
	case err == nil:
		return errExists(id)
	case errors.Is(err, store.ErrNotFound):
		return nil
	default:
		return err
	}
}

func userAdd(ctx context.Context, ids store.Identities, args []string, f *adminFlags, out adminIO) error {
	name := args[0]
	if err := absent(ctx, ids, name); err != nil {
		return err
	}
	var password string
	if f.passwordStdin {
		b, err := io.ReadAll(io.LimitReader(out.stdin, maxPasswordInput+1))
		if err != nil {
			return fmt.Errorf("read the password: %w", err)
		}
		if len(b) > maxPasswordInput {
			return errors.New("the password on standard input is too long")
		}
		b = bytes.TrimSuffix(b, []byte("\n"))
		b = bytes.TrimSuffix(b, []byte("\r"))
		if bytes.ContainsAny(b, "\r\n") {
			return errors.New("the password on standard input is more than one line")
		}
		password = string(b)
		if password == "" {
			return errors.New("no password on standard input")
		}
	} else {
		password = randid.Base64URL(24)
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return err
	}
	id := store.Identity{Name: name, Kind: store.KindUser, Secret: hash, Grants: f.grants, Created: now()}
	if err := ids.PutIdentity(ctx, id); err != nil {
		return err
	}
	fmt.Fprintf(out.stdout, "added user %s (grants: %s)\n", name, grantsText(id.Grants))
	if len(id.Grants) == 0 {
		fmt.Fprintf(out.stderr, "note: %s has no grants: it may pull public repositories only (add grants with --grant PATTERN=ACTIONS)\n", name)
	}
	if !f.passwordStdin {
		fmt.Fprintf(out.stdout, "log in with username %s, password %s\n", name, password)
		fmt.Fprintln(out.stdout, "the password is shown only now: Pier keeps only its hash")
	}
	return nil
}

func tokenCreate(ctx context.Context, ids store.Identities, args []string, f *adminFlags, out adminIO) error {
	name := args[0]
	if err := absent(ctx, ids, name); err != nil {
		return err
	}
	secret, hash := auth.NewRobotSecret()
	id := store.Identity{Name: name, Kind: store.KindRobot, Secret: hash, Grants: f.grants, Created: now()}
	if f.expires > 0 {
		id.Expires = id.Created.Add(f.expires).Truncate(time.Second)
	}
	if err := ids.PutIdentity(ctx, id); err != nil {
		return err
	}
	fmt.Fprintf(out.stdout, "created robot token %s (grants: %s; expires: %s)\n", name, grantsText(id.Grants), timeText(id.Expires, "never"))
	if len(id.Grants) == 0 {
		fmt.Fprintf(out.stderr, "note: %s has no grants: it may pull public repositories only\n", name)
	}
	fmt.Fprintf(out.stdout, "log in with username %s, password %s\n", name, secret)
	fmt.Fprintln(out.stdout, "the secret is shown only now: Pier keeps only its hash")
	return nil
}

// remove deletes the identity called name, which must be of kind.
func remove(ctx context.Context, ids store.Identities, name, kind string) error {
	id, err := ids.Identity(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no %s %q", kind, name)
	}
	if err != nil {
		return err
	}
	if id.Kind != kind {
		other := "pier user rm " + name
		if id.Kind == store.KindRobot {
			other = "pier token revoke " + name
		}
		return fmt.Errorf("%q is a %s, not a %s (%s)", name, id.Kind, kind, other)
	}
	err = ids.DeleteIdentity(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no %s %q", kind, name)
	}
	return err
}

func userRm(ctx context.Context, ids store.Identities, args []string, _ *adminFlags, out adminIO) error {
	if err := remove(ctx, ids, args[0], store.KindUser); err != nil {
		return err
	}
	fmt.Fprintf(out.stdout, "removed user %s\n", args[0])
	return nil
}

func tokenRevoke(ctx context.Context, ids store.Identities, args []string, _ *adminFlags, out adminIO) error {
	if err := remove(ctx, ids, args[0], store.KindRobot); err != nil {
		return err
	}
	fmt.Fprintf(out.stdout, "revoked robot token %s\n", args[0])
	return nil
}

// userList prints every identity, users and robot tokens, without their
// secrets or hashes.
func userList(ctx context.Context, ids store.Identities, _ []string, _ *adminFlags, out adminIO) error {
	all, err := ids.ListIdentities(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tCREATED\tEXPIRES\tGRANTS")
	t := time.Now()
	for _, id := range all {
		expires := timeText(id.Expires, "-")
		if !id.Expires.IsZero() && !t.Before(id.Expires) {
			expires += " (expired)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", id.Name, id.Kind, timeText(id.Created, "-"), expires, grantsText(id.Grants))
	}
	return tw.Flush()
}

func grantsText(grants []store.Grant) string {
	if len(grants) == 0 {
		return "none"
	}
	return auth.FormatGrants(grants)
}

func timeText(t time.Time, zero string) string {
	if t.IsZero() {
		return zero
	}
	return t.UTC().Format(time.RFC3339)
}
