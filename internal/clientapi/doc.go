// Package clientapi serves the Matrix Client-Server API. For now it holds
// the account part: discovery (versions, well-known, capabilities),
// registration, login and logout, whoami, password change, deactivation
// and device management, plus Synapse's shared-secret registration API.
//
// # Layout
//
// Server holds the dependencies (store, rate limiter, settings) as fields;
// cmd/hafen fills them. Routes registers every endpoint on an
// httpapi.Router, one route per line in routes.go. Each handler file covers
// one section of the spec and starts with
//
//	// Spec: Client-Server API § <section>
//
// followed by the OpenAPI files it implements. Handlers are methods named
// after the spec's operationId, with the method and path as the first line
// of their doc comment, and they return errors built with matrixerr.
//
// To add a section: write its handler file, add its routes to routes.go and
// declare any storage it needs in a small interface next to AccountStore.
//
// # Accounts
//
// Passwords are stored as bcrypt hashes. Access tokens are 32 random bytes
// (unpadded URL-safe base64); only their SHA-256 reaches the database.
// User-Interactive Authentication sessions live in the AccountStore, so
// any process sharing the database can serve any step of a flow (see
// uia.go).
//
// The package never writes to the database: handlers call services
// (account, profile, directory, filter, the room event path) through the
// small interfaces declared here, and read history and state through
// RoomStore. TestHandlersNeverWrite keeps it so.
package clientapi
