// Package clientsync computes the responses of the Client-Server API's
// /sync: initial and incremental syncs, long-polling, filters, timelines
// with limited/prev_batch, state deltas, the invite, knock and leave
// sections, lazy-loaded members and room summaries.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#syncing
//
// # Fan-out from memory
//
// The event path (package room) hands every committed batch to
// Service.EventsPersisted, in stream order. The Service keeps the most
// recent events in a ring (Timeline) and every loaded user's memberships in
// memory, and wakes long-polling requests through a Notifier. An
// incremental sync whose since token is still covered by the ring is
// answered without reading the database, so many clients syncing one room
// do not multiply database work. Older tokens and initial syncs read the
// store.
//
// # Notification counts
//
// Each joined room carries unread_notifications, judged by the
// server-default push rules. The counts of a (user, room) pair are set up
// from the store the first time a sync needs them and then kept current in
// memory by EventsPersisted; a room's entry carries them when it is sent in
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
