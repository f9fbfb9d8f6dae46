package config

import (
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
)

// Config is the configuration of a Hafen server. Every setting has a default
// that works on a laptop: `hafen serve` with no configuration at all stores
// its data in ./hafen-data (SQLite) and serves clients on 127.0.0.1:8008.
//
// Settings are read in this order, each source overriding the previous
// one: defaults, this file, environment variables, command-line flags. The
// environment variable of a setting is HAFEN_ followed by its path in
// capitals, joined by "_" (HAFEN_SERVER_NAME, HAFEN_RATE_LIMIT_LOGIN_BURST);
// its flag is the path joined by "-" (--server-name,
// --rate-limit-login-burst). A section with an "enabled" switch also takes
// the section's name as flag: --registration, --rate-limit=false.
type Config struct {
	// ServerName is the name of this homeserver: the part after the colon
	// in its user IDs (@alice:example.org) and the name other servers reach
	// it by. It cannot be changed once users exist. A DNS name, an IPv4
	// address or a bracketed IPv6 address, optionally followed by ":port".
	ServerName string `yaml:"server_name"`

	// DataDir is the directory for everything Hafen stores on disk: the
	// SQLite database (unless Database says otherwise), the signing key, the
	// generated TLS certificate and, by default, this file.
	DataDir string `yaml:"data_dir"`

	// Database selects the database. Empty means an SQLite file hafen.db in
	// DataDir. A postgres:// (or postgresql://) URL selects PostgreSQL, for
	// example postgres://hafen:secret@localhost/hafen?sslmode=disable. Any
	// other value is the path of an SQLite file. Beside an SQLite file
	// (hafen.db) Hafen keeps a second one (hafen-derived.db) for the
	// search index and users' notifications, with a write lock of its own;
	// a backup copies both (without the derived file, the search index is
	// rebuilt and older notifications are gone).
	Database string `yaml:"database"`

	// SQLiteSynchronous says when SQLite writes a commit through to the
	// disk. full (the default) syncs at every commit, so a message a client
	// was told is sent survives a power loss; concurrent writes share one
	// sync. normal syncs only at checkpoints: writes are faster, and a
	// power loss (not a crash of Hafen alone) may lose the last seconds of
	// writes, including events other servers may already have received,
	// but never corrupts the database. Ignored with PostgreSQL, whose own
	// fsync and synchronous_commit settings decide.
	SQLiteSynchronous string `yaml:"sqlite_synchronous"`

	// MemoryLimit is a soft limit on the memory of Hafen's Go runtime
	// (heap, goroutine stacks and runtime structures), applied at start:
	// as the runtime nears it, the garbage collector runs more often
	// rather than letting the heap grow to twice what is live, so a
	// server on a small machine stays small at a little CPU cost. It is
	// not a hard cap: when more is live, the server uses more rather than
	// stopping, but the collector then takes up to half the CPU, so raise
	// it as the server grows (the default suits a server with tens of
	// active users; give a larger one 256MiB or more). Sync's memory of
	// recent events is sized from it: a sixteenth, between 1 MiB and 64 MiB
	// (2 MiB when off). Each open client or federation connection beyond
	// the first 32 adds 32 KiB to the limit while it is open, for its
	// buffers and goroutines, which the collector cannot free. SQLite's
	// page cache (at most 2 MiB for the writer and 512 KiB for each of a
	// few readers) and the program's code come on top. A size in KiB, MiB
	// or GiB (64MiB, 1GiB), at least 16MiB, or "off" to leave the Go
	// runtime's own default (or the GOMEMLIMIT environment variable) in
	// charge.
	MemoryLimit string `yaml:"memory_limit"`

	// ListenClient is the address of the Client-Server API listener (plain
	// HTTP, meant to sit behind a TLS-terminating reverse proxy or to be
	// used on loopback).
	ListenClient string `yaml:"listen_client"`

	// TrustedProxies lists the reverse proxies in front of the client
	// listener, as IP addresses or CIDR ranges (127.0.0.1, 10.0.0.0/8,
	// ::1). Only for requests that come from one of them is the
	// X-Forwarded-For header believed: the client's address is then the
	// last address in it that is not itself a trusted proxy, and rate
	// limits apply to that address instead of the proxy's. Trusted
	// proxies are also exempt from MaxConnectionsPerIP. As an environment
	// variable or flag, a comma-separated list.
	TrustedProxies []string `yaml:"trusted_proxies"`

	// MaxConnectionsPerIP caps the open connections of one IP address to
	// each listener; further connections are closed at once. Trusted
	// proxies and loopback addresses (a proxy or a load test on the same
	// machine) are exempt. 0 means no cap.
	MaxConnectionsPerIP int `yaml:"max_connections_per_ip"`

	// ListenFederation is the address of the Server-Server API listener,
	// which always speaks TLS. The default, ":8448", listens on every
	// network interface, as other servers must reach it.
	ListenFederation string `yaml:"listen_federation"`

	// PublicBaseURL is the URL clients use to reach the Client-Server API,
	// announced in /.well-known/matrix/client, for example
	// https://matrix.example.org. Empty means the scheme and host of each
	// well-known request itself.
	PublicBaseURL string `yaml:"public_base_url"`

	// WellKnownServer is the "m.server" delegation announced in
	// /.well-known/matrix/server (host and port other servers should
	// connect to). Empty means the host of ServerName with the port of
	// ListenFederation.
	WellKnownServer string `yaml:"well_known_server"`

	// TLSCert is the PEM certificate (chain) of the federation listener.
	// When TLSCert and TLSKey are both empty, Hafen generates a
	// self-signed certificate in DataDir; other servers only accept it if
	// they are configured to skip verification, so set real ones in
	// production.
	TLSCert string `yaml:"tls_cert"`

	// TLSKey is the PEM private key matching TLSCert.
	TLSKey string `yaml:"tls_key"`

	// TrustCA is a PEM file of extra certificate authorities to trust for
	// outbound federation requests, in addition to the system's. Useful for
	// private test federations.
	TrustCA string `yaml:"trust_ca"`

	// FederationAllowPrivate allows outbound federation requests to
	// loopback, private and link-local addresses. Keep it off on a public
	// server: it protects the internal network from requests crafted by
	// remote servers. Turn it on for test federations on one machine.
	FederationAllowPrivate bool `yaml:"federation_allow_private"`

	// FederationSkipTLSVerify accepts any TLS certificate from other
	// servers, unchecked: the equivalent of Synapse's
	// federation_verify_certificates: false. Only for test federations
	// with self-signed certificates; Hafen logs a warning at every start
	// while it is on. For a private certificate authority, use TrustCA
	// instead.
	FederationSkipTLSVerify bool `yaml:"federation_skip_tls_verify"`

	// TrustedKeyServers are the notary servers asked for another server's
	// signing keys when that server cannot be reached itself (for example
	// to check events of a server that is down), in order, as server
	// names (matrix.org). Their own keys are fetched from them directly.
	// Empty (the default) asks only the servers themselves. As an
	// environment variable or flag, a comma-separated list.
	TrustedKeyServers []string `yaml:"trusted_key_servers"`

	// FederationMaxBackoffSeconds caps the pause, in seconds, between two
	// attempts to deliver events to a server that is unreachable: the
	// pause doubles after each failure up to this cap. A server that
	// contacts this one is retried at once regardless. From 2 to 86400.
	FederationMaxBackoffSeconds int `yaml:"federation_max_backoff_seconds"`

	// DefaultRoomVersion is the room version of new rooms whose creator
	// does not ask for one, announced in /capabilities. The spec
	// recommends 12; choose 11 (or lower) while the clients in use
	// predate room version 12, whose room creators older clients do not
	// recognise as the most powerful users.
	DefaultRoomVersion string `yaml:"default_room_version"`

	// Presence says whether users' presence (online, unavailable, offline
	// and a status message) is kept: on keeps it for the users of this
	// server and those they share rooms with (other servers' presence
	// arrives once federation carries presence), local keeps it for the
	// users of this server only, off keeps none: clients are told everyone
	// is offline and syncs carry no presence. It lives in memory
	// and costs little, but on a very busy server off saves the wake-ups
	// of every client at each change.
	Presence string `yaml:"presence"`

	// AccessTokenLifetimeSeconds turns on refresh tokens (spec v1.3):
	// clients that ask for one at login or registration get an access token
	// that expires after this many seconds and a refresh token that renews
	// it (POST /_matrix/client/v3/refresh). Other clients' access tokens
	// never expire. 0 (the default) offers no refresh tokens. 0, or from 60
	// to 604800 (a week).
	AccessTokenLifetimeSeconds int `yaml:"access_token_lifetime_seconds"`

	// LoginTokenSeconds turns on POST /_matrix/client/v1/login/get_token
	// (spec v1.7, for signing in a new device from one already signed in,
	// for example by QR code): a signed-in user, after entering their
	// password again, gets a single-use m.login.token valid for this many
	// seconds. 0 (the default) keeps the endpoint off. From 0 to 600.
	LoginTokenSeconds int `yaml:"login_token_seconds"`

	// PresenceIdleSeconds is how long, in seconds, an online user may do
	// nothing before showing as unavailable. From 10 to 86400.
	PresenceIdleSeconds int `yaml:"presence_idle_seconds"`

	// PresenceOfflineSeconds is how long, in seconds, after a user's last
	// sync ended (with no sync running) they show as offline. From 5 to
	// 86400.
	PresenceOfflineSeconds int `yaml:"presence_offline_seconds"`

	// Registration controls who may create accounts.
	Registration Registration `yaml:"registration"`

	// RateLimit limits how fast one user or one IP address may perform
	// costly actions.
	RateLimit RateLimit `yaml:"rate_limit"`

	// Media configures the content repository (uploads, downloads and
	// thumbnails).
	Media Media `yaml:"media"`

	// TURN is the TURN server clients use for voice and video calls.
	TURN TURN `yaml:"turn"`

	// Support is the contact information announced in
	// /.well-known/matrix/support, where clients show users whom to ask
	// for help with this server.
	Support Support `yaml:"support"`

	// Log controls Hafen's log output (standard error).
	Log Log `yaml:"log"`
}

