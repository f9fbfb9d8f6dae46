// Package fedfetch fetches from other servers the parts of a room's graph
// this server lacks: the state at an event (/state_ids, then /event or
// /state for the events it does not have) and the room's history
// (/backfill). Every fetched event passes the checks on receipt
// (core/pducheck: format, signatures, content hash, auth against its own
// auth events, fetched too when missing) before the event path stores it:
// state and auth events as outliers (room.Service.StoreOutliers), history
// as history (room.Service.ImportHistory). It never changes a room's
// present: forward extremities and current state are the event path's.
//
// Spec: Server-Server API § Backfilling and retrieving missing events,
// § Retrieving events
// https://spec.matrix.org/v1.19/server-server-api/#backfilling-and-retrieving-missing-events
package fedfetch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/hafenchat/hafen/internal/background"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/federation"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/serverkeys"
	"github.com/hafenchat/hafen/internal/store"
)

// Limits of one fetch.
const (
	// maxAuthFetches bounds the auth events fetched one by one (/event)
	// for one piece of history or one state.
	maxAuthFetches = 50
	// stateFetchThreshold is the number of missing events above which
	// the whole state is fetched (/state) instead of each missing event
	// (/event).
	stateFetchThreshold = 10
	// maxStateIDs bounds the state and auth chain of one /state_ids
	// answer.
	maxStateIDs = 100_000
	// DefaultTimeout bounds one Backfill or StateBefore.
	DefaultTimeout = 20 * time.Second
	// RoomBackfillTimeout bounds BackfillRoom, which a client's /messages
	// waits for.
	RoomBackfillTimeout = 5 * time.Second
)

// Remote sends requests to other servers (*federation.Client).
type Remote interface {
	DoJSON(ctx context.Context, req federation.Request, out any) error
}

// Keys fetches and looks up other servers' signing keys
// (*serverkeys.Keys).
type Keys interface {
	EnsureForPDUs(ctx context.Context, pdus []json.RawMessage)
	Lookup(server id.ServerName, keyID signing.KeyID) (signing.VerifyKey, bool)
}

// Rooms is what the fetcher needs of the event path (*room.Service).
type Rooms interface {
	Version(ctx context.Context, roomID id.RoomID) (string, error)
	StoreOutliers(ctx context.Context, roomID id.RoomID, pdus []*event.PDU) error
	ImportHistory(ctx context.Context, h room.History) (int, error)
}

// Store is what the fetcher reads (*store.DB).
type Store interface {
	EventsByID(ctx context.Context, ids []id.EventID) ([]store.Event, error)
	JoinedServers(ctx context.Context, roomID id.RoomID, self id.ServerName) ([]id.ServerName, error)
	RoomEventsTopo(ctx context.Context, roomID id.RoomID, from, to store.TopoPos, dir store.Direction, limit int) ([]store.Event, error)
	BackwardExtremitiesBetween(ctx context.Context, roomID id.RoomID, lo, hi store.TopoPos) ([]store.BackwardExtremity, error)
	BackwardExtremitiesDue(ctx context.Context, now int64, limit int) ([]store.BackwardExtremity, error)
	// Write records and forgets holes in rooms' history
	// (store.BackwardExtremity) and the outcome of their fetches.
	Write(ctx context.Context, fn func(tx *store.Tx) error) error
}

var (
	_ Remote = (*federation.Client)(nil)
	_ Keys   = (*serverkeys.Keys)(nil)
	_ Rooms  = (*room.Service)(nil)
	_ Store  = (*store.DB)(nil)
)

// Fetcher fetches events from other servers. Its fields are set by
// cmd/hafen; it is safe for concurrent use.
type Fetcher struct {
	ServerName id.ServerName
	Remote     Remote
	Keys       Keys
	Rooms      Rooms
	DB         Store
	Logger     *slog.Logger
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
	// GapRetryBase is the wait before the first retry of a failed gap
	// fetch (DefaultGapRetryBase when zero); GapRetryPoll how often the
	// retrier (StartRetrier) looks for retries due (5 s when zero).
	GapRetryBase time.Duration
	GapRetryPoll time.Duration

	// mu guards quiet and gapRooms (LOCKS.md: a leaf).
	mu sync.Mutex
	// gapRooms holds the rooms whose gap FillGapLater is fetching.
	gapRooms map[id.RoomID]bool
	// quiet holds, per room, until when BackfillRoom asks no server
	// again after none had history to give.
	quiet map[id.RoomID]time.Time

	bg background.Group
}

