// Package pducheck implements the checks a server performs on receipt of a
// PDU: format, signatures, content hash (redacting the event on mismatch),
// then the auth rules against the event's own auth events; and the later
// checks against the state before the event (rejection) and the current
// state of the room (soft failure).
//
// Spec: https://spec.matrix.org/v1.19/server-server-api/#checks-performed-on-receipt-of-a-pdu
//
// The package is part of the pure protocol core: it does no I/O. Keys and
// auth events come in through lookup functions.
//
//	res, err := pducheck.CheckIncoming(raw, v, keys, authEvents)
//	switch res.Verdict {
//	case pducheck.Drop:     // discard; err says why
//	case pducheck.Reject:   // store res.Event as rejected
//	case pducheck.Accept:   // go on: pducheck.CheckAgainstState(res.Event, stateBefore), …
//	}
package pducheck

import (
	"errors"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
)

// Verdict is the outcome of a check.
type Verdict int

const (
	// Drop means the PDU is not a valid event or fails its signature checks
	// (checks 1 and 2): it must be discarded, not stored.
	Drop Verdict = iota + 1
	// Reject means the event fails the auth rules against its auth events
	// (check 4) or the state before it (check 5): it is stored as rejected,
	// never relayed to clients, never a prev event of new events, and
	// never part of the room state.
	Reject
	// SoftFail means the event passes the auth rules against the state
	// before it but not against the current state of the room (check 6):
	// it is stored and takes part in state resolution, but is not relayed
	// to clients or used as a forward extremity.
	SoftFail
	// Accept means the event passed the checks made.
	Accept
)

func (v Verdict) String() string {
	switch v {
	case Drop:
		return "drop"
	case Reject:
		return "reject"
	case SoftFail:
		return "soft-fail"
	case Accept:
		return "accept"
	}
	return fmt.Sprintf("verdict(%d)", int(v))
}

// Result is the outcome of CheckIncoming.
type Result struct {
	// Verdict is Drop, Reject or Accept.
	Verdict Verdict
	// Event is the event to store and process further: nil when dropped;
	// the redacted event when Redacted is set. Its event ID is that of the
	// PDU as received.
	Event *event.PDU
	// Redacted reports that the content hash did not match (check 3), so
	// Event is the redacted form of the PDU. A redacted event is not
	// rejected: it is processed as usual in its redacted form.
	Redacted bool
	// AuthEvents are the event's auth events as looked up (v12: without the
	// create event), in auth_events order; nil entries were not found.
	AuthEvents []*event.PDU
	// Err says why the verdict is not Accept: it wraps ErrFormat or
	// ErrSignature for Drop, and a *authrules.NotAllowedError for Reject.
	Err error
}

// Sentinel errors.
var (
	// ErrFormat means the PDU does not follow the event format of its room
	// version (check 1).
	ErrFormat = errors.New("invalid pdu")
	// ErrSignature means the PDU lacks a required signature or one does not
	// verify (check 2).
	ErrSignature = errors.New("bad pdu signature")
	// ErrAuthEventUnavailable means an auth event was not available: missing
	// or rejected (rule 2.3). The caller fetches missing auth events before
	// calling CheckIncoming.
	ErrAuthEventUnavailable = errors.New("auth event missing or rejected")
)

// AuthEventLookup returns an accepted (not rejected) event by ID, or false if
// it is unknown or was rejected.
type AuthEventLookup func(id.EventID) (*event.PDU, bool)

// CheckIncoming runs checks 1–4 on the PDU raw of room version v: format
// (event.Parse), signatures (keys), content hash (on mismatch the event is
// redacted and processing continues with Result.Redacted set), and the auth
// rules against the event's own auth events, which authEvents must return
// (it must not return rejected events). For room v12 authEvents must also
// return the create event, whose ID the room ID gives.
//
// The returned error is Result.Err: nil when the verdict is Accept.
func CheckIncoming(raw []byte, v *roomversion.Version, keys signing.KeyLookup, authEvents AuthEventLookup) (Result, error) {
	// 1: is a valid event, otherwise it is dropped.
	e, err := event.Parse(raw, v)
	if err != nil {
		return drop(fmt.Errorf("%w: %w", ErrFormat, err))
	}
	return CheckParsed(e, v, keys, authEvents)
}

