// Command hafen is the Hafen homeserver.
//
//	hafen serve [flags]                 run the server
//	hafen user create <localpart> [--admin] [--password …]
//	hafen user reset-password <user> [--password …]
//	hafen user list
//	hafen federation status
//	hafen key rotate
//	hafen version
//
// `hafen serve --help` lists every configuration flag; the user commands
// take the few that locate the database (`hafen user list --help`).
// Without --password, user commands read the password from the first line
// of standard input, so they never prompt.
//
// This package only wires the packages together; serve.go is where a
// newcomer finds the order in which Hafen starts (config → logger → store →
// signing key → HTTP servers) and stops (the reverse). Logic lives in the
// packages it wires.
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

	"github.com/hafenchat/hafen/internal/config"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	// The root context: canceled on SIGINT or SIGTERM.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdin, os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "hafen:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  hafen serve [flags]
  hafen user create <localpart> [--admin] [--password PASSWORD] [flags]
  hafen user reset-password <user> [--password PASSWORD] [flags]
  hafen user list [flags]
  hafen federation status [flags]
  hafen media stats [flags]
  hafen media purge-remote --older-than 30d [flags]
  hafen reports list [--kind event|room|user] [flags]
  hafen reports show|delete <id> [flags]
  hafen key rotate [flags]
  hafen version
Run "hafen serve --help" for the configuration flags, "hafen user --help"
for the user commands, "hafen key rotate --help" for key rotation.`

// run dispatches a command line.
func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return errors.New("no command")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], lookupEnv, stderr, nil)
	case "user":
		if len(args) < 2 {
			fmt.Fprintln(stderr, userUsage)
			return errors.New("missing user command")
		}
		return userCommand(ctx, args[1], args[2:], lookupEnv, stdin, stdout, stderr)
	case "federation":
		return federationCommand(ctx, args[1:], lookupEnv, stdout, stderr)
	case "media":
		return mediaCommand(ctx, args[1:], lookupEnv, stdout, stderr)
	case "reports":
		return reportsCommand(ctx, args[1:], lookupEnv, stdout, stderr)
	case "key":
		if len(args) < 2 {
			fmt.Fprintln(stderr, keyUsage)
			return errors.New("missing key command")
		}
		return keyCommand(ctx, args[1], args[2:], lookupEnv, stdout, stderr)
	case "version":
		fs := flag.NewFlagSet("hafen version", flag.ContinueOnError)
		fs.SetOutput(stdout)
		fs.Usage = func() {
			fmt.Fprintln(fs.Output(), "usage: hafen version\nPrints the version of this hafen binary; it takes no flags.")
		}
		if err := config.ParseFlags(fs, args[1:]); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
		}
		fmt.Fprintln(stdout, "hafen", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	fmt.Fprintln(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}