// quietFor is how long BackfillRoom leaves a room alone after no server
// had history for it, so that clients paging at the start of what this
// server has do not wait for other servers each time.
const quietFor = time.Minute

// maxQuiet bounds the rooms remembered as quiet.
const maxQuiet = 10_000

func (f *Fetcher) now() time.Time {
	if f.Now == nil {
		return time.Now()
	}
	return f.Now()
}

// isQuiet reports whether BackfillRoom found nothing for roomID lately.
func (f *Fetcher) isQuiet(roomID id.RoomID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	until, ok := f.quiet[roomID]
	return ok && f.now().Before(until)
}

// setQuiet remembers that BackfillRoom found nothing for roomID.
func (f *Fetcher) setQuiet(roomID id.RoomID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if f.quiet == nil {
		f.quiet = map[id.RoomID]time.Time{}
	}
	if len(f.quiet) >= maxQuiet {
		for r, until := range f.quiet {
			if !now.Before(until) {
				delete(f.quiet, r)
			}
		}
		if len(f.quiet) >= maxQuiet {
			clear(f.quiet)
		}
	}
	f.quiet[roomID] = now.Add(quietFor)
}

func (f *Fetcher) log() *slog.Logger {
	if f.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return f.Logger
}

// ErrNoHistory means no server asked had history to give.
var ErrNoHistory = errors.New("no server answered with history")

// Backfill asks servers in turn (this server left out) for up to limit
// events of roomID before and including from (GET /backfill), and stores
// what the first that answers gives as history. It returns how many
// events entered the room's timeline.
func (f *Fetcher) Backfill(ctx context.Context, roomID id.RoomID, servers []id.ServerName, from []id.EventID, limit int) (int, error) {
	v, err := f.version(ctx, roomID)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	var asked []id.ServerName
	for _, srv := range servers {
		if srv != f.ServerName && srv != "" && !slices.Contains(asked, srv) {
			asked = append(asked, srv)
		}
	}
	_, n, err := f.backfillAny(ctx, asked, v, roomID, from, limit)
	return n, err
}

// backfillPiece asks srv for up to limit events before and including from
// and stores them as history; it returns the checked events srv answered
// and how many entered the timeline.
func (f *Fetcher) backfillPiece(ctx context.Context, srv id.ServerName, v *roomversion.Version, roomID id.RoomID, from []id.EventID, limit int) ([]*event.PDU, int, error) {
	q := url.Values{}
	for _, eid := range from {
		q.Add("v", string(eid))
	}
	q.Set("limit", fmt.Sprint(limit))
	var resp struct {
		PDUs []json.RawMessage `json:"pdus"`
	}
	err := f.Remote.DoJSON(ctx, federation.Request{
		Destination: srv, Method: http.MethodGet,
		Path: "/_matrix/federation/v1/backfill/" + url.PathEscape(string(roomID)) + "?" + q.Encode(),
	}, &resp)
	if err != nil {
		return nil, 0, fmt.Errorf("backfill via %s: %w", srv, err)
	}
	if len(resp.PDUs) > limit {
		resp.PDUs = resp.PDUs[:limit]
	}
	checked, err := f.check(ctx, srv, v, roomID, resp.PDUs)
	if err != nil {
		return nil, 0, fmt.Errorf("backfill via %s: %w", srv, err)
	}
	// Auth events fetched on the way are outliers; the history is what
	// the server answered.
	answered := map[id.EventID]bool{}
	for _, raw := range resp.PDUs {
		if eid, err := event.ComputeEventID(raw, v); err == nil {
			answered[eid] = true
		}
	}
	var hist, outliers []*event.PDU
	for _, e := range checked {
		if answered[e.EventID()] {
			hist = append(hist, e)
		} else {
			outliers = append(outliers, e)
		}
	}
	if err := f.Rooms.StoreOutliers(ctx, roomID, outliers); err != nil {
		return nil, 0, err
	}
	n, err := f.Rooms.ImportHistory(ctx, room.History{
		RoomID: roomID, Origin: srv, Events: hist,
		StateBefore: func(ctx context.Context, e *event.PDU) (room.StateIDs, error) {
			return f.stateBefore(ctx, srv, v, roomID, e.EventID())
		},
	})
	if err != nil {
		return nil, 0, err
	}
	f.log().Debug("backfilled history", "origin", string(srv), "room_id", string(roomID), "events", n)
	return hist, n, nil
}

