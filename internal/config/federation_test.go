package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestLoadFederationSettings(t *testing.T) {
	dir := t.TempDir()
	d := Defaults()
	if d.FederationSkipTLSVerify || len(d.TrustedKeyServers) != 0 {
		t.Errorf("defaults: federation_skip_tls_verify = %v, trusted_key_servers = %q; want off and empty", d.FederationSkipTLSVerify, d.TrustedKeyServers)
	}
	l, err := Load("serve", []string{"--data-dir", dir, "--federation-skip-tls-verify",
		"--trusted-key-servers", "matrix.org, notary.example:8448"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if d.FederationMaxBackoffSeconds != 600 {
		t.Errorf("default federation_max_backoff_seconds = %d, want 600", d.FederationMaxBackoffSeconds)
	}
	if !l.Config.FederationSkipTLSVerify {
		t.Errorf("--federation-skip-tls-verify did not turn federation_skip_tls_verify on")
	}
	if got := l.Config.TrustedKeyServers; !reflect.DeepEqual(got, []string{"matrix.org", "notary.example:8448"}) {
		t.Errorf("trusted_key_servers = %q", got)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--trusted-key-servers", "not a server"}, "trusted_key_servers"},
		{[]string{"--server-name", "me.example", "--trusted-key-servers", "me.example"}, "trusted_key_servers"},
		{[]string{"--federation-max-backoff-seconds", "1"}, "federation_max_backoff_seconds"},
		{[]string{"--federation-max-backoff-seconds", "86401"}, "federation_max_backoff_seconds"},
	} {
		_, err := Load("serve", append([]string{"--data-dir", dir}, tc.args...), env(nil))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%q) = %v, want an error about %s", tc.args, err, tc.want)
		}
	}
}
