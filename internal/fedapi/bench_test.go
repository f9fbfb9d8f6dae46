package fedapi

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/serverkeys"
)

// staticKeys knows one server's key.
type staticKeys struct{ k signing.Key }

func (s staticKeys) OwnResponse() ([]byte, error) { return []byte(`{}`), nil }
func (s staticKeys) NotaryQuery(context.Context, map[id.ServerName]serverkeys.NotaryCriteria) ([]json.RawMessage, error) {
	return nil, nil
}
func (s staticKeys) RequestKey(_ context.Context, server id.ServerName, keyID signing.KeyID) (ed25519.PublicKey, error) {
	if server != s.k.ServerName || keyID != s.k.KeyID {
		return nil, serverkeys.ErrUnknownKey
	}
	return s.k.Public(), nil
}

// BenchmarkAuthenticatedRequest measures the X-Matrix check of an
// inbound request with a 20 KiB body and a cached key, through the router.
func BenchmarkAuthenticatedRequest(b *testing.B) {
	origin := newKey(&testing.T{}, "origin.test")
	s := &Server{ServerName: "dest.test", Keys: staticKeys{origin}}
	rt := httpapi.NewRouter()
	echoRoute(s, rt)
	body := []byte(`{"pdus":[],"edus":[{"edu_type":"m.typing","content":{"x":"` + strings.Repeat("a", 20<<10) + `"}}]}`)
	req := signing.Request{Method: http.MethodPut, URI: "/_matrix/federation/v1/send/1", Origin: "origin.test", Destination: "dest.test", Content: body}
	x, err := signing.SignRequest(req, origin)
	if err != nil {
		b.Fatal(err)
	}
	header := x.Header()
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPut, req.URI, strings.NewReader(string(body)))
		r.Header.Set("Authorization", header)
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
