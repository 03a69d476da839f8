// Command pier runs the Pier registry on one machine (`pier serve`) and
// holds its admin commands. The local front door of the Lambda function
// (`make local-api`) is a command of its own, cmd/localapi: a development
// tool, not part of this binary.
//
// Usage:
//
//	pier serve [flags]        serve the registry (see pier serve -h)
//	pier user add|rm|list     manage users (see pier user -h)
//	pier token create|revoke  manage robot (CI) tokens (see pier token -h)
//	pier gc [--dry-run]       collect garbage (see pier gc -h)
//	pier policy set|rm|list   repository policies: immutable tags (pier policy -h)
//	pier push SOURCE DEST     push an image from a layout or a tarball (pier push -h)
//	pier copy SRC DEST        copy an image from a registry (pier copy -h)
//	pier version              print the version
package main

import (
	"fmt"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "user":
		err = userCommand(os.Args[2:])
	case "token":
		err = tokenCommand(os.Args[2:])
	case "gc":
		err = gcCommand(os.Args[2:])
	case "policy":
		err = policyCommand(os.Args[2:])
	case "push":
		err = pushCommand(os.Args[2:], false)
	case "copy":
		err = pushCommand(os.Args[2:], true)
	case "version":
		fmt.Println("pier", version)
	case "help", "-h", "--help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "pier: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pier:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage: pier <command> [flags]

commands:
  serve     serve the registry (pier serve -h lists the flags)
  user      manage users: user add NAME, user rm NAME, user list
            (pier user -h)
  token     manage robot (CI) tokens: token create NAME, token revoke NAME
            (pier token -h)
  gc        collect garbage: blobs nothing references, expired uploads
            (pier gc --dry-run shows what it would delete; pier gc -h)
  policy    repository policies (immutable tags): policy set PATTERN,
            policy rm PATTERN, policy list (pier policy -h)
  push      push an image or artifact from an OCI layout or a docker save
            tarball to a registry (pier push -h)
  copy      copy an image or artifact from a registry to another
            (pier copy -h)
  version   print the version
`)
}
