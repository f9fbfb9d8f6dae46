// Package fedapi is the inbound Server-Server API: the federation
// listener's router, the X-Matrix request authentication every federation
// endpoint sits behind, and the handlers, one file per spec section (each
// starting with a "// Spec:" header, as in clientapi).
//
// Served so far: the key server and notary (/_matrix/key/v2/server,
// /_matrix/key/v2/query), /_matrix/federation/v1/version, transactions
// (/send); events, state, auth chains and history (/event, /state,
// /state_ids, /event_auth, /backfill, /get_missing_events); joins, knocks
// and leaves (make_*, send_*); invites (/v2/invite); profile and
// directory queries. Every other
// endpoint answers 404 M_UNRECOGNIZED, as the spec asks for unsupported
// endpoints.
//
// Handlers never write to the database; the key store (serverkeys) owns
// the keys, the inbound federation service (fedevents) the rest.
package fedapi
