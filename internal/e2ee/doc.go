// Package e2ee owns what the server keeps for end-to-end encryption:
// devices' identity keys, one-time and fallback keys, users'
// cross-signing keys and the signatures on them. It validates every key
// and signature before storing it (the server never sees a private key and
// never encrypts), hands out one-time keys exactly once, and applies the
// visibility rules of /keys/query.
//
// It must not know about HTTP: clientapi maps its errors to Matrix errors.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#end-to-end-encryption
package e2ee
