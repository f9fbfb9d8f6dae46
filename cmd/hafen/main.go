// Command hafen is the Hafen homeserver.
//
//	hafen serve [flags]                 run the server
//	hafen user create <localpart> [--admin] [--password …]
//	hafen user reset-password <user> [--password …]
//	hafen user list
//	hafen federation status
//	hafen media stats | purge-remote --older-than …
//	hafen reports list | show <id> | delete <id>
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
	"slices"
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
  hafen registration-token create [--uses N] [--expires 7d] [--token TOKEN] [flags]
  hafen registration-token list|delete [<token>] [flags]
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
		return userCommand(ctx, args[1:], lookupEnv, stdin, stdout, stderr)
	case "federation":
		return federationCommand(ctx, args[1:], lookupEnv, stdout, stderr)
	case "media":
		return mediaCommand(ctx, args[1:], lookupEnv, stdout, stderr)
	case "reports":
		return reportsCommand(ctx, args[1:], lookupEnv, stdout, stderr)
	case "registration-token":
		return regTokenCommand(ctx, args[1:], lookupEnv, stdout, stderr)
	case "key":
		return keyCommand(ctx, args[1:], lookupEnv, stdout, stderr)
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

// storeSettings are the settings the commands that work on the database
// take as flags: where the data is and which server it belongs to.
var storeSettings = []string{"data_dir", "database", "server_name"}

// parseArgs parses the flags of a command's arguments args and returns
// its positional arguments, of which the first may come before the flags
// (show 12 --data-dir …) or after them.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		positional, args = args[:1], args[1:]
	}
	if err := config.ParseFlags(fs, args); err != nil {
		return nil, err
	}
	return append(positional, fs.Args()...), nil
}

// subcommand returns the command of `hafen <group> <command> …` (args
// starts at it) when it is one of cmds. Help (help, -h, -help, --help)
// prints usage to stdout and returns flag.ErrHelp; a missing or unknown
// command prints usage to stderr and fails.
func subcommand(group, usage string, args, cmds []string, stdout, stderr io.Writer) (string, error) {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return "", fmt.Errorf("missing %s command", group)
	}
	switch cmd := args[0]; {
	case slices.Contains(cmds, cmd):
		return cmd, nil
	case cmd == "help" || cmd == "-h" || cmd == "-help" || cmd == "--help":
		fmt.Fprintln(stdout, usage)
		return "", flag.ErrHelp
	default:
		fmt.Fprintln(stderr, usage)
		return "", fmt.Errorf("unknown %s command %q", group, cmd)
	}
}