// TURN points clients to a TURN server (such as coturn) for calls. With no
// uris, clients are told there is none.
type TURN struct {
	// URIs are the TURN server's URIs, each starting with turn: or turns:
	// (for example "turns:turn.example.org:5349?transport=tcp"); the
	// spec's /voip/turnServer answer has no room for stun: URIs.
	URIs []string `yaml:"uris"`

	// SharedSecret is the secret shared with the TURN server (coturn's
	// static-auth-secret with use-auth-secret): each client gets
	// credentials valid for lifetime_seconds. Set it, or username and
	// password.
	SharedSecret Secret `yaml:"shared_secret"`

	// Username is a fixed TURN user name handed to every client, used
	// when shared_secret is empty.
	Username string `yaml:"username"`

	// Password is the fixed TURN password that goes with username.
	Password Secret `yaml:"password"`

	// LifetimeSeconds is how long, in seconds, the credentials a client
	// gets are valid. From 60 to 604800.
	LifetimeSeconds int `yaml:"lifetime_seconds"`
}

// Support is who runs the server and where users find help. With none of
// its settings, /.well-known/matrix/support answers 404 (no support
// information), as the spec allows.
type Support struct {
	// Page is the URL of a page with help specific to this server (for
	// example extra login or registration steps), an http or https URL.
	Page string `yaml:"page"`

	// AdminContacts are ways to reach the server's administrators for any
	// question: Matrix user IDs (which may be on another server, to stay
	// reachable while this one is down) or email addresses. As an
	// environment variable or flag, a comma-separated list.
	AdminContacts []string `yaml:"admin_contacts"`

	// SecurityContacts are ways to report security problems privately,
	// in the same form as admin_contacts.
	SecurityContacts []string `yaml:"security_contacts"`
}

