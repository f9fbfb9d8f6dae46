package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/hafenchat/hafen/internal/clientapi"
	"github.com/hafenchat/hafen/internal/config"
	"github.com/hafenchat/hafen/internal/core/id"
)

// userCommand runs `hafen user <cmd>` against the configured database.
func userCommand(ctx context.Context, cmd string, args []string, lookupEnv func(string) (string, bool), stdin io.Reader, stdout, stderr io.Writer) error {
	fs, flags := config.NewFlagSet("hafen user " + cmd)
	fs.SetOutput(stderr)
	admin := fs.Bool("admin", false, "make the user a server administrator (create)")
	password := fs.String("password", "", "the password (default: first line of standard input)")

	// Accept the name before or after the flags.
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
	}
	loaded, err := flags.Load(lookupEnv)
	if err != nil {
		return err
	}
	cfg := loaded.Config
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err := openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer db.Close()
	cs := newClientServer(cfg, db)

	readPassword := func() (clientapi.Password, error) {
		if *password != "" {
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
