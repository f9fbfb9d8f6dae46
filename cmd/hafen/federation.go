package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"

	"github.com/hafenchat/hafen/internal/config"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/fedapi"
	"github.com/hafenchat/hafen/internal/federation"
	"github.com/hafenchat/hafen/internal/serverkeys"
	"github.com/hafenchat/hafen/internal/store"
)

// federationParts are the pieces of federation serve wires in.
type federationParts struct {
	client *federation.Client
	keys   *serverkeys.Keys
	api    *fedapi.Server
}

// newFederation builds the outbound federation client, the key store and
// the Server-Server API from the configuration; resolver answers the
// client's DNS queries (the system's when nil).
func newFederation(ctx context.Context, cfg config.Config, db *store.DB, key signing.Key, logger *slog.Logger, resolver federation.Resolver) (*federationParts, error) {
	var roots *x509.CertPool
	if cfg.TrustCA != "" {
		pem, err := os.ReadFile(cfg.TrustCA)
		if err != nil {
			return nil, fmt.Errorf("read trust_ca: %w", err)
		}
		if roots, err = x509.SystemCertPool(); err != nil {
			roots = x509.NewCertPool()
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("trust_ca %s: no PEM certificate found", cfg.TrustCA)
		}
	}
	if cfg.FederationSkipTLSVerify {
		logger.Warn("federation_skip_tls_verify is on: certificates of other servers are NOT checked; use it only in test federations")
	}
	client := federation.New(federation.Config{
		ServerName:    id.ServerName(cfg.ServerName),
		Key:           key,
		AllowPrivate:  cfg.FederationAllowPrivate,
		SkipTLSVerify: cfg.FederationSkipTLSVerify,
		RootCAs:       roots,
		Resolver:      resolver,
	})
	var notaries []id.ServerName
	for _, n := range cfg.TrustedKeyServers {
		notaries = append(notaries, id.ServerName(n))
	}
	keys, err := serverkeys.Open(ctx, serverkeys.Config{DB: db, Key: key, Client: client, Notaries: notaries, Logger: logger})
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("open key store: %w", err)
	}
	api := &fedapi.Server{ServerName: id.ServerName(cfg.ServerName), Keys: keys, Version: version}
	return &federationParts{client: client, keys: keys, api: api}, nil
}
