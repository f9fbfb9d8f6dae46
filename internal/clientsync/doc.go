// Package clientsync computes the responses of the Client-Server API's
// /sync: initial and incremental syncs, long-polling, filters, timelines
// with limited/prev_batch, state deltas, the invite, knock and leave
// sections, lazy-loaded members and room summaries.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#syncing
//
// # Fan-out from memory
//
// The event path (package room) publishes every committed batch to a
// stream.Stream. The Service consumes it on its own goroutine (a
// stream.Consumer, started by Start and stopped by Stop), in stream order,
// never on the store's writer. Sync is not durable: at start it takes the
// database as of the newest stream position and consumes from there. A
// sync request first waits until the consumer has applied everything
// published before it, so a client sees its own sends. The Service keeps the most
// recent events in a ring (Timeline) and every loaded user's memberships in
// memory, and wakes long-polling requests through a Notifier. An
// incremental sync whose since token is still covered by the ring is
// answered without reading the database, so many clients syncing one room
// do not multiply database work. Initial syncs read the store. When many
// devices sync, a device that comes back right after its answer waits a
// few milliseconds for more news (answerPacing), so clients polling in a
// tight loop get fewer, fuller answers.
//
// # Returning clients
//
// A since token older than the ring (a client back after a while, or any
// client after a restart) is answered from the store by stream position:
// only the rooms with events after since are visited (one query over the
// user's memberships), each with one read of its newest events bounded by
// the timeline limit; the user's own membership changes in the window
// come from the memberships table and the room's member events, however
// old; and the state delta of a limited timeline is the difference between
// the state groups at since and at the start of the timeline. The answer
// is the one the ring would give (a test compares them).
//
// # Gaps
//
// An event of another server stored above a gap in the room's history
// (store.Event.GapBelow: its prev events could not be fetched, and come
// later as history that sync never sends) begins its timeline, which is
// then limited, so that the client pages back into the gap; the state
// delta is taken from the state groups then (see startAtGap).
//
// # Notification counts
//
// Each joined room carries unread_notifications, judged by the
// server-default push rules. The counts of a (user, room) pair are set up
// from the store the first time a sync needs them and then kept current in
// memory by the consumer; a room's entry carries them when it is sent in
// full or when they changed since the since token. Without read receipts,
// the user's own last event in a room counts as having read it.
//
// # Forgotten rooms
//
// Rooms the user has forgotten (POST /rooms/{roomId}/forget) are left out
// of the leave section until the user joins, is invited or knocks again.
// The store is asked only when a left room is about to be sent.
//
// # Tokens
//
// A sync token holds one position per stream (events today; account data,
// receipts, typing, to-device, device lists and presence have their places
// reserved), "s<events>_<account data>_…" with trailing zero streams left
// out. New streams are appended, so tokens clients stored before a stream
// existed keep working. Timelines' prev_batch are stream tokens, which
// /messages turns into a place in the room's topological order. token.go
// holds both forms and their rules.
package clientsync
