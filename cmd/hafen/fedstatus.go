package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hafenchat/hafen/internal/config"
)

const federationUsage = `usage:
  hafen federation status [flags]
Lists the servers this one sends events to: queued events, failures in a
row, last success, last error and next retry. It reads the database, so it
works whether or not the server runs.`

// federationCommand runs `hafen federation <cmd>` against the configured
// database.
func federationCommand(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	if _, err := subcommand("federation", federationUsage, args, []string{"status"}, stdout, stderr); err != nil {
		return err
	}
	fs, flags := config.NewFlagSetFor("hafen federation status", storeSettings...)
	fs.SetOutput(stdout)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: hafen federation status [flags]")
		fs.PrintDefaults()
	}
	if err := config.ParseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	_, db, err := loadAndOpenStore(ctx, flags, lookupEnv, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	dests, err := db.Destinations(ctx, false)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DESTINATION\tQUEUED\tFAILURES\tLAST SUCCESS\tNEXT RETRY\tLAST ERROR")
	for _, d := range dests {
		lastErr := "-"
		if d.LastError != "" {
			lastErr = statusTime(d.LastErrorTS) + " " + strings.ReplaceAll(d.LastError, "\n", " ")
		}
		next := "-"
		if d.Queued > 0 || d.QueuedEDUs > 0 {
			next = "now"
			if d.NextRetryTS > time.Now().UnixMilli() {
				next = statusTime(d.NextRetryTS)
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", d.Name, d.Queued, d.Failures, statusTime(d.LastSuccessTS), next, lastErr)
	}
	return tw.Flush()
}

// statusTime formats a timestamp in milliseconds for the status table.
func statusTime(ms int64) string {
	if ms == 0 {
		return "never"
	}
	return time.UnixMilli(ms).UTC().Format(time.RFC3339)
}
