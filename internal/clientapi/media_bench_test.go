package clientapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/hafenchat/hafen/internal/account"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/media"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/store/storetest"
)

// BenchmarkMediaHTTP uploads and downloads 1 MiB files over loopback
// through the router, on SQLite.
func BenchmarkMediaHTTP(b *testing.B) {
	db, err := store.Open(context.Background(), storetest.SQLiteDSN(b), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	s := &Server{
		ServerName: "hafen.test", Store: &account.Service{DB: db}, Registration: Registration{Enabled: true}, BcryptCost: bcrypt.MinCost,
		Media: &media.Service{ServerName: "hafen.test", DB: db, Files: media.DirFiles{Root: b.TempDir()}},
	}
	rt := httpapi.NewRouter()
	s.Routes(rt)
	ts := httptest.NewServer(httpapi.Middleware(slog.New(slog.DiscardHandler), rt))
	defer ts.Close()
	if err := s.Store.CreateUser(context.Background(), "@bench:hafen.test", "", false); err != nil {
		b.Fatal(err)
	}
	tok, _, err := s.issueToken(context.Background(), "@bench:hafen.test", "", "")
	if err != nil {
		b.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	do := func(method, path string, body io.Reader) []byte {
		req, _ := http.NewRequest(method, ts.URL+path, body)
		req.Header.Set("Authorization", "Bearer "+string(tok))
		res, err := ts.Client().Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			b.Fatalf("%s %s: %d %s", method, path, res.StatusCode, out)
		}
		return out
	}
	var uri string
	b.Run("upload", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for i := 0; b.Loop(); i++ {
			data[0], data[1] = byte(i), byte(i>>8)
			var r struct {
				ContentURI string `json:"content_uri"`
			}
			if err := json.Unmarshal(do("POST", "/_matrix/media/v3/upload", bytes.NewReader(data)), &r); err != nil {
				b.Fatal(err)
			}
			uri = r.ContentURI[len("mxc://"):]
		}
	})
	b.Run("download", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			do("GET", "/_matrix/client/v1/media/download/"+uri, nil)
		}
	})
}
