// Package fedevents is the service behind the inbound Server-Server API's
// room endpoints: it takes the transactions other servers send
// (PUT /_matrix/federation/v1/send/{txnId}) and hands their PDUs to the
// event path (room.Service.ProcessRemote) after the checks that belong to
// federation rather than to the event: the room is one this server is in,
// the sending server is not denied by the room's server ACL, and the keys
// of the servers that signed each PDU are fetched; prev_events the event
// path finds missing are asked of the origin with get_missing_events
// (missing.go) and the PDU tried once more. It remembers the answer
// to every transaction so that a retry is answered the same, and it
// processes the transactions of one origin one after another while
// different origins proceed in parallel.
//
// It also serves events to other servers (/event, /state, /state_ids,
// /event_auth, /backfill, /get_missing_events) under the rules of history
// visibility applied to the asking server as if it were one of its users
// (visibility.go), and under the room's server ACL.
//
// It never writes events itself (the event path does) and never parses
// HTTP requests (fedapi does).
package fedevents