// CheckParsed is CheckIncoming for an event already parsed with
// event.Parse (step 1 passed): for callers that parse many events first,
// to check them in auth order.
func CheckParsed(e *event.PDU, v *roomversion.Version, keys signing.KeyLookup, authEvents AuthEventLookup) (Result, error) {

	// 2: passes signature checks, otherwise it is dropped. Signatures
	// cover the redacted event; event.VerifySignatures knows which servers
	// must have signed.
	if err := event.VerifySignatures(e, keys); err != nil {
		return drop(fmt.Errorf("%w: %w", ErrSignature, err))
	}

	res := Result{Verdict: Accept, Event: e}
	// 3: passes hash checks, otherwise it is redacted before being
	// processed further.
	if err := event.CheckContentHash(e.JSON()); err != nil {
		if !errors.Is(err, event.ErrHashMismatch) {
			return drop(fmt.Errorf("%w: %w", ErrFormat, err))
		}
		redacted, err := event.Redact(e.JSON(), v)
		if err != nil {
			return drop(fmt.Errorf("%w: %w", ErrFormat, err))
		}
		re, err := event.ParseTrusted(redacted, v, e.EventID())
		if err != nil {
			return drop(fmt.Errorf("%w: redacted event: %w", ErrFormat, err))
		}
		res.Event, res.Redacted = re, true
	}

	// 4: passes authorisation rules based on the event's auth events,
	// otherwise it is rejected.
	if err := checkAuthEvents(&res, authEvents); err != nil {
		res.Verdict, res.Err = Reject, err
		return res, err
	}
	return res, nil
}

func drop(err error) (Result, error) {
	return Result{Verdict: Drop, Err: err}, err
}

// checkAuthEvents looks up the auth events of res.Event and applies the auth
// rules to it against them.
func checkAuthEvents(res *Result, lookup AuthEventLookup) error {
	e := res.Event
	v := e.Version()
	ids := e.AuthEvents()
	res.AuthEvents = make([]*event.PDU, len(ids))
	for i, aid := range ids {
		a, ok := lookup(aid)
		if !ok {
			// 2.3 (v1–v11; 3.3 v12): entries that were themselves
			// rejected (or are not available), reject.
			return fmt.Errorf("%w: %s: %w", ErrAuthEventUnavailable, aid, &authrules.NotAllowedError{
				Rule: ruleAuthRejected(v), Reason: "auth event " + string(aid) + " is missing or rejected",
			})
		}
		res.AuthEvents[i] = a
	}
	if err := authrules.CheckAuthEventsList(e, res.AuthEvents); err != nil {
		return err
	}
	var create *event.PDU
	if v.RoomIDFromCreateEvent && e.Type() != authrules.TypeCreate {
		cid := id.EventID("$" + string(e.RoomID())[1:])
		c, ok := lookup(cid)
		if !ok {
			// 2 (v12): the room ID must be the ID of an accepted create
			// event.
			return fmt.Errorf("%w: create event %s: %w", ErrAuthEventUnavailable, cid, &authrules.NotAllowedError{
				Rule: "2", Reason: "create event is missing or rejected",
			})
		}
		create = c
	}
	return authrules.Check(e, authrules.AuthState(v, res.AuthEvents, create))
}

func ruleAuthRejected(v *roomversion.Version) string {
	if v.RoomIDFromCreateEvent {
		return "3.3"
	}
	return "2.3"
}

// CheckAgainstState applies the auth rules to e against state, for check 5
// (state is the state before the event; failure means Reject) and check 6
// (state is the current state of the room; failure means SoftFail). It
// returns nil or a *authrules.NotAllowedError.
//
// state holds the auth-relevant state entries; in room v12 it must include
// the create event.
func CheckAgainstState(e *event.PDU, state authrules.StateMap) error {
	return authrules.Check(e, state)
}

// CheckStateBefore runs check 5 and returns Accept or Reject.
func CheckStateBefore(e *event.PDU, stateBefore authrules.StateMap) (Verdict, error) {
	if err := CheckAgainstState(e, stateBefore); err != nil {
		return Reject, err
	}
	return Accept, nil
}

// CheckCurrentState runs check 6 and returns Accept or SoftFail.
func CheckCurrentState(e *event.PDU, current authrules.StateMap) (Verdict, error) {
	if err := CheckAgainstState(e, current); err != nil {
		return SoftFail, err
	}
	return Accept, nil
}
