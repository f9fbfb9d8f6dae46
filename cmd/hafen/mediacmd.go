package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hafenchat/hafen/internal/config"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/dirlock"
	"github.com/hafenchat/hafen/internal/media"
	"github.com/hafenchat/hafen/internal/store"
)

const mediaUsage = `usage:
  hafen media stats [flags]
  hafen media purge-remote --older-than 30d [flags]
stats prints the disk space the media directory takes and the media
counted by kind (uploaded here, cached from other servers, thumbnails,
reserved, quarantined). purge-remote removes other servers' media cached
here longer ago than --older-than (30d, 12h, 90m; quarantined media stays),
with its thumbnails, and thumbnails fetched without their original
whatever their age: all of it is fetched again when someone asks for it. While the server runs, the
files themselves are removed by its janitor within the hour.`

// mediaSettings are the settings media commands take as flags.
var mediaSettings = []string{"data_dir", "database", "server_name", "media.dir"}

// mediaCommand runs `hafen media <cmd>` against the configured database
// and media directory.
func mediaCommand(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	cmd, err := subcommand("media", mediaUsage, args, []string{"stats", "purge-remote"}, stdout, stderr)
	if err != nil {
		return err
	}
	fs, flags := config.NewFlagSetFor("hafen media "+cmd, mediaSettings...)
	fs.SetOutput(stdout)
	olderThan := ""
	if cmd == "purge-remote" {
		fs.StringVar(&olderThan, "older-than", "", "remove remote media cached longer ago than this (30d, 12h, 90m)")
	}
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), mediaUsage)
		fs.PrintDefaults()
	}
	if err := config.ParseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	var age time.Duration
	if cmd == "purge-remote" {
		var err error
		if age, err = parseAge(olderThan); err != nil {
			return err
		}
	}
	cfg, db, err := loadAndOpenStore(ctx, flags, lookupEnv, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	serverName := id.ServerName(cfg.ServerName)
	if cmd == "stats" {
		return mediaStats(ctx, db, serverName, cfg.MediaDir(), stdout)
	}
	svc := &media.Service{ServerName: serverName, DB: db, Files: media.DirFiles{Root: cfg.MediaDir()}}
	// The files go now only when no server runs on this data directory:
	// a running server could be storing the same content meanwhile, and
	// its janitor removes what no row references.
	removeFiles := false
	if l, err := dirlock.Acquire(cfg.DataDir); err == nil {
		defer l.Release()
		removeFiles = true
	}
	p, err := svc.PurgeRemote(ctx, time.Now().Add(-age), removeFiles)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "purged %d remote media (%s)\n", p.Media, humanBytes(p.Bytes))
	if !removeFiles && len(p.Sums) > 0 {
		fmt.Fprintln(stdout, "the server is running: its janitor removes the files within the hour")
	}
	return nil
}

// maxAgeDays is the longest --older-than in days: a century.
const maxAgeDays = 36500

// parseAge parses the --older-than duration (see parseDays).
func parseAge(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("--older-than is required (for example --older-than 30d)")
	}
	return parseDays("--older-than", s)
}

// parseDays parses the value s of flag, a duration with a day unit besides
// Go's (30d, 12h, 90m).
func parseDays(flag, s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		// Beyond maxAgeDays the duration would overflow (and wrap to a
		// negative age, purging everything).
		if err != nil || n < 0 || n > maxAgeDays {
			return 0, fmt.Errorf("%s %q: want a number of days (at most %d), hours or minutes (30d, 12h, 90m)", flag, s, maxAgeDays)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s %q: want a number of days, hours or minutes (30d, 12h, 90m)", flag, s)
	}
	return d, nil
}

// mediaStats prints the disk usage of the media directory and the media
// counts.
func mediaStats(ctx context.Context, db *store.DB, serverName id.ServerName, dir string, stdout io.Writer) error {
	st, err := db.MediaStats(ctx, serverName)
	if err != nil {
		return err
	}
	var files, bytes int64
	err = filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !e.IsDir() {
			if info, err := e.Info(); err == nil {
				files++
				bytes += info.Size()
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("measure %s: %w", dir, err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "disk usage\t%s\t%d files in %s\n", humanBytes(bytes), files, dir)
	fmt.Fprintf(tw, "local media\t%s\t%d\n", humanBytes(st.LocalBytes), st.LocalCount)
	fmt.Fprintf(tw, "remote media\t%s\t%d\n", humanBytes(st.RemoteBytes), st.RemoteCount)
	fmt.Fprintf(tw, "thumbnails\t%s\t%d\n", humanBytes(st.ThumbnailBytes), st.ThumbnailCount)
	fmt.Fprintf(tw, "reserved\t\t%d\n", st.Pending)
	fmt.Fprintf(tw, "quarantined\t\t%d\n", st.Quarantined)
	return tw.Flush()
}

// humanBytes formats a size in binary units.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
