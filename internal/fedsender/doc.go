// Package fedsender owns the outbound federation queues: it sends the
// events of this server's users to the other servers in their rooms, and
// keeps sending through their outages.
//
// The Sender is a durable consumer of the committed event stream (see
// package stream). For each committed event of a local sender it finds
// the destinations — the other servers with joined members in the room in
// the state before the event, plus the target's server of a membership
// event (an invitee, a kicked user) — and writes one queue entry per
// destination in the same transaction as its consumer position, so
// nothing is lost or queued twice across restarts or a kill -9.
//
// Each destination with queued entries has one goroutine, which has at
// most one transaction (PUT /_matrix/federation/v1/send/{txnId}) in flight:
// up to MaxPDUs of the oldest entries, whatever queued meanwhile going in
// the next one. The entries of a transaction are marked with its ID in the
// database, so a retry — also after a restart — sends the same
// transaction under the same ID and the destination can recognise it.
// The commit that removes a delivered transaction's entries also marks
// the next one's, and the next one is sent while that commit runs; its
// answer counts once the commit has returned (see sendNext). A
// failure backs off exponentially, up to Config.MaxBackoff; a destination
// that contacts this server (Contacted, from the federation listener's
// request authentication) is retried at once. After a failure, a backlog
// longer than one transaction is cut down to the newest event of each
// room: the destination fetches what lies before it with
// /get_missing_events. Queue entries live in the database only; the
// memory per destination is a few fields, and a destination's goroutine
// ends when its queue is empty.
package fedsender
