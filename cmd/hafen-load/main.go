package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(mainStatus(os.Args[1:], os.Stdout, os.Stderr))
}

// mainStatus runs the command with args and returns the exit status.
func mainStatus(args []string, stdout, stderr io.Writer) int {
	cfg, asJSON, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "hafen-load:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	// The root context of the command: an interrupt ends the run early and
	// still prints the report.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	rep, err := run(ctx, cfg, log)
	if err != nil {
		log.Error("run failed", "err", err)
		return 2
	}
	if asJSON {
		err = rep.writeJSON(stdout)
	} else {
		err = rep.writeText(stdout)
	}
	if err != nil {
		log.Error("report failed", "err", err)
		return 2
	}
	if !rep.ok() {
		return 1
	}
	return 0
}

// loadSummary is the first line of --help: what hafen-load measures.
const loadSummary = "hafen-load measures how many messages per second a Matrix homeserver accepts from several senders in one room, how long each send takes, and how long until other users' long-polling /sync sees each message."

// parseFlags reads the command line into a config and reports whether the
// report is to be JSON.
func parseFlags(args []string, stderr io.Writer) (config, bool, error) {
	fs := flag.NewFlagSet("hafen-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	var asJSON bool
	fs.StringVar(&cfg.URL, "url", "", "base URL of the homeserver, for example http://127.0.0.1:8008 (required)")
	fs.IntVar(&cfg.Senders, "senders", 5, "number of users sending messages at once")
	fs.IntVar(&cfg.Messages, "messages", 40, "messages each sender sends")
	fs.IntVar(&cfg.Syncers, "syncers", 5, "number of other users long-polling /sync on the room")
	fs.StringVar(&cfg.SharedSecret, "register-shared-secret", "", "register users with this registration shared secret (/_synapse/admin/v1/register)")
	fs.BoolVar(&cfg.OpenRegistration, "open-registration", false, "register users through open registration with the m.login.dummy stage")
	fs.DurationVar(&cfg.Timeout, "timeout", 5*time.Minute, "deadline of the whole run, setup included")
	fs.IntVar(&cfg.PID, "pid", 0, "process ID of the server on this machine; reports its resident memory (VmRSS) before and after, and its CPU time")
	fs.StringVar(&cfg.RemoteURL, "remote-url", "", "base URL of a second homeserver federated with --url: the syncers register there and join the room over federation, measuring send→seen on the other server")
	fs.StringVar(&cfg.RemoteSharedSecret, "remote-register-shared-secret", "", "registration shared secret of --remote-url (default: --register-shared-secret)")
	fs.IntVar(&cfg.RemotePID, "remote-pid", 0, "process ID of the --remote-url server on this machine; reports its memory and CPU time like --pid")
	fs.BoolVar(&cfg.Receipts, "receipts", false, "each syncer posts an m.read receipt for the newest message of every /sync answer, as a client does")
	fs.DurationVar(&cfg.ReceiptInterval, "receipt-interval", 0, "with --receipts, the least time between two receipts of one syncer (Element Web: 500ms); 0 posts each as soon as the previous one is answered")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "%s\n\nusage: hafen-load --url URL [--remote-url URL] (--open-registration | --register-shared-secret SECRET) [flags]\n\n", loadSummary)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return config{}, false, err
	}
	if fs.NArg() > 0 {
		return config{}, false, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := cfg.validate(); err != nil {
		return config{}, false, err
	}
	cfg.URL = strings.TrimRight(cfg.URL, "/")
	cfg.RemoteURL = strings.TrimRight(cfg.RemoteURL, "/")
	return cfg, asJSON, nil
}

const (
	// maxUsers bounds --senders and --syncers.
	maxUsers = 1000
	// maxTotal bounds the messages of one run.
	maxTotal = 1_000_000
)

// validate reports every problem of cfg at once.
func (cfg config) validate() error {
	var errs []error
	if u, err := url.Parse(cfg.URL); cfg.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("--url %q: want an http or https base URL", cfg.URL))
	}
	if u, err := url.Parse(cfg.RemoteURL); cfg.RemoteURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		errs = append(errs, fmt.Errorf("--remote-url %q: want an http or https base URL", cfg.RemoteURL))
	}
	if cfg.RemoteURL == "" && (cfg.RemoteSharedSecret != "" || cfg.RemotePID != 0) {
		errs = append(errs, errors.New("--remote-register-shared-secret and --remote-pid need --remote-url"))
	}
	if cfg.RemoteSharedSecret != "" && cfg.OpenRegistration {
		errs = append(errs, errors.New("--remote-register-shared-secret goes with --register-shared-secret, not --open-registration"))
	}
	if cfg.RemoteURL != "" && cfg.Syncers < 1 {
		errs = append(errs, errors.New("--remote-url needs at least one syncer"))
	}
	if cfg.Senders < 1 || cfg.Senders > maxUsers {
		errs = append(errs, fmt.Errorf("--senders %d: want 1 to %d", cfg.Senders, maxUsers))
	}
	if cfg.Messages < 1 || cfg.Messages > maxTotal {
		errs = append(errs, fmt.Errorf("--messages %d: want 1 to %d", cfg.Messages, maxTotal))
	}
	if cfg.Syncers < 0 || cfg.Syncers > maxUsers {
		errs = append(errs, fmt.Errorf("--syncers %d: want 0 to %d", cfg.Syncers, maxUsers))
	}
	if cfg.Messages <= maxTotal && cfg.Senders <= maxUsers && cfg.Senders*cfg.Messages > maxTotal {
		errs = append(errs, fmt.Errorf("--senders × --messages = %d: want at most %d", cfg.Senders*cfg.Messages, maxTotal))
	}
	if (cfg.SharedSecret != "") == cfg.OpenRegistration {
		errs = append(errs, errors.New("give exactly one of --open-registration and --register-shared-secret"))
	}
	if cfg.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout %s: want a positive duration", cfg.Timeout))
	}
	if cfg.PID < 0 {
		errs = append(errs, fmt.Errorf("--pid %d: want a process ID", cfg.PID))
	}
	if cfg.ReceiptInterval < 0 {
		errs = append(errs, fmt.Errorf("--receipt-interval %s: want 0 or a positive duration", cfg.ReceiptInterval))
	}
	if cfg.ReceiptInterval > 0 && !cfg.Receipts {
		errs = append(errs, errors.New("--receipt-interval needs --receipts"))
	}
	if cfg.RemotePID < 0 {
		errs = append(errs, fmt.Errorf("--remote-pid %d: want a process ID", cfg.RemotePID))
	}
	return errors.Join(errs...)
}
