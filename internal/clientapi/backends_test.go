package clientapi

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/hafenchat/hafen/internal/account"
	"github.com/hafenchat/hafen/internal/accountdata"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/directory"
	"github.com/hafenchat/hafen/internal/e2ee"
	"github.com/hafenchat/hafen/internal/filter"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/profile"
	"github.com/hafenchat/hafen/internal/receipts"
	"github.com/hafenchat/hafen/internal/relations"
	"github.com/hafenchat/hafen/internal/reports"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/search"
	"github.com/hafenchat/hafen/internal/spaces"
	"github.com/hafenchat/hafen/internal/store/storetest"
	"github.com/hafenchat/hafen/internal/stream"
)

// forEachRoomEnv runs f once per backend on a fresh stack: SQLite in
// t.TempDir() always, PostgreSQL when HAFEN_TEST_POSTGRES_DSN is set.
func forEachRoomEnv(t *testing.T, f func(t *testing.T, e *roomEnv)) {
	t.Helper()
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		f(t, newRoomEnvDSN(t, dsn))
	})
}

// newRoomEnvDSN builds the stack on the store at dsn (a SQLite path or a
// PostgreSQL URL).
func newRoomEnvDSN(t *testing.T, dsn string) *roomEnv {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db := openTestStore(t, dsn)
	key, err := signing.GenerateKey(rand.Reader, "hafen.test", "ed25519:test")
	if err != nil {
		t.Fatal(err)
	}
	events := stream.New(0, 0)
	svc := room.New(room.Config{DB: db, ServerName: "hafen.test", Key: key, Logger: logger, Stream: events})
	index := search.NewIndexer(search.IndexerConfig{DB: db, Stream: events, Logger: logger})
	if err := index.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(index.Stop)
	ads := &accountdata.Service{DB: db}
	profiles := &profile.Service{ServerName: "hafen.test", DB: db, Rooms: svc, Logger: logger}
	s := &Server{
		ServerName:   "hafen.test",
		Store:        &account.Service{DB: db},
		Registration: Registration{Enabled: true},
		BcryptCost:   bcrypt.MinCost,
		Rooms: &Rooms{
			Service:   svc,
			Store:     db,
			Directory: &directory.Service{ServerName: "hafen.test", DB: db, Rooms: svc},
			Profiles:  profiles,
			Relations: &relations.Service{DB: db, Ignored: ads.IgnoredUsers},
			Search:    &search.Service{DB: db, IndexDB: db.Derived(), Index: index, IndexWait: time.Minute},
		},
		Filters:           &filter.Service{DB: db},
		Keys:              &e2ee.Service{DB: db, ServerName: "hafen.test"},
		KeyBackups:        &e2ee.Service{DB: db, ServerName: "hafen.test"},
		ToDevice:          &e2ee.Service{DB: db, ServerName: "hafen.test"},
		DehydratedDevices: &e2ee.Service{DB: db, ServerName: "hafen.test"},
		AccountData:       ads,
		Receipts:          &receipts.Service{DB: db, AccountData: ads},
		Reports:           &reports.Service{DB: db, ServerName: "hafen.test"},
		Spaces:            &spaces.Service{ServerName: "hafen.test", DB: db},
	}
	s.ShortTokens = s.Store.(*account.Service)
	s.Refresher = s.Store.(*account.Service)
	rt := httpapi.NewRouter()
	s.Routes(rt)
	h := httpapi.Middleware(logger, rt)
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return &roomEnv{testEnv: &testEnv{t: t, h: h, srv: s, db: db}, db: db, url: ts.URL, events: events, profiles: profiles}
}
