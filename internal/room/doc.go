// Package room owns the path every new local event takes:
//
//	validate → auth → state → persist (one transaction) → notify
//
// A Service keeps, per room, the current state, the forward extremities and
// the depth in memory, and serialises the events of one room behind that
// room's lock, so a room's events are persisted in order while different
// rooms proceed in parallel (and their transactions share the store's group
// commit). After a commit it hands the persisted events to its listeners:
// the sync notifier now, the federation sender and push later.
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
