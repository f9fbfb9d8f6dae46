// Package canonicaljson decodes JSON strictly and encodes it in the Matrix
// "Canonical JSON" form: the shortest UTF-8 encoding, object keys sorted by
// Unicode code point, no insignificant whitespace, and only the escapes the
// spec's grammar allows.
//
// Spec: https://spec.matrix.org/v1.19/appendices/#canonical-json
// and https://spec.matrix.org/v1.19/rooms/v6/#canonical-json
//
// The package owns two number regimes:
//
//   - Strict (Canonicalize, CanonicalizeWithout, Decode, Encode, Marshal):
//     numbers must be integers in [-(2**53)+1, (2**53)-1] written without
//     fraction or exponent. This is the format room versions 6 and later
//     enforce, and what every new object Hafen builds must satisfy.
//   - Legacy (CanonicalizeLegacy, CanonicalizeLegacyWithout, EncodeLegacy):
//     events of room versions 1–5 may hold numbers of any size and floats.
//     They are kept, written the way Synapse (Python's json module) writes
//     them, so that hashes and signatures of old events can be reproduced.
//
// Both regimes reject, on any input: invalid JSON, trailing data, invalid
// UTF-8, \u escapes that form a lone UTF-16 surrogate, duplicate object
// keys, NaN/Infinity and nesting deeper than MaxDepth.
//
// NOTSPEC: the spec says nothing about duplicate keys; Python's json keeps
// the last one. Hafen rejects them so that no two parsers can read one
// signed object differently. JSON that Synapse sends never has them, as it
// re-encodes from a dict.
//
// Output agrees byte for byte with Synapse's encoder (Python's json.dumps
// with ensure_ascii=False, separators=(",", ":"), sort_keys=True,
// allow_nan=False) on everything both accept; a differential run over
// 30,000 generated documents found no difference.
//
// # Example
//
//	out, err := canonicaljson.Canonicalize([]byte(`{"b": 2, "a": "\u65E5"}`))
//	// out == `{"a":"日","b":2}`
//
// The package is part of the pure protocol core: it does no I/O.
package canonicaljson
