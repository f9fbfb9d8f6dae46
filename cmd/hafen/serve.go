package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hafenchat/hafen/internal/account"
	"github.com/hafenchat/hafen/internal/clientapi"
	"github.com/hafenchat/hafen/internal/clientsync"
	"github.com/hafenchat/hafen/internal/config"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/directory"
	"github.com/hafenchat/hafen/internal/filter"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/profile"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
)

// shutdownTimeout bounds how long in-flight requests may take to finish.
const shutdownTimeout = 10 * time.Second

// listening receives the bound addresses once the listeners are up (tests
// listen on port 0).
type listening func(client, federation net.Addr)

// serve runs the server until ctx is canceled. Start order: config, logger,
// data directory and config file, store, signing key, TLS certificate,
// listeners. Shutdown runs in reverse.
func serve(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stderr io.Writer, ready listening) error {
	loaded, err := config.Load("hafen serve", args, lookupEnv)
	if err != nil {
		return err
	}
	cfg := loaded.Config
	logger, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return err
	}

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	if !loaded.FileExists {
		if err := config.WriteExample(loaded.Path); err != nil {
			return err
		}
		logger.Info("wrote example configuration", "path", loaded.Path)
	}

	db, err := openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer db.Close()

	key, err := loadOrCreateSigningKey(filepath.Join(cfg.DataDir, "signing.key"), id.ServerName(cfg.ServerName))
	if err != nil {
		return err
	}
	logger.Info("signing key ready", "key_id", string(key.KeyID))

	tlsCert, tlsKey := cfg.TLSCert, cfg.TLSKey
	if tlsCert == "" {
		tlsCert, tlsKey = filepath.Join(cfg.DataDir, "tls.crt"), filepath.Join(cfg.DataDir, "tls.key")
	}
	cert, err := httpapi.LoadOrCreateCertificate(tlsCert, tlsKey, hostOf(cfg.ServerName))
	if err != nil {
		return err
	}

	pos, err := db.MaxStreamPos(ctx)
	if err != nil {
		return fmt.Errorf("read stream position: %w", err)
	}
	rooms := room.New(room.Config{DB: db, ServerName: id.ServerName(cfg.ServerName), Key: key, Logger: logger})
	defer rooms.Close()
	syncer := clientsync.New(clientsync.Config{DB: db, Rooms: rooms, Logger: logger, StreamPos: pos})
	rooms.AddListener(syncer)

	cs := newClientServer(cfg, db)
	cs.Sync = syncer
	serverName := id.ServerName(cfg.ServerName)
	cs.Rooms = &clientapi.Rooms{
		Service:   rooms,
		Store:     db,
		Directory: &directory.Service{ServerName: serverName, DB: db, Rooms: rooms},
		Profiles:  &profile.Service{ServerName: serverName, DB: db, Rooms: rooms, Logger: logger},
	}
	cs.Filters = &filter.Service{DB: db}
	clientRouter := httpapi.NewRouter()
	cs.Routes(clientRouter)
	// TODO(#fedapi): serve the Server-Server API here. Until then the
	// federation listener answers discovery and M_UNRECOGNIZED.
	fedRouter := httpapi.NewRouter()
	fedRouter.Handle("GET /.well-known/matrix/server", clientRouter)

	clientLn, err := net.Listen("tcp", cfg.ListenClient)
	if err != nil {
		return fmt.Errorf("listen for clients: %w", err)
	}
	fedLn, err := net.Listen("tcp", cfg.ListenFederation)
	if err != nil {
		clientLn.Close()
		return fmt.Errorf("listen for federation: %w", err)
	}
	fedLn = tls.NewListener(fedLn, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})

	clientSrv := httpapi.NewServer(httpapi.Middleware(logger.With("listener", "client"), clientRouter), logger)
	fedSrv := httpapi.NewServer(httpapi.Middleware(logger.With("listener", "federation"), fedRouter), logger)
	errc := make(chan error, 2)
	for _, l := range []struct {
		srv *http.Server
		ln  net.Listener
	}{{clientSrv, clientLn}, {fedSrv, fedLn}} {
		go func() {
			if err := l.srv.Serve(l.ln); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
				return
			}
			errc <- nil
		}()
	}
	logger.Info("hafen started", "server_name", cfg.ServerName, "client", clientLn.Addr().String(),
		"federation", fedLn.Addr().String(), "registration", cfg.Registration.Enabled, "rate_limit", cfg.RateLimit.Enabled)
	if ready != nil {
		ready(clientLn.Addr(), fedLn.Addr())
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	logger.Info("hafen stopping")
	// The root context is done; shutdown gets its own deadline.
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err = errors.Join(serveErr, fedSrv.Shutdown(sctx), clientSrv.Shutdown(sctx))
	logger.Info("hafen stopped")
	return err
}

