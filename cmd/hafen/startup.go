package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/hafenchat/hafen/internal/config"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/dirlock"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/store"
)

// resources is what serve opens before it builds the services: locks,
// listeners, the store, the signing key and the TLS certificate. close
// releases them in the reverse order.
type resources struct {
	// firstStart reports that the data directory did not exist.
	firstStart bool
	// newServer reports that this start created the signing key: the
	// server has never run before (its data directory may have been made
	// empty by the operator).
	newServer bool
	clientLn  net.Listener
	fedLn     net.Listener
	db        *store.DB
	key       signing.Key
	cert      tls.Certificate

	closers []func() error
}

func (r *resources) onClose(f func() error) { r.closers = append(r.closers, f) }

// leaveOpen makes close do nothing: the process is about to exit with
// handlers still running, and the kernel and PostgreSQL release the rest.
func (r *resources) leaveOpen() { r.closers = nil }

// close releases everything in reverse order of opening.
func (r *resources) close() error {
	var errs []error
	for i := len(r.closers) - 1; i >= 0; i-- {
		errs = append(errs, r.closers[i]())
	}
	r.closers = nil
	return errors.Join(errs...)
}

// openResources checks first and creates after: the data directory is
// locked when it exists, the ports are bound and PostgreSQL is reached
// before anything is written, so a mistake leaves no half-made data
// directory, key or database behind. Then it creates the data directory
// and example configuration (first start), opens the store, checks that
// the database belongs to this server name and signing key, and loads or
// creates the key and the TLS certificate.
func openResources(ctx context.Context, loaded *config.Loaded, logger *slog.Logger) (_ *resources, err error) {
	cfg := loaded.Config
	r := &resources{}
	defer func() {
		if err != nil {
			err = errors.Join(err, r.close())
		}
	}()

	_, statErr := os.Stat(cfg.DataDir)
	r.firstStart = errors.Is(statErr, fs.ErrNotExist)
	if statErr != nil && !r.firstStart {
		return nil, fmt.Errorf("data directory: %w", statErr)
	}
	if !r.firstStart {
		if err := lockDataDir(r, cfg.DataDir); err != nil {
			return r, err
		}
	}
	if err := listen(r, cfg); err != nil {
		return r, err
	}
	dsn := databaseDSN(cfg)
	dbLock, err := store.LockProcess(ctx, dsn)
	if errors.Is(err, store.ErrDatabaseInUse) {
		return r, fmt.Errorf("database: %w; stop that server first, or give this one another database", err)
	}
	if err != nil {
		return r, fmt.Errorf("database: %w", err)
	}
	r.onClose(dbLock.Release)
	if err := lockSQLiteElsewhere(r, cfg, dsn); err != nil {
		return r, err
	}

	if r.firstStart {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return r, fmt.Errorf("create data directory: %w", err)
		}
		if err := lockDataDir(r, cfg.DataDir); err != nil {
			return r, err
		}
	}
	if !loaded.FileExists {
		if err := config.WriteExample(loaded.Path); err != nil {
			return r, err
		}
		logger.Info("wrote example configuration", "path", loaded.Path)
	}

	if r.db, err = openStore(ctx, cfg, logger); err != nil {
		return r, err
	}
	r.onClose(r.db.Close)
	if r.key, r.newServer, err = checkIdentity(ctx, r.db, cfg); err != nil {
		return r, err
	}
	logger.Info("signing key ready", "key_id", string(r.key.KeyID))

	tlsCert, tlsKey := cfg.TLSCert, cfg.TLSKey
	if tlsCert == "" {
		tlsCert, tlsKey = filepath.Join(cfg.DataDir, "tls.crt"), filepath.Join(cfg.DataDir, "tls.key")
	}
	if r.cert, err = httpapi.LoadOrCreateCertificate(tlsCert, tlsKey, hostOf(cfg.ServerName)); err != nil {
		return r, err
	}
	return r, nil
}

// lockDataDir takes the data directory's lock for the life of the server.
func lockDataDir(r *resources, dir string) error {
	l, err := dirlock.Acquire(dir)
	if errors.Is(err, dirlock.ErrLocked) {
		return fmt.Errorf("data directory %w; stop that server first, or give this one another --data-dir", err)
	}
	if err != nil {
		return fmt.Errorf("lock data directory: %w", err)
	}
	r.onClose(l.Release)
	return nil
}

// lockSQLiteElsewhere locks an SQLite database that lives outside the
// data directory (whose lock covers the default one), through a lock file
// next to it, so two servers with different data directories cannot share
// it either.
func lockSQLiteElsewhere(r *resources, cfg config.Config, dsn string) error {
	if isPostgresDSN(dsn) {
		return nil
	}
	path, err := filepath.Abs(strings.TrimPrefix(dsn, "sqlite:"))
	if err != nil {
		return fmt.Errorf("database path: %w", err)
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("data directory path: %w", err)
	}
	if filepath.Dir(path) == dataDir {
		return nil
	}
	l, err := dirlock.AcquireFile(path+".lock", "database "+path)
	if errors.Is(err, dirlock.ErrLocked) {
		return fmt.Errorf("%w; stop that server first, or give this one another --database", err)
	}
	if err != nil {
		return fmt.Errorf("lock database: %w", err)
	}
	r.onClose(l.Release)
	return nil
}

