package config

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// Validate checks every setting and reports all problems at once, joined.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if _, err := id.ParseServerName(c.ServerName); err != nil {
		add("server_name: %w", err)
	}
	if strings.TrimSpace(c.DataDir) == "" {
		add("data_dir: must not be empty")
	}
	if u, err := url.Parse(c.Database); err == nil && u.Scheme != "" && len(u.Scheme) > 1 &&
		u.Scheme != "postgres" && u.Scheme != "postgresql" && u.Scheme != "file" {
		add("database: unsupported scheme %q (use a postgres:// URL or an SQLite file path)", u.Scheme)
	}
	switch c.SQLiteSynchronous {
	case "full", "normal":
	default:
		add("sqlite_synchronous: %q is not one of full, normal", c.SQLiteSynchronous)
	}
	switch c.Presence {
	case "on", "local", "off":
	default:
		add("presence: %q is not one of on, local, off", c.Presence)
	}
	if c.AccessTokenLifetimeSeconds != 0 && (c.AccessTokenLifetimeSeconds < 60 || c.AccessTokenLifetimeSeconds > 604800) {
		add("access_token_lifetime_seconds: %d is neither 0 nor between 60 and 604800", c.AccessTokenLifetimeSeconds)
	}
	if c.LoginTokenSeconds < 0 || c.LoginTokenSeconds > 600 {
		add("login_token_seconds: %d is not between 0 and 600", c.LoginTokenSeconds)
	}
	if c.PresenceIdleSeconds < 10 || c.PresenceIdleSeconds > 86400 {
		add("presence_idle_seconds: %d is not between 10 and 86400", c.PresenceIdleSeconds)
	}
	if c.PresenceOfflineSeconds < 5 || c.PresenceOfflineSeconds > 86400 {
		add("presence_offline_seconds: %d is not between 5 and 86400", c.PresenceOfflineSeconds)
	}
	if _, err := c.MemoryLimitBytes(); err != nil {
		add("%w", err)
	}
	for _, l := range []struct{ key, addr string }{
		{"listen_client", c.ListenClient},
		{"listen_federation", c.ListenFederation},
	} {
		if err := validListenAddr(l.addr); err != nil {
			add("%s: %w", l.key, err)
		}
	}
	if c.PublicBaseURL != "" {
		u, err := url.Parse(c.PublicBaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("public_base_url: %q is not an http(s) URL", c.PublicBaseURL)
		}
	}
	if c.WellKnownServer != "" {
		if _, err := id.ParseServerName(c.WellKnownServer); err != nil {
			add("well_known_server: %w", err)
		}
	}
	for _, ks := range c.TrustedKeyServers {
		if _, err := id.ParseServerName(ks); err != nil {
			add("trusted_key_servers: %w", err)
		} else if ks == c.ServerName {
			add("trusted_key_servers: %q is this server itself", ks)
		}
	}
	if _, err := c.TrustedProxyPrefixes(); err != nil {
		add("trusted_proxies: %w", err)
	}
	if c.FederationMaxBackoffSeconds < 2 || c.FederationMaxBackoffSeconds > 86400 {
		add("federation_max_backoff_seconds: %d is not between 2 and 86400", c.FederationMaxBackoffSeconds)
	}
	if c.TURN.LifetimeSeconds < 60 || c.TURN.LifetimeSeconds > 604800 {
		add("turn.lifetime_seconds: %d is not between 60 and 604800", c.TURN.LifetimeSeconds)
	}
	for _, u := range c.TURN.URIs {
		// voip.yaml: every URI handed to clients matches "^turns?:".
		switch {
		case strings.HasPrefix(u, "stun:") || strings.HasPrefix(u, "stuns:"):
			add("turn.uris: %q is a STUN URI; list only turn: or turns: URIs (clients get no STUN servers from /voip/turnServer)", u)
		case !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:"):
			add("turn.uris: %q does not start with turn: or turns:", u)
		}
	}
	if len(c.TURN.URIs) > 0 && c.TURN.SharedSecret == "" && (c.TURN.Username == "" || c.TURN.Password == "") {
		add("turn: set shared_secret, or username and password, with uris")
	}
	validateSupport(c.Support, add)
	if c.TURN.SharedSecret != "" && (c.TURN.Username != "" || c.TURN.Password != "") {
		add("turn: set shared_secret or username and password, not both")
	}
	if c.MaxConnectionsPerIP < 0 {
		add("max_connections_per_ip: must not be negative")
	}
	if _, ok := roomversion.Lookup(roomversion.ID(c.DefaultRoomVersion)); !ok {
		var ids []string
		for _, v := range roomversion.All() {
			ids = append(ids, string(v.ID))
		}
		add("default_room_version: %q is not a supported room version (one of %s)", c.DefaultRoomVersion, strings.Join(ids, ", "))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		add("tls_cert and tls_key: set both or neither")
	}
	for _, f := range []struct{ key, path string }{
		{"tls_cert", c.TLSCert}, {"tls_key", c.TLSKey}, {"trust_ca", c.TrustCA},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			add("%s: %w", f.key, err)
		}
	}
	for _, s := range settings(c) {
		if len(s.path) != 3 || s.path[0] != "rate_limit" {
			continue
		}
		key := strings.Join(s.path, ".")
		switch s.path[2] {
		case "per_second":
			if s.value.Float() < 0 {
				add("%s: must not be negative", key)
			}
		case "burst":
			if s.value.Int() < 0 {
				add("%s: must not be negative", key)
			}
		}
	}
	if c.Media.MaxUploadSize <= 0 {
		add("media.max_upload_size: must be positive")
	}
	if c.Media.MaxImagePixels <= 0 {
		add("media.max_image_pixels: must be positive")
	}
	if _, err := c.Media.URLPreview.DenyPrefixes(); err != nil {
		add("%v", err)
	}
	for _, h := range c.Media.URLPreview.DenyHosts {
		if h == "" || strings.ContainsAny(strings.TrimPrefix(h, "*."), "*/: ") {
			add("media.url_preview.deny_hosts: %q is not a host name or *.domain", h)
		}
	}
	if c.Media.UserQuota < 0 {
		add("media.user_quota: must be 0 (no quota) or positive")
	}
	if c.Media.MaxRemoteSize < 0 {
		add("media.max_remote_size: must be 0 (max_upload_size) or positive")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level: %q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		add("log.format: %q is not one of text, json", c.Log.Format)
	}
	return errors.Join(errs...)
}