// BackfillRoom fetches up to limit events of history before the earliest
// event of roomID's timeline from the servers in the room, unless the
// timeline already starts with the room's create event. It returns how
// many events entered the timeline (0 when there is nothing to fetch).
// After a fetch that brought nothing it leaves the room alone for a
// minute.
func (f *Fetcher) BackfillRoom(ctx context.Context, roomID id.RoomID, limit int) (int, error) {
	if f.isQuiet(roomID) {
		return 0, nil
	}
	ctx, cancel := context.WithTimeout(ctx, RoomBackfillTimeout)
	defer cancel()
	n, err := f.backfillRoom(ctx, roomID, limit)
	if n == 0 && !errors.Is(ctx.Err(), context.Canceled) {
		// A request the client gave up on leaves the room to the next
		// one; servers that answered nothing, or too slowly, do not.
		f.setQuiet(roomID)
	}
	return n, err
}

func (f *Fetcher) backfillRoom(ctx context.Context, roomID id.RoomID, limit int) (int, error) {
	first, err := f.DB.RoomEventsTopo(ctx, roomID, store.TopoPos{}, store.MaxTopoPos, store.Forward, 1)
	if err != nil {
		return 0, err
	}
	if len(first) == 0 || first[0].Type == "m.room.create" {
		return 0, nil
	}
	others, err := f.DB.JoinedServers(ctx, roomID, f.ServerName)
	if err != nil {
		return 0, err
	}
	// The sender's server of the earliest event first: it had it.
	servers := []id.ServerName{first[0].Sender.Domain()}
	for _, d := range others {
		if !slices.Contains(servers, d) {
			servers = append(servers, d)
		}
	}
	n, err := f.Backfill(ctx, roomID, servers, []id.EventID{first[0].EventID}, limit+1)
	if n == 0 {
		// Another fetch (the one after a join) may have stored the same
		// history meanwhile: the timeline still grew.
		if now, ferr := f.DB.RoomEventsTopo(ctx, roomID, store.TopoPos{}, store.MaxTopoPos, store.Forward, 1); ferr == nil &&
			len(now) == 1 && now[0].EventID != first[0].EventID {
			return 1, err
		}
	}
	return n, err
}

// StateBefore fetches from srv the state of roomID before eventID
// (/state_ids, and the events it names that this server lacks), checks
// and stores those events as outliers, and returns the state.
func (f *Fetcher) StateBefore(ctx context.Context, srv id.ServerName, roomID id.RoomID, eventID id.EventID) (room.StateIDs, error) {
	v, err := f.version(ctx, roomID)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	return f.stateBefore(ctx, srv, v, roomID, eventID)
}

// StateAfter fetches from srv the state of roomID after eventID: the
// state before it (see StateBefore) with the event itself, fetched,
// checked and stored as an outlier if this server lacks it, in its place
// if it is a state event that passed its checks.
func (f *Fetcher) StateAfter(ctx context.Context, srv id.ServerName, roomID id.RoomID, eventID id.EventID) (room.StateIDs, error) {
	v, err := f.version(ctx, roomID)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	st, err := f.stateBefore(ctx, srv, v, roomID, eventID)
	if err != nil {
		return nil, err
	}
	known, err := f.DB.EventsByID(ctx, []id.EventID{eventID})
	if err != nil {
		return nil, err
	}
	var e *event.PDU
	switch {
	case len(known) == 1 && known[0].RoomID == roomID:
		if known[0].Rejected || known[0].StateKey == nil {
			return st, nil
		}
		st[event.StateKey{Type: known[0].Type, StateKey: *known[0].StateKey}] = eventID
		return st, nil
	default:
		raw, err := f.fetchEvent(ctx, srv, eventID)
		if err != nil {
			return nil, fmt.Errorf("state after %s via %s: %w", eventID, srv, err)
		}
		checked, err := f.check(ctx, srv, v, roomID, []json.RawMessage{raw})
		if err != nil {
			return nil, fmt.Errorf("state after %s via %s: %w", eventID, srv, err)
		}
		if err := f.Rooms.StoreOutliers(ctx, roomID, checked); err != nil {
			return nil, err
		}
		for _, c := range checked {
			if c.EventID() == eventID {
				e = c
			}
		}
	}
	if e != nil && e.IsState() {
		st[e.StateKeyTuple()] = eventID
	}
	return st, nil
}

