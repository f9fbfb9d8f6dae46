// Package stream carries committed events from the event path to the
// services that react to them — sync now; the federation sender, push and
// appservices later — without doing their work on the store's writer.
//
// The event path publishes each committed batch to a Stream from its
// after-commit hook: that only records the new stream position and the
// batch (kept for a short while as a hint) and wakes the consumers. Each
// Consumer runs on its own goroutine and reads the committed events in
// stream order, up to the published position: from the recent batches when
// they follow on from where it stands, else from the store by stream
// position. A durable consumer stores its position in the database after
// each batch it handled, so after a crash or restart it resumes there and
// loses nothing (it may see the last batch again: delivery is at least
// once).
//
// # Ordering
//
// Consumers read only up to the published position, never to the newest
// position in the database. In one process the store's single writer
// commits transactions one after another and runs the after-commit hooks
// in commit order, so every event at or below a published position has
// committed. On PostgreSQL, positions come from a sequence and may have
// gaps (rolled-back writes); a gap is harmless because a consumer reads
// ranges, not single positions. Once several processes write to one
// database, a position may commit after a higher one; the published
// position must then be the lowest position still in flight across
// writers, which this package does not know yet.
//
// It must not import the event path (room) or any consumer.
package stream
