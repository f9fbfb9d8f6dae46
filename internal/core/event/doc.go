// Package event owns the Matrix persistent data unit (PDU): its format in every
// room version, the content hash, the reference hash and event IDs, the
// redaction algorithms, signing and verifying events, and building new
// events.
//
// Spec: https://spec.matrix.org/v1.19/server-server-api/#pdus,
// https://spec.matrix.org/v1.19/server-server-api/#signing-events and
// https://spec.matrix.org/v1.19/rooms/
//
// # Parsing
//
// Parse takes a PDU received from another server, checks its format for the
// room version (required fields and their types, identifier grammar, size
// limits, strict canonical JSON from v6 on) and computes its event ID.
// ParseTrusted reads an event Hafen stored itself, whose ID is already known,
// and checks only its structure. Neither checks hashes or signatures: use
// CheckContentHash and VerifySignatures for that.
//
// # Hashes, IDs and signatures
//
// ContentHash covers the whole event, ReferenceHash its redacted form;
// ComputeEventID turns the reference hash into the event ID of room
// versions 3 and later. Redact applies the version's redaction algorithm.
// Sign adds the content hash and a signature of the redacted event;
// VerifySignatures checks the signatures every room version requires.
//
// # Building
//
// Build turns a Proto (the fields of a new event) into a signed PDU:
//
//	pdu, err := event.Build(event.Proto{
//		Type: "m.room.message", Sender: "@alice:example.org", RoomID: room,
//		Content: json.RawMessage(`{"msgtype":"m.text","body":"hi"}`),
//		PrevEvents: prev, AuthEvents: auth, Depth: 12, OriginServerTS: now,
//	}, roomversion.V12, key)
//
// The package is part of the pure protocol core: it does no I/O; time, keys
// and randomness come in as arguments.
package event