func (f *Fetcher) stateBefore(ctx context.Context, srv id.ServerName, v *roomversion.Version, roomID id.RoomID, eventID id.EventID) (room.StateIDs, error) {
	var ids struct {
		PDUIDs       []id.EventID `json:"pdu_ids"`
		AuthChainIDs []id.EventID `json:"auth_chain_ids"`
	}
	path := url.PathEscape(string(roomID)) + "?event_id=" + url.QueryEscape(string(eventID))
	err := f.Remote.DoJSON(ctx, federation.Request{
		Destination: srv, Method: http.MethodGet, Path: "/_matrix/federation/v1/state_ids/" + path,
	}, &ids)
	if err != nil {
		return nil, fmt.Errorf("state at %s via %s: %w", eventID, srv, err)
	}
	if len(ids.PDUIDs)+len(ids.AuthChainIDs) > maxStateIDs {
		return nil, fmt.Errorf("state at %s via %s: %d events is too many", eventID, srv, len(ids.PDUIDs)+len(ids.AuthChainIDs))
	}
	all := append(slices.Clip(ids.PDUIDs), ids.AuthChainIDs...)
	known, err := f.known(ctx, roomID, all)
	if err != nil {
		return nil, err
	}
	var missing []id.EventID
	for _, eid := range all {
		if _, ok := known[eid]; !ok && !slices.Contains(missing, eid) {
			missing = append(missing, eid)
		}
	}
	var raws []json.RawMessage
	if len(missing) > stateFetchThreshold {
		var st struct {
			PDUs      []json.RawMessage `json:"pdus"`
			AuthChain []json.RawMessage `json:"auth_chain"`
		}
		err := f.Remote.DoJSON(ctx, federation.Request{
			Destination: srv, Method: http.MethodGet, Path: "/_matrix/federation/v1/state/" + path,
		}, &st)
		if err != nil {
			return nil, fmt.Errorf("state at %s via %s: %w", eventID, srv, err)
		}
		raws = append(st.AuthChain, st.PDUs...)
	} else {
		for _, eid := range missing {
			raw, err := f.fetchEvent(ctx, srv, eid)
			if err != nil {
				return nil, fmt.Errorf("state at %s via %s: %w", eventID, srv, err)
			}
			raws = append(raws, raw)
		}
	}
	checked, err := f.check(ctx, srv, v, roomID, raws)
	if err != nil {
		return nil, fmt.Errorf("state at %s via %s: %w", eventID, srv, err)
	}
	if err := f.Rooms.StoreOutliers(ctx, roomID, checked); err != nil {
		return nil, err
	}
	for _, e := range checked {
		if k, ok := e.StateKey(); ok {
			known[e.EventID()] = event.StateKey{Type: e.Type(), StateKey: k}
		}
	}
	out := room.StateIDs{}
	for _, eid := range ids.PDUIDs {
		k, ok := known[eid]
		if !ok {
			// Not given, or failed its checks: the state goes without it.
			f.log().Debug("state event left out", "origin", string(srv), "room_id", string(roomID), "event_id", string(eid))
			continue
		}
		out[k] = eid
	}
	return out, nil
}

// known returns the state keys of the stored, not rejected, state events
// of roomID among ids.
func (f *Fetcher) known(ctx context.Context, roomID id.RoomID, ids []id.EventID) (map[id.EventID]event.StateKey, error) {
	evs, err := f.DB.EventsByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[id.EventID]event.StateKey, len(evs))
	for _, e := range evs {
		if e.RoomID == roomID && !e.Rejected && e.StateKey != nil {
			out[e.EventID] = event.StateKey{Type: e.Type, StateKey: *e.StateKey}
		}
	}
	return out, nil
}

// fetchEvent fetches one event (GET /event/{eventId}).
func (f *Fetcher) fetchEvent(ctx context.Context, srv id.ServerName, eid id.EventID) (json.RawMessage, error) {
	var resp struct {
		PDUs []json.RawMessage `json:"pdus"`
	}
	err := f.Remote.DoJSON(ctx, federation.Request{
		Destination: srv, Method: http.MethodGet, Path: "/_matrix/federation/v1/event/" + url.PathEscape(string(eid)),
	}, &resp)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", eid, err)
	}
	if len(resp.PDUs) != 1 {
		return nil, fmt.Errorf("fetch %s: %d pdus in the answer", eid, len(resp.PDUs))
	}
	return resp.PDUs[0], nil
}

func (f *Fetcher) version(ctx context.Context, roomID id.RoomID) (*roomversion.Version, error) {
	vs, err := f.Rooms.Version(ctx, roomID)
	if err != nil {
		return nil, err
	}
	v, ok := roomversion.Lookup(roomversion.ID(vs))
	if !ok {
		return nil, fmt.Errorf("room %s: version %q not supported", roomID, vs)
	}
	return v, nil
}
