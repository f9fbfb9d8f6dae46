// Package fedapi is the inbound Server-Server API: the federation
// listener's router, the X-Matrix request authentication every federation
// endpoint sits behind, and the handlers, one file per spec section (each
// starting with a "// Spec:" header, as in clientapi).
//
// Served so far: the key server and notary (/_matrix/key/v2/server,
// /_matrix/key/v2/query) and /_matrix/federation/v1/version. Every other
// endpoint answers 404 M_UNRECOGNIZED, as the spec asks for unsupported
// endpoints.
//
// Handlers never write to the database; the key store (serverkeys) owns
// the keys.
package fedapi
