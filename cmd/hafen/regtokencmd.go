package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hafenchat/hafen/internal/account"
	"github.com/hafenchat/hafen/internal/config"
)

const regTokenUsage = `usage:
  hafen registration-token create [--uses N] [--expires 7d] [--token TOKEN] [flags]
  hafen registration-token list [flags]
  hafen registration-token delete <token> [flags]
With registration.require_token (--registration-require-token), only
people holding a registration token can register (Client-Server API,
token-authenticated registration). create makes one (random unless
--token names it), usable --uses times (any number when not given) until
--expires from now (never when not given), and prints it; list prints
every token with its uses and expiry; delete removes one.`

// regTokenCommand runs `hafen registration-token <cmd>` against the
// configured database.
func regTokenCommand(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	cmd, err := subcommand("registration-token", regTokenUsage, args, []string{"create", "list", "delete"}, stdout, stderr)
	if err != nil {
		return err
	}
	fs, flags := config.NewFlagSetFor("hafen registration-token "+cmd, storeSettings...)
	fs.SetOutput(stdout)
	var uses int64
	var expires, token string
	if cmd == "create" {
		fs.Int64Var(&uses, "uses", 0, "how many registrations may use the token (0: any number)")
		fs.StringVar(&expires, "expires", "", "how long from now the token works (30d, 12h, 90m; empty: for ever)")
		fs.StringVar(&token, "token", "", "the token (empty: a random one)")
	}
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), regTokenUsage)
		fs.PrintDefaults()
	}
	positional, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	switch {
	case cmd == "delete" && len(positional) != 1:
		return fmt.Errorf("hafen registration-token delete takes one token")
	case cmd != "delete" && len(positional) > 0:
		return fmt.Errorf("unexpected arguments: %s", strings.Join(positional, " "))
	case uses < 0:
		return fmt.Errorf("--uses %d: want 0 (any number) or more", uses)
	}
	var lifetime time.Duration
	if expires != "" {
		if lifetime, err = parseDays("--expires", expires); err != nil {
			return err
		}
		if lifetime <= 0 {
			return fmt.Errorf("--expires %q: want a lifetime longer than 0 (leave it out for a token that does not expire)", expires)
		}
	}
	_, db, err := loadAndOpenStore(ctx, flags, lookupEnv, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	accounts := &account.Service{DB: db}
	switch cmd {
	case "create":
		n := account.NewRegistrationToken{Token: token, UsesAllowed: uses}
		if lifetime > 0 {
			n.Expires = time.Now().Add(lifetime)
		}
		rt, err := accounts.CreateRegistrationToken(ctx, n)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, rt.Token)
		return nil
	case "list":
		return listRegTokens(ctx, accounts, stdout)
	}
	if err := accounts.DeleteRegistrationToken(ctx, positional[0]); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "deleted registration token %s\n", positional[0])
	return nil
}

func listRegTokens(ctx context.Context, accounts *account.Service, stdout io.Writer) error {
	list, err := accounts.RegistrationTokens(ctx)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		fmt.Fprintln(stdout, "no registration tokens")
		return nil
	}
	now := time.Now()
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOKEN\tUSED\tALLOWED\tEXPIRES\tVALID")
	for _, rt := range list {
		allowed, expiry := "any", "never"
		if rt.UsesAllowed != nil {
			allowed = fmt.Sprint(*rt.UsesAllowed)
		}
		if rt.ExpiryTime != nil {
			expiry = time.UnixMilli(*rt.ExpiryTime).UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%v\n", rt.Token, rt.Completed+rt.Pending, allowed, expiry, rt.Valid(now.UnixMilli()))
	}
	return tw.Flush()
}
