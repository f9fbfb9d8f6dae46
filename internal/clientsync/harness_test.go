package clientsync

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/clientevent"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/store/storetest"
	"github.com/hafenchat/hafen/internal/stream"
)

const (
	testServer = id.ServerName("hafen.test")
	alice      = id.UserID("@alice:hafen.test")
	bob        = id.UserID("@bob:hafen.test")
	carol      = id.UserID("@carol:hafen.test")
	dave       = id.UserID("@dave:hafen.test")
)

// testNow is the fixed clock of the tests, so that responses computed at
// different times (unsigned.age) compare equal.
var testNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// forEachBackend runs f once on SQLite and once on PostgreSQL (when
// HAFEN_TEST_POSTGRES_DSN is set), as subtests named after the backend;
// newHarness opens the backend its test runs under.
func forEachBackend(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	for _, b := range storetest.Backends() {
		t.Run(b, f)
	}
}

// backendOf returns the backend a test runs under: the subtest name
// forEachBackend gave it, SQLite outside forEachBackend (benchmarks).
func backendOf(t testing.TB) string {
	parts := strings.Split(t.Name(), "/")
	if len(parts) > 1 && slices.Contains(storetest.Backends(), parts[1]) {
		return parts[1]
	}
	return "sqlite"
}

// harness is a sync Service fed by a real event path over a real store.
type harness struct {
	t     testing.TB
	ctx   context.Context
	db    *store.DB
	rooms *room.Service
	sync  *Service
	calls *countingStore
}