// Media configures the content repository.
type Media struct {
	// Dir is the directory uploaded files and thumbnails are kept in,
	// stored once per distinct content (by SHA-256). Empty means the
	// directory media in DataDir. Plan its disk space: every upload up to
	// MaxUploadSize lands here.
	Dir string `yaml:"dir"`

	// MaxUploadSize is the largest upload accepted, in bytes; larger
	// uploads are refused (413) before their body is read, or as soon as
	// it passes the limit when the client does not announce its size.
	// Clients learn it from /_matrix/client/v1/media/config.
	MaxUploadSize int `yaml:"max_upload_size"`

	// MaxImagePixels is the largest image, in pixels (width × height),
	// that thumbnails are made of. Larger images are refused before they
	// are decoded, which keeps a small image file declaring huge
	// dimensions (a decompression bomb) from exhausting memory. Decoding
	// takes up to 4 bytes per pixel; progressive JPEGs, which take about
	// four times that, count four times.
	MaxImagePixels int `yaml:"max_image_pixels"`

	// UserQuota is the most bytes one user's uploads may take in all
	// (thumbnails not counted); an upload past it is refused with 403
	// M_FORBIDDEN. 0 means no quota. Uploads of one user that run at the
	// same time may pass it by their own size. How fast a user may upload
	// is rate_limit.upload.
	UserQuota int `yaml:"user_quota"`

	// MaxRemoteSize is the largest file fetched from another server for
	// this server's users, in bytes; 0 means max_upload_size. Clients
	// asking for larger remote media get 502 M_TOO_LARGE.
	MaxRemoteSize int `yaml:"max_remote_size"`

	// URLPreview configures link previews
	// (/_matrix/client/v1/media/preview_url).
	URLPreview URLPreview `yaml:"url_preview"`

	// LegacyUnauthenticated keeps serving the unauthenticated download and
	// thumbnail endpoints under /_matrix/media/v3 that clients used before
	// Matrix 1.11. Turn it off once your users' clients use authenticated
	// media: the legacy endpoints are then frozen, as the spec suggests —
	// media stored before the first start with the setting off stays
	// available to them, media stored later is only served to logged-in
	// users. Turning it on again serves everything again and forgets the
	// freeze.
	LegacyUnauthenticated bool `yaml:"legacy_unauthenticated"`
}

