package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hafenchat/hafen/internal/config"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/store"
)

const keyUsage = `usage:
  hafen key rotate [flags]
Run "hafen key rotate --help" for its flags.`

const keyRotateUsage = `usage: hafen key rotate [flags]
Replaces the server's signing key with a new one, with a new key ID. Run it
while the server is stopped. The old key's public half stays published
under old_verify_keys (GET /_matrix/key/v2/server), so other servers can
still check the events it signed; the old key file is kept next to the new
one as signing.key.<key ID>.old. Rotate when the key may have leaked.`

// keyCommand runs `hafen key <cmd>`.
func keyCommand(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	cmd, err := subcommand("key", keyUsage, args, []string{"rotate"}, stdout, stderr)
	if err != nil {
		return err
	}
	args = args[1:]
	fs, flags := config.NewFlagSetFor("hafen key "+cmd, storeSettings...)
	fs.SetOutput(stdout)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), keyRotateUsage)
		fs.PrintDefaults()
	}
	if err := config.ParseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	loaded, err := flags.Load(lookupEnv)
	if err != nil {
		return err
	}
	keyID, err := rotateKey(ctx, loaded.Config, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "signing key rotated; the server now signs with", keyID)
	return nil
}

// signingKeyPath is the signing key file of a data directory; a rotation
// writes the new key next to it first.
func signingKeyPath(dataDir string) string { return filepath.Join(dataDir, "signing.key") }

func newSigningKeyPath(dataDir string) string { return signingKeyPath(dataDir) + ".new" }

// rotateKey replaces the signing key of a stopped server: it takes the
// server's locks (so a running server refuses it), writes the new key to
// signing.key.new, records the rotation in the database (one transaction),
// keeps the old file as signing.key.<key ID>.old and moves the new one in
// place. A crash after the database commit leaves signing.key.new, which
// the next start finishes moving (see finishRotation).
func rotateKey(ctx context.Context, cfg config.Config, stderr io.Writer) (signing.KeyID, error) {
	if _, err := os.Stat(cfg.DataDir); err != nil {
		return "", fmt.Errorf("data directory %s: %w (run hafen serve once first)", cfg.DataDir, err)
	}
	r := &resources{}
	defer r.close()
	if err := lockDataDir(r, cfg.DataDir); err != nil {
		return "", err
	}
	dsn := databaseDSN(cfg)
	dbLock, err := store.LockProcess(ctx, dsn)
	if errors.Is(err, store.ErrDatabaseInUse) {
		return "", fmt.Errorf("database: %w; stop the server before rotating its key", err)
	}
	if err != nil {
		return "", fmt.Errorf("database: %w", err)
	}
	r.onClose(dbLock.Release)
	db, err := openExistingStore(ctx, cfg, stderr)
	if err != nil {
		return "", err
	}
	r.onClose(db.Close)
	// The current key must be the one the database belongs to, exactly
	// as serve checks it.
	old, _, err := checkIdentity(ctx, db, cfg)
	if err != nil {
		return "", err
	}
	history, err := db.OwnSigningKeys(ctx)
	if err != nil {
		return "", err
	}
	used := map[signing.KeyID]bool{old.KeyID: true}
	for _, h := range history {
		used[h.KeyID] = true
	}
	server := id.ServerName(cfg.ServerName)
	var next signing.Key
	for {
		if next, err = generateSigningKey(server); err != nil {
			return "", err
		}
		if !used[next.KeyID] {
			break
		}
	}
	path, newPath := signingKeyPath(cfg.DataDir), newSigningKeyPath(cfg.DataDir)
	if err := writeKeyFile(newPath, next); err != nil {
		return "", err
	}
	err = db.RotateOwnSigningKey(ctx,
		store.OwnSigningKey{KeyID: old.KeyID, PublicKey: signing.EncodeBase64(old.Public())},
		store.OwnSigningKey{KeyID: next.KeyID, PublicKey: signing.EncodeBase64(next.Public())},
		time.Now().UnixMilli())
	if err != nil {
		_ = os.Remove(newPath)
		return "", fmt.Errorf("record the new signing key: %w", err)
	}
	if err := finishRotation(path, newPath, old.KeyID); err != nil {
		return "", err
	}
	return next.KeyID, nil
}

// finishRotation keeps the old key file as signing.key.<old key ID>.old
// and moves the new key file in place.
func finishRotation(path, newPath string, old signing.KeyID) error {
	backup := fmt.Sprintf("%s.%s.old", path, strings.ReplaceAll(string(old), ":", "_"))
	if err := os.Rename(path, backup); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("keep the old signing key as %s: %w", backup, err)
	}
	if err := os.Rename(newPath, path); err != nil {
		return fmt.Errorf("move the new signing key to %s: %w", path, err)
	}
	return nil
}
