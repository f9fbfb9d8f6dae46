// Package serverkeys owns the signing keys of servers: this server's own
// (published at GET /_matrix/key/v2/server with the keys it used before
// under old_verify_keys) and the cached keys of every other server.
//
// Keys.Lookup is the signing.KeyLookup of the event path: it answers from
// memory or the database and never touches the network. Keys.RequestKey
// (request authentication) and Keys.Ensure / Keys.EnsureForPDUs (before
// handing PDUs to room.Service.ProcessRemote) fetch what is missing:
// first from the server itself, then through the
// configured notaries (trusted_key_servers), each fetch verified
// (self-signed by every verify key; a notary's answer also signed by the
// notary) and stored in the database so it survives restarts. Fetches for
// one server run one at a time and at most once per RefetchInterval, so a
// peer that signs with unknown key IDs cannot make Hafen hammer anyone.
//
// Keys.NotaryQuery answers /_matrix/key/v2/query: the cached responses of
// other servers (fetched directly when missing or too old), countersigned
// with this server's key.
//
// Spec: https://spec.matrix.org/v1.19/server-server-api/#retrieving-server-keys
package serverkeys