// TrustedProxyPrefixes returns TrustedProxies as address ranges: a single
// address becomes a range of one.
func (c *Config) TrustedProxyPrefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range c.TrustedProxies {
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("%q is not an IP address or CIDR range", s)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address or CIDR range", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func validListenAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has an invalid port", addr)
	}
	return nil
}

// validateSupport checks the support section: an http(s) page and contacts
// that are Matrix user IDs or email addresses.
func validateSupport(s Support, add func(format string, args ...any)) {
	if s.Page != "" {
		if u, err := url.Parse(s.Page); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("support.page: %q is not an http or https URL", s.Page)
		}
	}
	check := func(key string, list []string) {
		for _, c := range list {
			if strings.HasPrefix(c, "@") {
				if _, err := id.ParseUserID(c); err != nil {
					add("support.%s: %q is not a valid Matrix user ID: %w", key, c, err)
				}
				continue
			}
			if _, err := mail.ParseAddress(c); err != nil || strings.ContainsAny(c, "<> ") {
				add("support.%s: %q is neither a Matrix user ID nor an email address", key, c)
			}
		}
	}
	check("admin_contacts", s.AdminContacts)
	check("security_contacts", s.SecurityContacts)
}

// Support contact roles of the spec's /.well-known/matrix/support.
const (
	RoleAdmin    = "m.role.admin"
	RoleSecurity = "m.role.security"
)

// Contact is one way to reach the server's administrators, as
// /.well-known/matrix/support lists it: a Matrix user ID or an email
// address, and its role.
type Contact struct {
	MatrixID string
	Email    string
	Role     string
}

// Contacts returns the configured contacts in order, admins first: each
// entry that starts with "@" is a Matrix user ID, any other an email
// address.
func (s Support) Contacts() []Contact {
	var out []Contact
	add := func(list []string, role string) {
		for _, c := range list {
			if strings.HasPrefix(c, "@") {
				out = append(out, Contact{MatrixID: c, Role: role})
			} else {
				out = append(out, Contact{Email: c, Role: role})
			}
		}
	}
	add(s.AdminContacts, RoleAdmin)
	add(s.SecurityContacts, RoleSecurity)
	return out
}