// newClientServer builds the Client-Server API from the configuration.
func newClientServer(cfg config.Config, db *store.DB) *clientapi.Server {
	s := &clientapi.Server{
		ServerName: id.ServerName(cfg.ServerName),
		Store:      &account.Service{DB: db},
		Registration: clientapi.Registration{
			Enabled:      cfg.Registration.Enabled,
			RequireToken: cfg.Registration.RequireToken,
			SharedSecret: string(cfg.Registration.SharedSecret),
		},
		PublicBaseURL:   cfg.PublicBaseURL,
		WellKnownServer: cfg.WellKnownServer,
	}
	if s.WellKnownServer == "" {
		_, port, _ := net.SplitHostPort(cfg.ListenFederation)
		s.WellKnownServer = net.JoinHostPort(hostOf(cfg.ServerName), port)
	}
	if cfg.RateLimit.Enabled {
		rl := cfg.RateLimit
		rate := func(r config.Rate) httpapi.Rate { return httpapi.Rate{PerSecond: r.PerSecond, Burst: r.Burst} }
		s.Limiter = httpapi.NewRateLimiter(map[string]httpapi.Rate{
			clientapi.ActionLogin:      rate(rl.Login),
			clientapi.ActionRegister:   rate(rl.Register),
			clientapi.ActionAccount:    rate(rl.Account),
			clientapi.ActionMessage:    rate(rl.Message),
			clientapi.ActionJoin:       rate(rl.Join),
			clientapi.ActionInvite:     rate(rl.Invite),
			clientapi.ActionCreateRoom: rate(rl.CreateRoom),
		})
	}
	return s
}

// openStore opens the configured database.
func openStore(ctx context.Context, cfg config.Config, logger *slog.Logger) (*store.DB, error) {
	dsn := cfg.Database
	if dsn == "" {
		dsn = filepath.Join(cfg.DataDir, "hafen.db")
	}
	db, err := store.Open(ctx, dsn, logger)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	return db, nil
}

// loadOrCreateSigningKey reads the server's signing key file, creating a
// new ed25519 key on first run.
func loadOrCreateSigningKey(path string, server id.ServerName) (signing.Key, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		keyID, err := signing.ParseKeyID("ed25519:a_" + strings.ToLower(rand.Text()[:4]))
		if err != nil {
			return signing.Key{}, err
		}
		k, err := signing.GenerateKey(rand.Reader, server, keyID)
		if err != nil {
			return signing.Key{}, fmt.Errorf("generate signing key: %w", err)
		}
		data, err = signing.MarshalKeyFile(k)
		if err != nil {
			return signing.Key{}, err
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return signing.Key{}, fmt.Errorf("write signing key: %w", err)
		}
		return k, nil
	}
	if err != nil {
		return signing.Key{}, fmt.Errorf("read signing key: %w", err)
	}
	keys, err := signing.ParseKeyFile(data, server)
	if err != nil {
		return signing.Key{}, fmt.Errorf("signing key file %s: %w", path, err)
	}
	return keys[0], nil
}

// newLogger builds the process logger from the log settings.
func newLogger(c config.Log, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		return nil, fmt.Errorf("log level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// hostOf returns the host of a server name, without port or brackets.
func hostOf(serverName string) string {
	if h, _, err := net.SplitHostPort(serverName); err == nil {
		return h
	}
	return strings.Trim(serverName, "[]")
}
