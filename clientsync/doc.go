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
// Tokens are "s" followed by the stream position the response covers.
package clientsync
