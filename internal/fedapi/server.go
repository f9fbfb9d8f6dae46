package fedapi

import (
	"context"
	"crypto/ed25519"
	"encoding/json"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/serverkeys"
)

// Keys is what the federation API needs of the key store
// (*serverkeys.Keys).
type Keys interface {
	OwnResponse() ([]byte, error)
	NotaryQuery(ctx context.Context, query map[id.ServerName]serverkeys.NotaryCriteria) ([]json.RawMessage, error)
	RequestKey(ctx context.Context, server id.ServerName, keyID signing.KeyID) (ed25519.PublicKey, error)
}

var _ Keys = (*serverkeys.Keys)(nil)

// Server is the Server-Server API. Its fields are set by cmd/hafen.
type Server struct {
	// ServerName is this server's name: requests must be addressed to it.
	ServerName id.ServerName
	// Keys is the key store.
	Keys Keys
	// Version is the version reported by /_matrix/federation/v1/version.
	Version string
	// Contacted, when set, is told the origin of every authenticated
	// request before it is handled: the server is up (the federation
	// sender retries its queue at once). It must not block.
	Contacted func(origin id.ServerName)
}

// ServerImplementationName is the name /version reports.
const ServerImplementationName = "Hafen"
