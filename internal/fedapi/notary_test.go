package fedapi

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/serverkeys"
)

// keyResponseOf returns a key response of k's server, signed by k.
func keyResponseOf(t *testing.T, k signing.Key, validUntil time.Time) []byte {
	t.Helper()
	raw, _ := json.Marshal(map[string]any{
		"server_name":    k.ServerName,
		"valid_until_ts": validUntil.UnixMilli(),
		"verify_keys":    map[string]any{string(k.KeyID): map[string]string{"key": signing.EncodeBase64(k.Public())}},
	})
	signed, err := signing.SignJSON(raw, k)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// TestNotaryAnswersAreChecked runs a notary that answers for a server that
// is down: an answer the notary did not sign, or that names another
// server, is refused; one signed by both the server's key and the notary is
// taken.
func TestNotaryAnswersAreChecked(t *testing.T) {
	ctx := context.Background()
	// gone is a server name nobody answers for.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := id.ServerName(ln.Addr().String())
	ln.Close()
	goneKey := newKey(t, gone)

	nln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	notary := id.ServerName(nln.Addr().String())
	notaryKey := newKey(t, notary)
	var mode atomic.Int32 // 0: not countersigned, 1: another server, 2: good
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/_matrix/key/v2/server":
			w.Write(keyResponseOf(t, notaryKey, time.Now().Add(time.Hour)))
		case "/_matrix/key/v2/query":
			entry := keyResponseOf(t, goneKey, time.Now().Add(time.Hour))
			switch mode.Load() {
			case 1:
				entry = keyResponseOf(t, notaryKey, time.Now().Add(time.Hour))
				fallthrough
			case 2:
				entry, _ = signing.SignJSON(entry, notaryKey)
			}
			json.NewEncoder(w).Encode(map[string]any{"server_keys": []json.RawMessage{entry}})
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	srv.Listener = nln
	srv.StartTLS()
	t.Cleanup(srv.Close)

	a := startServer(t, sqliteOnly, withNotaries(notary))
	for _, m := range []int32{0, 1} {
		mode.Store(m)
		a.clock.Advance(2 * serverkeys.DefaultRefetchInterval)
		if _, err := a.keys.RequestKey(ctx, gone, goneKey.KeyID); !errors.Is(err, serverkeys.ErrUnknownKey) {
			t.Errorf("mode %d: RequestKey = %v, want ErrUnknownKey", m, err)
		}
		if _, ok := a.keys.Lookup(gone, goneKey.KeyID); ok {
			t.Errorf("mode %d: the refused answer reached the cache", m)
		}
	}
	mode.Store(2)
	a.clock.Advance(2 * serverkeys.DefaultRefetchInterval)
	pub, err := a.keys.RequestKey(ctx, gone, goneKey.KeyID)
	if err != nil || !pub.Equal(goneKey.Public()) {
		t.Errorf("countersigned answer: RequestKey = %x, %v; want the key", pub, err)
	}
}
