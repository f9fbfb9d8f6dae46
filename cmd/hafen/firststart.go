package main

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/hafenchat/hafen/internal/config"
)

// firstStartNote tells a new operator, once, what to do next: where
// clients connect, how to create the first (admin) user and how to open
// registration. With JSON logs it is one log record instead of text.
func firstStartNote(w io.Writer, logger *slog.Logger, loaded *config.Loaded, client net.Addr) {
	cfg := loaded.Config
	url := "http://" + client.String()
	if ap, err := netip.ParseAddrPort(client.String()); err == nil && ap.Addr().IsUnspecified() {
		url = fmt.Sprintf("http://<this machine's address>:%d", ap.Port())
	}
	// The user commands must find the same configuration.
	var flags []string
	switch {
	case loaded.Path != filepath.Join(cfg.DataDir, config.FileName):
		flags = append(flags, "--config "+loaded.Path)
	case cfg.DataDir != config.Defaults().DataDir:
		flags = append(flags, "--data-dir "+cfg.DataDir)
	}
	createUser := strings.Join(append([]string{"hafen user create NAME --admin"}, flags...), " ")
	if cfg.Log.Format == "json" {
		logger.Info("first start", "client_url", url, "create_admin", createUser, "path", loaded.Path)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nHafen started for the first time; its data is in %s. Next steps:\n", cfg.DataDir)
	fmt.Fprintf(&b, "  - Clients connect to %s (the homeserver URL). To serve other machines,\n", url)
	fmt.Fprintf(&b, "    put a TLS reverse proxy in front of it and list it in trusted_proxies (see README.md).\n")
	fmt.Fprintf(&b, "  - Create the first user, an administrator, from another terminal:\n      %s\n", createUser)
	if cfg.Registration.Enabled {
		fmt.Fprintf(&b, "  - Registration is open: anyone who can reach the server can create an account.\n")
	} else {
		fmt.Fprintf(&b, "  - Registration is off. To let people register, set registration.enabled: true\n")
		fmt.Fprintf(&b, "    (and require_token: true to hand out tokens) in %s,\n    or start with --open-registration.\n", loaded.Path)
	}
	fmt.Fprintf(&b, "  - Every setting is documented in %s.\n\n", loaded.Path)
	_, _ = io.WriteString(w, b.String())
}
