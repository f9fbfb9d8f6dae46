package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hafenchat/hafen/internal/config"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/reports"
	"github.com/hafenchat/hafen/internal/store"
)

const reportsUsage = `usage:
  hafen reports list [--kind event|room|user] [--limit N] [flags]
  hafen reports show <id> [flags]
  hafen reports delete <id> [flags]
list prints users' reports of events, rooms and users, newest first: the
report's ID, when it came, its kind, who reported, what (room, event and
its sender, or user) and the reason. show prints one report with the
reported event as stored. delete removes a report once it is dealt with.
Moderation tools read event reports through the Synapse-compatible
/_synapse/admin/v1/event_reports endpoints instead.`

// reportsCommand runs `hafen reports <cmd>` against the configured
// database.
func reportsCommand(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	cmd, err := subcommand("reports", reportsUsage, args, []string{"list", "show", "delete"}, stdout, stderr)
	if err != nil {
		return err
	}
	fs, flags := config.NewFlagSetFor("hafen reports "+cmd, storeSettings...)
	fs.SetOutput(stdout)
	kind, limit := "", 100
	if cmd == "list" {
		fs.StringVar(&kind, "kind", "", "list only reports of this kind: event, room or user")
		fs.IntVar(&limit, "limit", 100, "list at most this many reports")
	}
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), reportsUsage)
		fs.PrintDefaults()
	}
	positional, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	var reportID int64
	switch {
	case cmd == "list" && len(positional) > 0:
		return fmt.Errorf("unexpected arguments: %s", strings.Join(positional, " "))
	case cmd == "list" && kind != "" && kind != store.ReportEvent && kind != store.ReportRoom && kind != store.ReportUser:
		return fmt.Errorf("--kind %q: want event, room or user", kind)
	case cmd == "list" && limit <= 0:
		return fmt.Errorf("--limit %d: want a positive number", limit)
	case cmd != "list":
		if len(positional) != 1 {
			return fmt.Errorf("hafen reports %s takes one report ID", cmd)
		}
		n, err := strconv.ParseInt(positional[0], 10, 64)
		if err != nil || n <= 0 {
			return fmt.Errorf("%q is not a report ID (a positive number)", positional[0])
		}
		reportID = n
	}
	cfg, db, err := loadAndOpenStore(ctx, flags, lookupEnv, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	svc := &reports.Service{DB: db, ServerName: id.ServerName(cfg.ServerName)}
	switch cmd {
	case "list":
		return listReports(ctx, svc, kind, limit, stdout)
	case "show":
		d, err := svc.Get(ctx, reportID)
		if err != nil {
			return err
		}
		printReport(stdout, d)
		return nil
	}
	if err := svc.Delete(ctx, reportID); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "deleted report %d\n", reportID)
	return nil
}

func listReports(ctx context.Context, svc *reports.Service, kind string, limit int, stdout io.Writer) error {
	list, total, err := svc.List(ctx, store.ReportFilter{Kind: kind, NewestFirst: true}, 0, limit)
	if err != nil {
		return err
	}
	if total == 0 {
		fmt.Fprintln(stdout, "no reports")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tRECEIVED\tKIND\tREPORTER\tSUBJECT\tREASON")
	for _, d := range list {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", d.ID, received(d.ReceivedTS), d.Kind, d.Reporter, subject(d), oneLine(d.Reason))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if total > len(list) {
		fmt.Fprintf(stdout, "%d of %d reports shown (--limit)\n", len(list), total)
	}
	return nil
}

// subject names what a report is about.
func subject(d reports.Detail) string {
	room := string(d.RoomID)
	if d.CanonicalAlias != "" {
		room = d.CanonicalAlias + " (" + room + ")"
	}
	switch d.Kind {
	case store.ReportEvent:
		s := "event " + string(d.EventID) + " in " + room
		if d.Sender != "" {
			s += " by " + string(d.Sender)
		}
		return s
	case store.ReportRoom:
		return "room " + room
	}
	return "user " + string(d.UserID)
}

func received(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339) }

// oneLine keeps a reason on its table row.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return strconv.Quote(s)
}

func printReport(w io.Writer, d reports.Detail) {
	fmt.Fprintf(w, "report %d (%s)\n", d.ID, d.Kind)
	fmt.Fprintf(w, "received: %s\n", received(d.ReceivedTS))
	fmt.Fprintf(w, "reporter: %s\n", d.Reporter)
	fmt.Fprintf(w, "subject:  %s\n", subject(d))
	if d.RoomName != "" {
		fmt.Fprintf(w, "room name: %s\n", d.RoomName)
	}
	if d.Score != nil {
		fmt.Fprintf(w, "score: %d\n", *d.Score)
	}
	fmt.Fprintf(w, "reason: %s\n", strconv.Quote(d.Reason))
	if len(d.EventJSON) > 0 {
		fmt.Fprintf(w, "event: %s\n", d.EventJSON)
	}
}
