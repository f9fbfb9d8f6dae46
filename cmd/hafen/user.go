package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/hafenchat/hafen/internal/clientapi"
	"github.com/hafenchat/hafen/internal/config"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

const userUsage = `usage:
  hafen user create <localpart> [--admin] [--password PASSWORD] [flags]
  hafen user reset-password <user> [--password PASSWORD] [flags]
  hafen user list [flags]
Run "hafen user <command> --help" for a command's flags. Without
--password, the password is read from the first line of standard input.`

// userCommand runs `hafen user <cmd>` against the configured database.
func userCommand(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdin io.Reader, stdout, stderr io.Writer) error {
	cmd, err := subcommand("user", userUsage, args, []string{"create", "reset-password", "list"}, stdout, stderr)
	if err != nil {
		return err
	}
	args = args[1:]
	fs, flags := config.NewFlagSetFor("hafen user "+cmd, storeSettings...)
	fs.SetOutput(stdout)
	var admin *bool
	var password *string
	if cmd == "create" {
		admin = fs.Bool("admin", false, "make the user a server administrator")
	}
	if cmd != "list" {
		password = fs.String("password", "", "the password (default: first line of standard input)")
	}
	fs.Usage = func() {
		switch cmd {
		case "create":
			fmt.Fprintln(fs.Output(), "usage: hafen user create <localpart> [flags]")
		case "reset-password":
			fmt.Fprintln(fs.Output(), "usage: hafen user reset-password <user> [flags]")
		default:
			fmt.Fprintln(fs.Output(), "usage: hafen user list [flags]")
		}
		fs.PrintDefaults()
	}

	// Accept the name before or after the flags.
	positional, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(positional) > 1 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(positional[1:], " "))
	}
	var name string
	if len(positional) == 1 {
		name = positional[0]
	}
	cfg, db, err := loadAndOpenStore(ctx, flags, lookupEnv, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	rec, err := db.ServerIdentity(ctx)
	if err != nil {
		return err
	}
	if rec.ServerName != "" && rec.ServerName != cfg.ServerName {
		return serverNameMismatch(cfg.ServerName, rec.ServerName)
	}
	if rec.ServerName == "" && cmd == "create" {
		// The users created now carry this name: serve must keep it.
		if err := db.RecordServerIdentity(ctx, store.ServerIdentity{ServerName: cfg.ServerName}); err != nil {
			return err
		}
	}
	cs := newClientServer(cfg, db)

	readPassword := func() (clientapi.Password, error) {
		if password != nil && *password != "" {
			return clientapi.Password(*password), nil
		}
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read password from standard input: %w", err)
		}
		p := strings.TrimRight(line, "\r\n")
		if p == "" {
			return "", errors.New("no password: pass --password or write it to standard input")
		}
		return clientapi.Password(p), nil
	}

	switch cmd {
	case "create":
		if name == "" {
			return errors.New("usage: hafen user create <localpart> [--admin] [--password PASSWORD]")
		}
		p, err := readPassword()
		if err != nil {
			return err
		}
		userID, err := cs.CreateAccount(ctx, name, p, *admin)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, "created", userID)
		return nil
	case "reset-password":
		if name == "" {
			return errors.New("usage: hafen user reset-password <user> [--password PASSWORD]")
		}
		p, err := readPassword()
		if err != nil {
			return err
		}
		userID, err := cs.ResetPassword(ctx, name, p)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, "password reset for", userID, "(all devices logged out)")
		return nil
	case "list":
		var since id.UserID
		for {
			users, err := db.Users(ctx, since, 500)
			if err != nil {
				return err
			}
			for _, u := range users {
				flags := ""
				if u.IsAdmin {
					flags += " admin"
				}
				if u.Deactivated {
					flags += " deactivated"
				}
				fmt.Fprintf(stdout, "%s%s\n", u.UserID, flags)
			}
			if len(users) < 500 {
				return nil
			}
			since = users[len(users)-1].UserID
		}
	}
	return fmt.Errorf("unknown user command %q", cmd)
}

// loadAndOpenStore loads an operator command's configuration from its
// flags and the environment and opens its existing store.
func loadAndOpenStore(ctx context.Context, flags *config.Flags, lookupEnv func(string) (string, bool), stderr io.Writer) (config.Config, *store.DB, error) {
	loaded, err := flags.Load(lookupEnv)
	if err != nil {
		return config.Config{}, nil, err
	}
	db, err := openExistingStore(ctx, loaded.Config, stderr)
	return loaded.Config, db, err
}

// openExistingStore opens the store of an operator command, after
// checkDatabaseExists, logging warnings to stderr.
func openExistingStore(ctx context.Context, cfg config.Config, stderr io.Writer) (*store.DB, error) {
	if err := checkDatabaseExists(cfg); err != nil {
		return nil, err
	}
	return openStore(ctx, cfg, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
}

// checkDatabaseExists explains, instead of SQLite's "unable to open
// database file", that the data directory is created by the first
// `hafen serve`. An existing data directory without a database gets one,
// so the first administrator can be created before the first start. A
// PostgreSQL database is checked by connecting to it.
func checkDatabaseExists(cfg config.Config) error {
	dsn := databaseDSN(cfg)
	if isPostgresDSN(dsn) {
		return nil
	}
	dir := filepath.Dir(strings.TrimPrefix(dsn, "sqlite:"))
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		what := "data directory"
		if cfg.Database != "" {
			what = "database directory"
		}
		return fmt.Errorf("%s %s does not exist: run \"hafen serve\" once to create it (or pass the --data-dir, --database or --config that serve uses)", what, dir)
	}
	return nil
}