// newHarness returns a harness whose sync ring holds ringSize events (0:
// the default).
func newHarness(t testing.TB, ringSize int) *harness {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	db, err := store.Open(ctx, storetest.DSN(t, backendOf(t)), log)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	key, err := signing.KeyFromSeed(testServer, "ed25519:test", make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	// The event path's clock ticks on every read, so that two rooms
	// created alike still get distinct create events (and room IDs).
	var tick atomic.Int64
	now := func() time.Time { return testNow.Add(-time.Hour + time.Duration(tick.Add(1))*time.Millisecond) }
	pos, err := db.MaxStreamPos(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rooms := room.New(room.Config{DB: db, ServerName: testServer, Key: key, Logger: log, Now: now, Stream: stream.New(pos, 0)})
	h := &harness{t: t, ctx: ctx, db: db, rooms: rooms}
	h.calls = &countingStore{Store: db}
	h.sync = h.addSync(ringSize)
	return h
}

// addSync wires one more sync Service to the event path, as
// cmd/hafen/serve.go does.
func (h *harness) addSync(ringSize int) *Service {
	h.t.Helper()
	pos, err := h.db.MaxStreamPos(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	adPos, err := h.db.MaxAccountDataPos(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	rcPos, err := h.db.MaxReceiptPos(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	db := &countingStore{Store: h.db}
	if h.sync == nil {
		db = h.calls
	}
	s := New(Config{DB: db, Rooms: h.rooms, Logger: slog.New(slog.DiscardHandler), Stream: h.rooms.Stream(),
		StreamPos: pos, AccountDataPos: adPos, ReceiptPos: rcPos, RingSize: ringSize, Now: func() time.Time { return testNow },
		// Each receipt is shown at once; TestReceiptsShownTogether
		// tests the pacing.
		ReceiptInterval: -1})
	if err := s.Start(h.ctx); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(s.Stop)
	return s
}

type roomOpt func(*room.CreateRequest)

func withState(typ, stateKey, content string) roomOpt {
	return func(r *room.CreateRequest) {
		r.InitialState = append(r.InitialState, room.StateEvent{Type: typ, StateKey: stateKey, Content: json.RawMessage(content)})
	}
}

func withInvite(users ...id.UserID) roomOpt {
	return func(r *room.CreateRequest) { r.Invite = append(r.Invite, users...) }
}

// createRoom creates a public room (anyone may join) of version 12.
func (h *harness) createRoom(creator id.UserID, opts ...roomOpt) id.RoomID {
	h.t.Helper()
	r := &room.CreateRequest{Creator: creator, Version: roomversion.V12, Preset: room.PresetPublicChat}
	for _, o := range opts {
		o(r)
	}
	roomID, err := h.rooms.CreateRoom(h.ctx, r)
	if err != nil {
		h.t.Fatalf("CreateRoom: %v", err)
	}
	return roomID
}

// send sends an m.room.message with the given body and returns its ID.
func (h *harness) send(roomID id.RoomID, sender id.UserID, body string) id.EventID {
	h.t.Helper()
	return h.sendTxn(roomID, sender, "", "", body)
}

func (h *harness) sendTxn(roomID id.RoomID, sender id.UserID, device id.DeviceID, txnID, body string) id.EventID {
	h.t.Helper()
	content := fmt.Sprintf(`{"msgtype":"m.text","body":%q}`, body)
	pdu, _, err := h.rooms.Send(h.ctx, roomID, room.Proposal{Type: "m.room.message", Sender: sender,
		Content: json.RawMessage(content), DeviceID: device, TxnID: txnID})
	if err != nil {
		h.t.Fatalf("send %q: %v", body, err)
	}
	return pdu.EventID()
}

// sendMany sends n messages from several goroutines at once (so the event
// path batches them), for windows far larger than any timeline.
func (h *harness) sendMany(roomID id.RoomID, sender id.UserID, n int) {
	h.t.Helper()
	const workers = 16
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				content := fmt.Sprintf(`{"msgtype":"m.text","body":"bulk %d"}`, i)
				if _, _, err := h.rooms.Send(h.ctx, roomID, room.Proposal{Type: "m.room.message", Sender: sender, Content: json.RawMessage(content)}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		h.t.Fatalf("send: %v", err)
	}
}

// state sends a state event.
func (h *harness) state(roomID id.RoomID, sender id.UserID, typ, stateKey, content string) id.EventID {
	h.t.Helper()
	pdu, _, err := h.rooms.Send(h.ctx, roomID, room.Proposal{Type: typ, StateKey: &stateKey, Sender: sender, Content: json.RawMessage(content)})
	if err != nil {
		h.t.Fatalf("send %s: %v", typ, err)
	}
	return pdu.EventID()
}

// member changes target's membership.
func (h *harness) member(roomID id.RoomID, sender, target id.UserID, membership string) id.EventID {
	h.t.Helper()
	pdu, err := h.rooms.ChangeMembership(h.ctx, roomID, room.MembershipChange{Sender: sender, Target: target, Membership: membership})
	if err != nil {
		h.t.Fatalf("%s %s by %s: %v", membership, target, sender, err)
	}
	return pdu.EventID()
}

func (h *harness) syncWith(s *Service, req Request) *Response {
	h.t.Helper()
	resp, err := s.Sync(h.ctx, req)
	if err != nil {
		h.t.Fatalf("Sync(%+v): %v", req, err)
	}
	return resp
}

// initial runs an initial sync for user.
func (h *harness) initial(user id.UserID, f *Filter) *Response {
	h.t.Helper()
	return h.syncWith(h.sync, Request{User: user, Device: "DEV", Filter: f})
}

// next runs an incremental sync with no timeout.
func (h *harness) next(user id.UserID, since string, f *Filter) *Response {
	h.t.Helper()
	return h.syncWith(h.sync, Request{User: user, Device: "DEV", Since: since, Filter: f})
}

// pos returns the token of the newest position, once sync has applied
// every event committed so far.
func (h *harness) pos() string {
	h.t.Helper()
	if err := h.sync.caughtUp(h.ctx); err != nil {
		h.t.Fatal(err)
	}
	return Token(h.sync.Position())
}

// bodies returns the body of each message event of a timeline and the
// type of every other event, in order.
func bodies(evs []clientevent.Event) []string {
	out := []string{}
	for _, ev := range evs {
		if ev.Type != "m.room.message" {
			out = append(out, ev.Type)
			continue
		}
		var c struct {
			Body string `json:"body"`
		}
		_ = json.Unmarshal(ev.Content, &c)
		out = append(out, c.Body)
	}
	return out
}

func eventIDs(evs []clientevent.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.EventID
	}
	return out
}

// stateKeys returns "type|state_key" of each event, sorted.
func stateKeys(evs []clientevent.Event) []string {
	out := []string{}
	for _, ev := range evs {
		out = append(out, ev.Type+"|"+deref(ev.StateKey))
	}
	slices.Sort(out)
	return out
}

func hasKey(evs []clientevent.Event, typ, stateKey string) bool {
	return slices.Contains(stateKeys(evs), typ+"|"+stateKey)
}

func roomsOf(r *Response) *Rooms {
	if r.Rooms == nil {
		return newRooms()
	}
	return r.Rooms
}

func msgs(n int, prefix string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

func intp(n int) *int { return &n }

// countingStore counts the calls sync makes to the database.
type countingStore struct {
	Store
	n atomic.Int64
	// ranges records the room and limit of each RoomEventsRange call.
	rangesMu sync.Mutex
	ranges   []rangeCall
	// onMemberships, when set, runs before each membership load, and
	// afterMemberships after its query.
	onMemberships    atomic.Pointer[func()]
	afterMemberships atomic.Pointer[func()]
	// replacedReads counts the reads of the state events others replaced.
	replacedReads atomic.Int64
}

func (c *countingStore) ReplacedStateEvents(ctx context.Context, events []store.Event, known map[int64]int64) (map[int64]store.Event, error) {
	c.replacedReads.Add(1)
	return c.Store.ReplacedStateEvents(ctx, events, known)
}

var _ Store = (*countingStore)(nil)

func (c *countingStore) UserMembershipsSince(ctx context.Context, userID id.UserID, pos int64) ([]store.Member, error) {
	c.n.Add(1)
	if f := c.onMemberships.Load(); f != nil {
		(*f)()
	}
	ms, err := c.Store.UserMembershipsSince(ctx, userID, pos)
	if f := c.afterMemberships.Load(); f != nil {
		(*f)()
	}
	return ms, err
}

// rangeCall is one RoomEventsRange call.
type rangeCall struct {
	room  id.RoomID
	limit int
}

// takeRanges returns the RoomEventsRange calls since the last take.
func (c *countingStore) takeRanges() []rangeCall {
	c.rangesMu.Lock()
	defer c.rangesMu.Unlock()
	out := c.ranges
	c.ranges = nil
	return out
}

func (c *countingStore) RoomEventsRange(ctx context.Context, roomID id.RoomID, from, to int64, dir store.Direction, limit int) ([]store.Event, error) {
	c.n.Add(1)
	c.rangesMu.Lock()
	c.ranges = append(c.ranges, rangeCall{roomID, limit})
	c.rangesMu.Unlock()
	return c.Store.RoomEventsRange(ctx, roomID, from, to, dir, limit)
}

func (c *countingStore) StateGroupBeforeEvent(ctx context.Context, nid int64) (int64, error) {
	c.n.Add(1)
	return c.Store.StateGroupBeforeEvent(ctx, nid)
}

func (c *countingStore) StateAtGroup(ctx context.Context, groupID int64) (map[store.StateKey]int64, error) {
	c.n.Add(1)
	return c.Store.StateAtGroup(ctx, groupID)
}

func (c *countingStore) EventsByNID(ctx context.Context, nids []int64) ([]store.Event, error) {
	c.n.Add(1)
	return c.Store.EventsByNID(ctx, nids)
}

func (c *countingStore) StateGroupsBeforeEvents(ctx context.Context, nids []int64) (map[int64]int64, error) {
	c.n.Add(1)
	return c.Store.StateGroupsBeforeEvents(ctx, nids)
}

func (c *countingStore) StateKeysAtGroup(ctx context.Context, groupID int64, keys []store.StateKey) (map[store.StateKey]int64, error) {
	c.n.Add(1)
	return c.Store.StateKeysAtGroup(ctx, groupID, keys)
}

func (c *countingStore) Membership(ctx context.Context, roomID id.RoomID, userID id.UserID) (store.Member, error) {
	c.n.Add(1)
	return c.Store.Membership(ctx, roomID, userID)
}

func (c *countingStore) Event(ctx context.Context, eventID id.EventID) (store.Event, error) {
	c.n.Add(1)
	return c.Store.Event(ctx, eventID)
}

func (c *countingStore) RoomsWithEventsInRange(ctx context.Context, userID id.UserID, after, upto int64) ([]id.RoomID, error) {
	c.n.Add(1)
	return c.Store.RoomsWithEventsInRange(ctx, userID, after, upto)
}

func (c *countingStore) MemberEventsInRange(ctx context.Context, roomID id.RoomID, userID id.UserID, after, upto int64) ([]store.Event, error) {
	c.n.Add(1)
	return c.Store.MemberEventsInRange(ctx, roomID, userID, after, upto)
}

func (c *countingStore) Filter(ctx context.Context, userID id.UserID, filterID int64) ([]byte, error) {
	c.n.Add(1)
	return c.Store.Filter(ctx, userID, filterID)
}

// equalJSON compares two values by their JSON encoding.
func equalJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

func userID(s string) id.UserID     { return id.UserID(s) }
func deviceID(s string) id.DeviceID { return id.DeviceID(s) }

func (c *countingStore) AccountDataSince(ctx context.Context, userID id.UserID, since int64) ([]store.AccountData, error) {
	c.n.Add(1)
	return c.Store.AccountDataSince(ctx, userID, since)
}

func (c *countingStore) AccountDataOf(ctx context.Context, userID id.UserID, roomID id.RoomID, typ string) ([]byte, error) {
	c.n.Add(1)
	return c.Store.AccountDataOf(ctx, userID, roomID, typ)
}

func (c *countingStore) RoomReceipts(ctx context.Context, roomID id.RoomID) ([]store.Receipt, error) {
	c.n.Add(1)
	return c.Store.RoomReceipts(ctx, roomID)
}

func (c *countingStore) ReceiptsSince(ctx context.Context, since int64, limit int) ([]store.Receipt, error) {
	c.n.Add(1)
	return c.Store.ReceiptsSince(ctx, since, limit)
}

func (c *countingStore) UserReceipts(ctx context.Context, roomID id.RoomID, userID id.UserID) ([]store.Receipt, error) {
	c.n.Add(1)
	return c.Store.UserReceipts(ctx, roomID, userID)
}
