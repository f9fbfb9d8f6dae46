package config

import (
	"bytes"
	"errors"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestLoadWithNothingGivesDefaults(t *testing.T) {
	dir := t.TempDir()
	l, err := Load("serve", []string{"--data-dir", dir}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Defaults()
	want.DataDir = dir
	if !reflect.DeepEqual(l.Config, want) {
		t.Errorf("Load = %+v, want %+v", l.Config, want)
	}
	if l.FileExists || l.Path != filepath.Join(dir, FileName) {
		t.Errorf("Path = %q, FileExists = %v; want %s in the data dir, missing", l.Path, l.FileExists, FileName)
	}
}

func TestLoadOrder(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "hafen.yaml")
	yamlText := `
server_name: file.example
listen_client: 127.0.0.1:9000
registration:
  enabled: true
rate_limit:
  login:
    burst: 7
`
	if err := os.WriteFile(file, []byte(yamlText), 0o600); err != nil {
		t.Fatal(err)
	}
	e := env(map[string]string{
		"HAFEN_DATA_DIR":                    dir,
		"HAFEN_LISTEN_CLIENT":               "127.0.0.1:9001",
		"HAFEN_SERVER_NAME":                 "env.example",
		"HAFEN_RATE_LIMIT_LOGIN_PER_SECOND": "2.5",
	})
	l, err := Load("serve", []string{"--server-name=flag.example", "--rate-limit=false"}, e)
	if err != nil {
		t.Fatal(err)
	}
	c := l.Config
	normal, err := Load("serve", []string{"--sqlite-synchronous=normal"}, e)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"flag beats env and file", c.ServerName, "flag.example"},
		{"env beats file", c.ListenClient, "127.0.0.1:9001"},
		{"file beats default", c.Registration.Enabled, true},
		{"nested file value", c.RateLimit.Login.Burst, 7},
		{"nested env value", c.RateLimit.Login.PerSecond, 2.5},
		{"section flag --rate-limit=false", c.RateLimit.Enabled, false},
		{"untouched default", c.ListenFederation, ":8448"},
		{"durable by default", c.SQLiteSynchronous, "full"},
		{"--sqlite-synchronous=normal", normal.Config.SQLiteSynchronous, "normal"},
		{"file found in the data dir", l.FileExists, true},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s: got %v, want %v", ck.name, ck.got, ck.want)
		}
	}
}

