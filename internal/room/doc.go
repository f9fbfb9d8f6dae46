// Package room owns the path every new event takes, local (Send,
// ChangeMembership, CreateRoom) or from another server (ProcessRemote):
//
//	validate → auth → state → persist (one transaction) → notify
//
// A Service keeps, per room, a head in memory: the current state resolved
// across all forward extremities, the extremities themselves, the state
// group and the generation that fences persists (head.go). It serialises
// the events of one room behind that room's lock, so a room's events are
// persisted in order while different rooms proceed in parallel (and their
// transactions share the store's group commit). Events on top of the head
// take the fast path; forks and late events compute the state before them
// from their prev_events and core/stateres (dag.go, remote.go). After a
// commit it publishes the persisted events to a stream.Stream, whose
// consumers (sync now, the federation sender and push later) read them in
// order on their own goroutines. Heads of idle rooms are dropped by a
// janitor until Close.
//
// It builds events with core/event, chooses auth events with
// core/authrules.NeededStateKeys, checks them with core/authrules.Check and
// persists them through store. Handlers call it for every write into a room;
// reads go straight to the store.
//
// Around that path it owns what a membership change implies beyond the
// auth rules: the authoriser of a restricted join (restricted.go), the
// target checks of kicks and unbans, and the leaves of a deactivated
// account (deactivate.go).
package room