// isPostgresDSN reports whether dsn selects PostgreSQL.
func isPostgresDSN(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// listen binds both listeners, each capped at max_connections_per_ip
// (trusted proxies and loopback are exempt).
func listen(r *resources, cfg config.Config) error {
	trusted, err := cfg.TrustedProxyPrefixes()
	if err != nil {
		return err
	}
	exempt := func(a netip.Addr) bool {
		if a.IsLoopback() {
			return true
		}
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	ln, err := net.Listen("tcp", cfg.ListenClient)
	if err != nil {
		return fmt.Errorf("listen for clients on %s (listen_client): %w", cfg.ListenClient, err)
	}
	r.onClose(ignoreClosed(ln.Close))
	r.clientLn = httpapi.LimitConnsPerIP(ln, cfg.MaxConnectionsPerIP, exempt)
	ln, err = net.Listen("tcp", cfg.ListenFederation)
	if err != nil {
		return fmt.Errorf("listen for federation on %s (listen_federation): %w", cfg.ListenFederation, err)
	}
	r.onClose(ignoreClosed(ln.Close))
	r.fedLn = httpapi.LimitConnsPerIP(ln, cfg.MaxConnectionsPerIP, exempt)
	return nil
}

// ignoreClosed drops the error of closing what the HTTP server closed
// already.
func ignoreClosed(f func() error) func() error {
	return func() error {
		if err := f(); err != nil && !errors.Is(err, net.ErrClosed) {
			return err
		}
		return nil
	}
}

// checkIdentity makes sure the database belongs to the configured server
// name and to the signing key in the data directory, records both on
// first start, and returns the key, creating it on first start (created
// is then true).
func checkIdentity(ctx context.Context, db *store.DB, cfg config.Config) (_ signing.Key, created bool, _ error) {
	rec, err := db.ServerIdentity(ctx)
	if err != nil {
		return signing.Key{}, false, err
	}
	if rec.ServerName != "" && rec.ServerName != cfg.ServerName {
		return signing.Key{}, false, serverNameMismatch(cfg.ServerName, rec.ServerName)
	}
	path := signingKeyPath(cfg.DataDir)
	key, err := loadSigningKey(path, id.ServerName(cfg.ServerName))
	switch {
	case errors.Is(err, fs.ErrNotExist) && rec.SigningKeyID != "":
		return signing.Key{}, false, fmt.Errorf("signing key file %s is missing, but the database's events are signed with key %s: restore the file from a backup of the data directory", path, rec.SigningKeyID)
	case errors.Is(err, fs.ErrNotExist):
		if key, err = createSigningKey(path, id.ServerName(cfg.ServerName)); err != nil {
			return signing.Key{}, false, err
		}
		created = true
	case err != nil:
		return signing.Key{}, false, err
	}
	if rec.SigningKeyID != "" && rec.SigningKeyID != string(key.KeyID) {
		// `hafen key rotate` stopped between recording the new key and
		// moving its file in place: finish it.
		newPath := newSigningKeyPath(cfg.DataDir)
		if next, err := loadSigningKey(newPath, id.ServerName(cfg.ServerName)); err == nil && string(next.KeyID) == rec.SigningKeyID {
			if err := finishRotation(path, newPath, key.KeyID); err != nil {
				return signing.Key{}, false, err
			}
			key = next
		}
	}
	if rec.SigningKeyID != "" && rec.SigningKeyID != string(key.KeyID) {
		return signing.Key{}, false, fmt.Errorf("signing key file %s holds key %s, but the database's events are signed with key %s: restore the original file from a backup of the data directory (hafen key rotate keeps former keys as signing.key.<key ID>.old)", path, key.KeyID, rec.SigningKeyID)
	}
	if err := db.RecordServerIdentity(ctx, store.ServerIdentity{ServerName: cfg.ServerName, SigningKeyID: string(key.KeyID)}); err != nil {
		return signing.Key{}, false, err
	}
	return key, created, nil
}

// serverNameMismatch explains that the database belongs to another server
// name, and how to proceed.
func serverNameMismatch(configured, recorded string) error {
	return fmt.Errorf("server_name is %q but the database belongs to %q, and a server name cannot change once it has users: "+
		"set server_name: %s (in hafen.yaml, HAFEN_SERVER_NAME or --server-name) to run that server, "+
		"or use an empty data directory and database to start a new server named %s",
		configured, recorded, recorded, configured)
}

// databaseDSN returns the store's DSN: the configured database, or
// hafen.db in the data directory.
func databaseDSN(cfg config.Config) string {
	if cfg.Database != "" {
		return cfg.Database
	}
	return filepath.Join(cfg.DataDir, "hafen.db")
}

// isLoopbackOnly reports whether every address is a loopback address.
func isLoopbackOnly(addrs ...net.Addr) bool {
	for _, a := range addrs {
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil || !ap.Addr().IsLoopback() {
			return false
		}
	}
	return true
}

// warnLocalhost warns when the server name is localhost although other
// machines can reach the server: users created now would be stuck with it.
func warnLocalhost(logger *slog.Logger, cfg config.Config, addrs ...net.Addr) {
	if !strings.EqualFold(hostOf(cfg.ServerName), "localhost") || isLoopbackOnly(addrs...) {
		return
	}
	logger.Warn("server name is localhost but other machines can connect: set server_name to this server's DNS name before the first user is created, it cannot change later",
		"server_name", cfg.ServerName)
}