func TestLoadExplicitConfigPath(t *testing.T) {
	file := filepath.Join(t.TempDir(), "custom.yaml")
	if err := os.WriteFile(file, []byte("server_name: custom.example\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"--config", []string{"--config", file}, nil},
		{"HAFEN_CONFIG", nil, map[string]string{"HAFEN_CONFIG": file}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Load("serve", tc.args, env(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if l.Config.ServerName != "custom.example" || l.Path != file {
				t.Errorf("Load = %q from %q", l.Config.ServerName, l.Path)
			}
		})
	}
}

func TestLoadReportsEveryError(t *testing.T) {
	dir := t.TempDir()
	e := env(map[string]string{
		"HAFEN_DATA_DIR":              dir,
		"HAFEN_SERVER_NAME":           "bad name!",
		"HAFEN_LISTEN_CLIENT":         "nope",
		"HAFEN_LOG_LEVEL":             "loud",
		"HAFEN_RATE_LIMIT_JOIN_BURST": "-1",
		"HAFEN_TLS_CERT":              "/nonexistent/cert.pem",
	})
	_, err := Load("serve", nil, e)
	if err == nil {
		t.Fatal("Load accepted an invalid configuration")
	}
	for _, want := range []string{"server_name", "listen_client", "log.level", "rate_limit.join.burst", "tls_cert and tls_key", "tls_cert:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
}

func TestLoadRejectsBadInput(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		args []string
		want string
	}{
		{"unknown key in file", "server_nam: x\n", nil, nil, "server_nam"},
		{"wrong type in file", "rate_limit:\n  login:\n    burst: lots\n", nil, nil, "line 3"},
		{"bad boolean in env", "", map[string]string{"HAFEN_REGISTRATION_ENABLED": "maybe"}, nil, "HAFEN_REGISTRATION_ENABLED"},
		{"bad number in env", "", map[string]string{"HAFEN_RATE_LIMIT_LOGIN_PER_SECOND": "fast"}, nil, "HAFEN_RATE_LIMIT_LOGIN_PER_SECOND"},
		{"bad integer flag", "", nil, []string{"--rate-limit-login-burst=x"}, "rate-limit-login-burst"},
		{"unknown flag", "", nil, []string{"--no-such-flag"}, "no-such-flag"},
		{"stray argument", "", nil, []string{"extra"}, "unexpected arguments"},
		{"postgres is fine, mysql is not", "database: mysql://x/y\n", nil, nil, "database"},
		{"sqlite_synchronous off is refused", "sqlite_synchronous: \"off\"\n", nil, nil, "sqlite_synchronous"},
		{"sqlite_synchronous unknown in env", "", map[string]string{"HAFEN_SQLITE_SYNCHRONOUS": "fast"}, nil, "sqlite_synchronous"},
		{"sqlite_synchronous unknown flag value", "", nil, []string{"--sqlite-synchronous=extra"}, "sqlite_synchronous"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.file != "" {
				if err := os.WriteFile(filepath.Join(dir, FileName), []byte(tc.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			e := map[string]string{"HAFEN_DATA_DIR": dir}
			for k, v := range tc.env {
				e[k] = v
			}
			_, err := Load("serve", tc.args, env(e))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestLoadHelp(t *testing.T) {
	fs, _ := NewFlagSet("serve")
	var out bytes.Buffer
	fs.SetOutput(&out)
	if err := fs.Parse([]string{"--help"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("Parse(--help) = %v", err)
	}
	for _, want := range []string{"-server-name", "-rate-limit-login-burst", "-registration-enabled", "HAFEN_SERVER_NAME"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help does not list %s", want)
		}
	}
}

func TestSecretIsRedacted(t *testing.T) {
	var logs bytes.Buffer
	s := Secret("hunter2")
	slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "secret", s)
	if strings.Contains(logs.String(), "hunter2") || strings.Contains(s.String(), "hunter2") {
		t.Errorf("secret leaked: %s / %s", logs.String(), s.String())
	}
}

func TestWriteExample(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", FileName)
	if err := WriteExample(path); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, Example()) {
		t.Fatalf("written file differs from Example: %v", err)
	}
	if err := WriteExample(path); err == nil {
		t.Error("WriteExample overwrote an existing file")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
}

func TestLoadExplicitConfigMustExist(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "typo", "hafen.yml")
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"--config", []string{"--config", missing}, nil},
		{"HAFEN_CONFIG", nil, map[string]string{"HAFEN_CONFIG": missing}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load("serve", tc.args, env(tc.env))
			if err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "does not exist") {
				t.Errorf("Load with a missing explicit config file = %v, want an error naming it", err)
			}
			if _, err := os.Stat(filepath.Dir(missing)); !os.IsNotExist(err) {
				t.Errorf("Load created %s: %v", filepath.Dir(missing), err)
			}
		})
	}
	// The default path may be missing.
	if _, err := Load("serve", []string{"--data-dir", dir}, env(nil)); err != nil {
		t.Errorf("Load with the default config path missing: %v", err)
	}
}

func TestLoadMisspelledKeyNamesYAMLKey(t *testing.T) {
	tests := []struct {
		name, file, want string
	}{
		{"top level", "server_name: a.example\nregistraton:\n  enabled: true\n", `line 2: unknown setting "registraton" (did you mean "registration"?)`},
		{"nested", "rate_limit:\n  login:\n    brust: 3\n", `line 3: unknown setting "rate_limit.login.brust" (did you mean "rate_limit.login.burst"?)`},
		{"nothing close", "frobnicate: 1\n", `line 1: unknown setting "frobnicate"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, FileName), []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load("serve", []string{"--data-dir", dir}, env(nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load = %v, want an error containing %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "config.") || strings.Contains(err.Error(), "not found in type") {
				t.Errorf("error leaks Go type names: %v", err)
			}
		})
	}
}

func TestParseFlagsUnknownFlagIsShort(t *testing.T) {
	fs, _ := NewFlagSet("hafen serve")
	var out bytes.Buffer
	fs.SetOutput(&out)
	err := ParseFlags(fs, []string{"--open-registraton"})
	if err == nil {
		t.Fatal("unknown flag accepted")
	}
	want := "unknown flag --open-registraton (did you mean --open-registration?)\nrun \"hafen serve --help\" to list the flags"
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if out.Len() != 0 {
		t.Errorf("an unknown flag printed %d bytes of usage:\n%s", out.Len(), out.String())
	}
	if err := ParseFlags(fs, []string{"--help"}); !errors.Is(err, flag.ErrHelp) || !strings.Contains(out.String(), "-server-name") {
		t.Errorf("--help = %v and printed %q, want the flags", err, out.String())
	}
}

func TestLoadNewSettings(t *testing.T) {
	dir := t.TempDir()
	l, err := Load("serve", []string{"--data-dir", dir, "--trusted-proxies", "127.0.0.1, 10.0.0.0/8,::1", "--default-room-version", "11"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Config.TrustedProxies; !reflect.DeepEqual(got, []string{"127.0.0.1", "10.0.0.0/8", "::1"}) {
		t.Errorf("trusted_proxies = %q", got)
	}
	ps, err := l.Config.TrustedProxyPrefixes()
	if err != nil || len(ps) != 3 || ps[0].String() != "127.0.0.1/32" || ps[2].String() != "::1/128" {
		t.Errorf("TrustedProxyPrefixes = %v, %v", ps, err)
	}
	if l.Config.DefaultRoomVersion != "11" || Defaults().DefaultRoomVersion != "12" {
		t.Errorf("default_room_version = %q, default %q", l.Config.DefaultRoomVersion, Defaults().DefaultRoomVersion)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--trusted-proxies", "proxy.example"}, "trusted_proxies"},
		{[]string{"--default-room-version", "13"}, "default_room_version"},
		{[]string{"--max-connections-per-ip", "-1"}, "max_connections_per_ip"},
	} {
		_, err := Load("serve", append([]string{"--data-dir", dir}, tc.args...), env(nil))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%q) = %v, want an error about %s", tc.args, err, tc.want)
		}
	}
}

// TestREADMEExampleIsValid: the hafen.yaml snippet of the README's reverse
// proxy setup loads.
func TestREADMEExampleIsValid(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "<!-- hafen.yaml example: checked by internal/config tests -->\n```yaml\n")
	if !ok {
		t.Fatal("README has no hafen.yaml example")
	}
	snippet, _, _ := strings.Cut(rest, "```")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(snippet), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := Load("serve", []string{"--data-dir", dir}, env(nil))
	if err != nil {
		t.Fatalf("the README's example does not load: %v", err)
	}
	if len(l.Config.TrustedProxies) == 0 {
		t.Error("the README's example sets no trusted_proxies")
	}
}

func TestLoadMediaSettings(t *testing.T) {
	dir := t.TempDir()
	d := Defaults()
	if d.Media.MaxUploadSize != 50<<20 || !d.Media.LegacyUnauthenticated || d.MediaDir() != filepath.Join(d.DataDir, "media") {
		t.Errorf("media defaults = %+v, dir %s", d.Media, d.MediaDir())
	}
	l, err := Load("serve", []string{"--data-dir", dir, "--media-legacy-unauthenticated=false", "--media-dir", "/srv/media"},
		env(map[string]string{"HAFEN_MEDIA_MAX_UPLOAD_SIZE": "1000", "HAFEN_RATE_LIMIT_UPLOAD_BURST": "3"}))
	if err != nil {
		t.Fatal(err)
	}
	c := l.Config
	if c.Media.MaxUploadSize != 1000 || c.Media.LegacyUnauthenticated || c.MediaDir() != "/srv/media" || c.RateLimit.Upload.Burst != 3 {
		t.Errorf("media = %+v, upload rate %+v", c.Media, c.RateLimit.Upload)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--media-max-upload-size", "0"}, "media.max_upload_size"},
		{[]string{"--media-max-image-pixels", "-5"}, "media.max_image_pixels"},
		{[]string{"--media-user-quota", "-1"}, "media.user_quota"},
		{[]string{"--media-max-remote-size", "-1"}, "media.max_remote_size"},
	} {
		_, err := Load("serve", append([]string{"--data-dir", dir}, tc.args...), env(nil))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%q) = %v, want an error about %s", tc.args, err, tc.want)
		}
	}
}

// TestLoadTURNSettings checks the TURN settings: a shared secret or a
// fixed user name and password go with URIs, and bad values are refused,
// among them STUN URIs, which voip.yaml's "^turns?:" leaves no room for.
func TestLoadTURNSettings(t *testing.T) {
	dir := t.TempDir()
	l, err := Load("serve", []string{"--data-dir", dir, "--turn-uris", "turns:turn.example.org:5349?transport=tcp,turn:turn.example.org", "--turn-shared-secret", "s3cret"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Config.TURN; len(got.URIs) != 2 || got.SharedSecret != "s3cret" || got.LifetimeSeconds != 86400 {
		t.Errorf("turn = %+v", got)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--turn-uris", "https://turn.example.org", "--turn-shared-secret", "x"}, "turn.uris"},
		{[]string{"--turn-uris", "turn:turn.example.org,stun:turn.example.org", "--turn-shared-secret", "x"}, `turn.uris: "stun:turn.example.org" is a STUN URI`},
		{[]string{"--turn-uris", "stuns:turn.example.org", "--turn-shared-secret", "x"}, `turn.uris: "stuns:turn.example.org" is a STUN URI`},
		{[]string{"--turn-uris", "turnx:turn.example.org", "--turn-shared-secret", "x"}, "does not start with turn: or turns:"},
		{[]string{"--turn-uris", "turn:turn.example.org"}, "turn: set shared_secret"},
		{[]string{"--turn-uris", "turn:turn.example.org", "--turn-username", "u"}, "turn: set shared_secret"},
		{[]string{"--turn-uris", "turn:t.example", "--turn-shared-secret", "x", "--turn-username", "u", "--turn-password", "p"}, "not both"},
		{[]string{"--turn-uris", "turn:t.example", "--turn-shared-secret", "x", "--turn-password", "p"}, "not both"},
		{[]string{"--turn-lifetime-seconds", "10"}, "turn.lifetime_seconds"},
	} {
		_, err := Load("serve", append([]string{"--data-dir", dir}, tc.args...), env(nil))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%q) = %v, want an error about %s", tc.args, err, tc.want)
		}
	}
}

func TestLoadSupportSettings(t *testing.T) {
	dir := t.TempDir()
	l, err := Load("serve", []string{"--data-dir", dir, "--support-page", "https://example.org/help",
		"--support-admin-contacts", "@admin:example.org, admin@example.org", "--support-security-contacts", "security@example.org"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := []Contact{
		{MatrixID: "@admin:example.org", Role: RoleAdmin},
		{Email: "admin@example.org", Role: RoleAdmin},
		{Email: "security@example.org", Role: RoleSecurity},
	}
	if got := l.Config.Support.Contacts(); !reflect.DeepEqual(got, want) || l.Config.Support.Page != "https://example.org/help" {
		t.Errorf("support contacts = %+v, page %q; want %+v", got, l.Config.Support.Page, want)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--support-page", "ftp://example.org/help"}, "support.page"},
		{[]string{"--support-page", "help"}, "support.page"},
		{[]string{"--support-admin-contacts", "@admin"}, "support.admin_contacts"},
		{[]string{"--support-security-contacts", "not an address"}, "support.security_contacts"},
	} {
		_, err := Load("serve", append([]string{"--data-dir", dir}, tc.args...), env(nil))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%q) = %v, want an error about %s", tc.args, err, tc.want)
		}
	}
}