// URLPreview configures link previews: the server fetches pages its users
// link to and reads their title, description and image.
type URLPreview struct {
	// Enabled turns link previews on. The server then fetches any URL a
	// user asks about, from its own network position: it never connects
	// to loopback, private, link-local or otherwise non-public addresses
	// (checked on the address actually dialed, after DNS and on every
	// redirect), nor to DenyIPs and DenyHosts. Clients should not ask for
	// URLs of encrypted rooms; some do.
	Enabled bool `yaml:"enabled"`

	// DenyIPs lists more address ranges previews never connect to, as
	// CIDR prefixes or single addresses (for example 203.0.113.0/24):
	// public addresses of your own infrastructure.
	DenyIPs []string `yaml:"deny_ips"`

	// DenyHosts lists host names previews never fetch: an exact name
	// (intranet.example.org) or every name under a domain
	// (*.corp.example.org).
	DenyHosts []string `yaml:"deny_hosts"`
}

// DenyPrefixes returns DenyIPs as prefixes (single addresses as /32 or
// /128).
func (u URLPreview) DenyPrefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range u.DenyIPs {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("media.url_preview.deny_ips: %q is neither an address nor a CIDR prefix", s)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// HostDenied reports whether host is one of DenyHosts.
func (u URLPreview) HostDenied(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	for _, d := range u.DenyHosts {
		d = strings.TrimSuffix(strings.ToLower(d), ".")
		if suffix, ok := strings.CutPrefix(d, "*."); ok {
			if host == suffix || strings.HasSuffix(host, "."+suffix) {
				return true
			}
		} else if host == d {
			return true
		}
	}
	return false
}

// MediaDir returns the directory media files are kept in.
func (c *Config) MediaDir() string {
	if c.Media.Dir != "" {
		return c.Media.Dir
	}
	return filepath.Join(c.DataDir, "media")
}

// Registration controls account creation. By default nobody can register
// through the API; accounts are created with `hafen user create`.
type Registration struct {
	// Enabled opens POST /_matrix/client/v3/register. Without
	// RequireToken, anyone who can reach the server can create an account
	// (the m.login.dummy flow): only enable that on private networks or
	// with other protection.
	Enabled bool `yaml:"enabled"`

	// RequireToken makes registration require a registration token
	// (m.login.registration_token) handed out by an administrator. Only
	// takes effect when Enabled is true.
	RequireToken bool `yaml:"require_token"`

	// SharedSecret enables the Synapse-compatible shared-secret registration
	// API, /_synapse/admin/v1/register, used by tools that create accounts
	// (including administrators). Empty disables it. Anyone who knows it can
	// create admin accounts: use a long random value.
	SharedSecret Secret `yaml:"shared_secret"`
}

// RateLimit configures a token bucket per action: each user (or IP address,
// before login) gets Burst requests at once, then PerSecond more every
// second.
type RateLimit struct {
	// Enabled turns rate limiting on. Turn it off only for tests and
	// benchmarks (--rate-limit=false).
	Enabled bool `yaml:"enabled"`

	// Login limits login attempts per IP address.
	Login Rate `yaml:"login"`

	// FailedLogin limits failed login attempts per account, whatever
	// address they come from; while it is exhausted, logins to that
	// account (even with the right password) answer 429.
	FailedLogin Rate `yaml:"failed_login"`

	// Register limits registrations, username availability checks and
	// registration token checks per IP address.
	Register Rate `yaml:"register"`

	// Message limits events sent per user.
	Message Rate `yaml:"message"`

	// Join limits room joins per user.
	Join Rate `yaml:"join"`

	// Invite limits invitations sent per user.
	Invite Rate `yaml:"invite"`

	// CreateRoom limits room creation per user.
	CreateRoom Rate `yaml:"create_room"`

	// Account limits password changes, deactivation and device deletion per
	// user (these check a password).
	Account Rate `yaml:"account"`

	// Upload limits media uploads (and reservations of media IDs for
	// later upload) per user.
	Upload Rate `yaml:"upload"`
}

// Rate is one token bucket.
type Rate struct {
	// PerSecond is how many requests are added back per second (0.1 is one
	// every ten seconds). 0 means unlimited.
	PerSecond float64 `yaml:"per_second"`

	// Burst is how many requests may be made at once.
	Burst int `yaml:"burst"`
}

// Log configures logging.
type Log struct {
	// Level is the lowest level logged: debug, info, warn or error.
	Level string `yaml:"level"`

	// Format is text (human-readable key=value lines) or json (one JSON
	// object per line).
	Format string `yaml:"format"`
}

// Secret is a configuration value that must not be logged (a shared
// secret). LogValue and String redact it; use string(s) for the value.
type Secret string

// LogValue redacts the secret.
func (s Secret) LogValue() slog.Value {
	if s == "" {
		return slog.StringValue("")
	}
	return slog.StringValue("REDACTED")
}

// String redacts the secret.
func (s Secret) String() string { return s.LogValue().String() }

// Defaults returns the configuration used when nothing is configured.
func Defaults() Config {
	return Config{
		ServerName:          "localhost",
		DataDir:             "./hafen-data",
		SQLiteSynchronous:   "full",
		MemoryLimit:         DefaultMemoryLimit,
		ListenClient:        "127.0.0.1:8008",
		TrustedProxies:      []string{},
		TrustedKeyServers:   []string{},
		ListenFederation:    ":8448",
		MaxConnectionsPerIP: 256,
		// The federation sender's DefaultMaxBackoff.
		FederationMaxBackoffSeconds: 600,
		DefaultRoomVersion:          "12",
		Presence:                    "on",
		PresenceIdleSeconds:         300,
		PresenceOfflineSeconds:      30,
		RateLimit: RateLimit{
			Enabled:     true,
			Login:       Rate{PerSecond: 0.17, Burst: 5},
			FailedLogin: Rate{PerSecond: 0.17, Burst: 5},
			Register:    Rate{PerSecond: 0.17, Burst: 5},
			Message:     Rate{PerSecond: 0.5, Burst: 20},
			Join:        Rate{PerSecond: 0.1, Burst: 10},
			Invite:      Rate{PerSecond: 0.3, Burst: 10},
			CreateRoom:  Rate{PerSecond: 0.05, Burst: 5},
			Account:     Rate{PerSecond: 0.1, Burst: 5},
			Upload:      Rate{PerSecond: 1, Burst: 20},
		},
		Media: Media{
			MaxUploadSize:         50 << 20,
			MaxImagePixels:        40_000_000,
			LegacyUnauthenticated: true,
			URLPreview:            URLPreview{DenyIPs: []string{}, DenyHosts: []string{}},
		},
		TURN:    TURN{URIs: []string{}, LifetimeSeconds: 86400},
		Support: Support{AdminContacts: []string{}, SecurityContacts: []string{}},
		Log:     Log{Level: "info", Format: "text"},
	}
}
