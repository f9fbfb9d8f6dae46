package httpapi

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIPBehindTrustedProxies(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	tests := []struct {
		name   string
		peer   string
		xff    []string
		want   string
		noList bool // no trusted proxies configured
	}{
		{name: "untrusted peer: header ignored", peer: "192.0.2.7:5000", xff: []string{"198.51.100.1"}, want: "192.0.2.7"},
		{name: "no trusted proxies: header ignored", peer: "10.0.0.1:5000", xff: []string{"198.51.100.1"}, want: "10.0.0.1", noList: true},
		{name: "trusted peer without header", peer: "10.0.0.1:5000", want: "10.0.0.1"},
		{name: "trusted peer: client from header", peer: "10.0.0.1:5000", xff: []string{"198.51.100.1"}, want: "198.51.100.1"},
		{name: "client-supplied hops left of the real client are ignored", peer: "10.0.0.1:5000", xff: []string{"203.0.113.9, 198.51.100.1"}, want: "198.51.100.1"},
		{name: "chain of trusted proxies is skipped", peer: "10.0.0.1:5000", xff: []string{"198.51.100.1, 10.0.0.2", "10.0.0.3"}, want: "198.51.100.1"},
		{name: "IPv6 peer and hop with port", peer: "[::1]:5000", xff: []string{"[2001:db8::5]:4711"}, want: "2001:db8::5"},
		{name: "malformed hop stops the walk", peer: "10.0.0.1:5000", xff: []string{"198.51.100.1, garbage, 10.0.0.2"}, want: "10.0.0.2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = ClientIP(r) })
			list := trusted
			if tc.noList {
				list = nil
			}
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.peer
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			TrustProxies(list, h).ServeHTTP(httptest.NewRecorder(), r)
			if got != tc.want {
				t.Errorf("ClientIP = %q, want %q", got, tc.want)
			}
		})
	}
}
