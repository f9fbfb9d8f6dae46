package signing

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

// signedKeyResponse returns a key response of "domain" signed by k.
func signedKeyResponse(t testing.TB, k Key, validUntil int64, extra map[string]any) []byte {
	t.Helper()
	obj := map[string]any{
		"server_name":    "domain",
		"valid_until_ts": validUntil,
		"verify_keys":    map[string]any{string(k.KeyID): map[string]string{"key": EncodeBase64(k.Public())}},
		"old_verify_keys": map[string]any{
			"ed25519:old": map[string]any{"key": EncodeBase64(k.Public()), "expired_ts": 500},
		},
	}
	for name, v := range extra {
		obj[name] = v
	}
	raw, _ := json.Marshal(obj)
	signed, err := SignJSON(raw, k)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func TestParseKeyResponse(t *testing.T) {
	k := vectorKey(t)
	const fetched = 1_000_000
	// Capped at seven days after the fetch.
	sk, err := ParseKeyResponse(signedKeyResponse(t, k, fetched+2*MaxKeyValidity, nil), "domain", fetched)
	if err != nil {
		t.Fatal(err)
	}
	if got := sk.Keys[k.KeyID]; got.ValidUntilTS != fetched+MaxKeyValidity || got.IsOld() {
		t.Errorf("current key = %+v, want valid until %d", got, fetched+MaxKeyValidity)
	}
	if got := sk.Keys["ed25519:old"]; got.ExpiredTS != 500 {
		t.Errorf("old key = %+v, want expired at 500", got)
	}
	// Below the cap, valid_until_ts itself.
	sk, _ = ParseKeyResponse(signedKeyResponse(t, k, fetched+10, nil), "domain", fetched)
	if got := sk.Keys[k.KeyID].ValidUntilTS; got != fetched+10 {
		t.Errorf("ValidUntilTS = %d, want %d", got, fetched+10)
	}

	other, _ := KeyFromSeed("domain", "ed25519:2", make([]byte, 32))
	unsignedByOne := signedKeyResponse(t, k, fetched, map[string]any{"verify_keys": map[string]any{
		string(k.KeyID): map[string]string{"key": EncodeBase64(k.Public())},
		"ed25519:2":     map[string]string{"key": EncodeBase64(other.Public())},
	}})
	bad := []struct {
		name string
		raw  []byte
		as   string
	}{
		{"other server name", signedKeyResponse(t, k, fetched, nil), "other.example"},
		{"no valid_until_ts", signedKeyResponse(t, k, fetched, map[string]any{"valid_until_ts": nil}), "domain"},
		{"not signed by every verify key", unsignedByOne, "domain"},
		{"no verify keys", signedKeyResponse(t, k, fetched, map[string]any{"verify_keys": map[string]any{}}), "domain"},
		{"not JSON", []byte(`{`), "domain"},
		{"tampered after signing", []byte(string(signedKeyResponse(t, k, fetched, nil))[:1] + `"x":1,` + string(signedKeyResponse(t, k, fetched, nil))[1:]), "domain"},
	}
	for _, tc := range bad {
		if _, err := ParseKeyResponse(tc.raw, id.ServerName(tc.as), fetched); !errors.Is(err, ErrInvalidKeyResponse) {
			t.Errorf("%s: ParseKeyResponse = %v, want ErrInvalidKeyResponse", tc.name, err)
		}
	}
}

func FuzzParseKeyResponse(f *testing.F) {
	k := vectorKey(f)
	f.Add(signedKeyResponse(f, k, 5, nil))
	f.Add([]byte(`{"server_name":"domain","valid_until_ts":1,"verify_keys":{"ed25519:a":{"key":"x"}}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		sk, err := ParseKeyResponse(raw, "domain", 0)
		if err == nil && len(sk.Keys) == 0 {
			t.Errorf("ParseKeyResponse(%q) accepted a response without keys", raw)
		}
	})
}
