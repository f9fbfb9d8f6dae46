package room

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/stream"
)

const testServer = id.ServerName("hafen.test")

// recorder consumes the service's stream and records the positions it
// sees.
type recorder struct {
	c   *stream.Consumer
	mu  sync.Mutex
	pos []int64
	// groups holds the state group before each event as published.
	groups map[id.EventID]int64
}

func (r *recorder) handle(_ context.Context, evs []stream.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.groups == nil {
		r.groups = map[id.EventID]int64{}
	}
	for _, e := range evs {
		r.pos = append(r.pos, e.StreamPos)
		r.groups[e.PDU.EventID()] = e.StateGroupBefore
	}
	return nil
}

func newService(t *testing.T, path string) (*Service, *store.DB, *recorder) {
	t.Helper()
	return newServiceWith(t, path, Config{})
}

// newServiceWith opens the store at path (a file or a PostgreSQL DSN) and
// returns a Service with cfg's optional settings.
func newServiceWith(t *testing.T, path string, cfg Config) (*Service, *store.DB, *recorder) {
	t.Helper()
	db, err := store.Open(context.Background(), path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	key, err := signing.KeyFromSeed(testServer, "ed25519:test", make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	pos, err := db.MaxStreamPos(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st := stream.New(pos, 0)
	cfg.DB, cfg.ServerName, cfg.Key, cfg.Logger, cfg.Stream = db, testServer, key, slog.New(slog.DiscardHandler), st
	s := New(cfg)
	t.Cleanup(s.Close)
	rec := &recorder{}
	rec.c = stream.NewConsumer(stream.ConsumerConfig{Name: "recorder", Stream: st, DB: db, Handle: rec.handle, From: pos})
	if err := rec.c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rec.c.Stop)
	return s, db, rec
}

func text(body string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"msgtype":"m.text","body":%q}`, body))
}

func TestCreateRoomEveryVersion(t *testing.T) {
	for _, v := range roomversion.All() {
		t.Run("v"+string(v.ID), func(t *testing.T) {
			s, db, _ := newService(t, filepath.Join(t.TempDir(), "hafen.db"))
			ctx := context.Background()
			alice := id.UserID("@alice:hafen.test")
			name := "Lobby"
			roomID, err := s.CreateRoom(ctx, &CreateRequest{Creator: alice, Version: v, Name: &name, Preset: PresetPublicChat})
			if err != nil {
				t.Fatalf("CreateRoom: %v", err)
			}
			if v.RoomIDFromCreateEvent == (roomID.Domain() != "") {
				t.Errorf("room ID %s has the wrong form for v%s", roomID, v.ID)
			}
			ev, err := s.CurrentStateEvent(ctx, roomID, "m.room.name", "")
			if err != nil || ev == nil {
				t.Fatalf("name state = %v, %v", ev, err)
			}
			if m, _ := s.CurrentMembership(ctx, roomID, alice); m != MembershipJoin {
				t.Errorf("creator membership = %q, want join", m)
			}
			joined, err := db.JoinedRooms(ctx, alice)
			if err != nil || len(joined) != 1 || joined[0] != roomID {
				t.Errorf("JoinedRooms = %v, %v; want [%s]", joined, err, roomID)
			}
			// Every stored event must parse for the version and carry a
			// valid signature and content hash.
			evs, err := db.RoomEventsRange(ctx, roomID, 0, 1<<62, store.Forward, 100)
			if err != nil || len(evs) < 6 {
				t.Fatalf("stored events = %d, %v", len(evs), err)
			}
			for _, e := range evs {
				if _, err := event.Parse(e.JSON, v); err != nil {
					t.Errorf("stored event %s does not parse: %v", e.EventID, err)
				}
				if err := event.CheckContentHash(e.JSON); err != nil {
					t.Errorf("stored event %s: %v", e.EventID, err)
				}
			}
		})
	}
}

func TestSendBatchesAndPersistsInOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hafen.db")
	s, db, rec := newService(t, path)
	ctx := context.Background()
	alice := id.UserID("@alice:hafen.test")
	roomID, err := s.CreateRoom(ctx, &CreateRequest{Creator: alice, Version: roomversion.V12})
	if err != nil {
		t.Fatal(err)
	}
	const senders, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, senders*each)
	for i := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				_, _, err := s.Send(ctx, roomID, Proposal{Type: "m.room.message", Sender: alice, Content: text(fmt.Sprintf("%d-%d", i, j))})
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	evs, err := db.RoomEventsRange(ctx, roomID, 0, 1<<62, store.Forward, 1000)
	if err != nil {
		t.Fatal(err)
	}
	// The DAG must be a single chain: each event's only prev event is the
	// one before it in stream order, and depth grows by one.
	for i := 1; i < len(evs); i++ {
		pdu, err := event.ParseTrusted(evs[i].JSON, roomversion.V12, evs[i].EventID)
		if err != nil {
			t.Fatal(err)
		}
		if prev := pdu.PrevEvents(); len(prev) != 1 || prev[0] != evs[i-1].EventID {
			t.Fatalf("event %d prev_events = %v, want [%s]", i, prev, evs[i-1].EventID)
		}
		if pdu.Depth() != evs[i-1].Depth+1 {
			t.Fatalf("event %d depth = %d, want %d", i, pdu.Depth(), evs[i-1].Depth+1)
		}
	}
	if err := rec.c.WaitFor(ctx, s.Stream().Position()); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	for i := 1; i < len(rec.pos); i++ {
		if rec.pos[i] <= rec.pos[i-1] {
			t.Fatalf("consumer saw positions out of order: %v", rec.pos)
		}
	}
	if len(rec.pos) != len(evs) {
		t.Errorf("consumer saw %d events, want %d", len(rec.pos), len(evs))
	}
	rec.mu.Unlock()

	// A fresh service over the same database continues the chain.
	db.Close()
	s2, db2, _ := newService(t, path)
	ev, _, err := s2.Send(ctx, roomID, Proposal{Type: "m.room.message", Sender: alice, Content: text("after restart")})
	if err != nil {
		t.Fatalf("Send after reload: %v", err)
	}
	last := evs[len(evs)-1]
	if prev := ev.PrevEvents(); len(prev) != 1 || prev[0] != last.EventID || ev.Depth() != last.Depth+1 {
		t.Errorf("after reload prev=%v depth=%d, want [%s] %d", prev, ev.Depth(), last.EventID, last.Depth+1)
	}
	_ = db2
}

func TestMembershipFollowsAuthRules(t *testing.T) {
	s, _, _ := newService(t, filepath.Join(t.TempDir(), "hafen.db"))
	ctx := context.Background()
	alice, bob, eve := id.UserID("@alice:hafen.test"), id.UserID("@bob:hafen.test"), id.UserID("@eve:hafen.test")
	roomID, err := s.CreateRoom(ctx, &CreateRequest{Creator: alice, Version: roomversion.V11, Preset: PresetPrivateChat})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		change  MembershipChange
		wantErr error
	}{
		{"auth: join to an invite-only room without invite is rejected", MembershipChange{Sender: eve, Target: eve, Membership: MembershipJoin}, ErrForbidden},
		{"auth: the creator invites bob", MembershipChange{Sender: alice, Target: bob, Membership: MembershipInvite}, nil},
		{"auth: bob joins after the invite", MembershipChange{Sender: bob, Target: bob, Membership: MembershipJoin}, nil},
		{"auth: bob (power 0) cannot ban", MembershipChange{Sender: bob, Target: alice, Membership: MembershipBan}, ErrForbidden},
		{"auth: alice bans bob", MembershipChange{Sender: alice, Target: bob, Membership: MembershipBan}, nil},
		{"auth: a banned user cannot join", MembershipChange{Sender: bob, Target: bob, Membership: MembershipJoin}, ErrForbidden},
	}
	for _, st := range steps {
		_, err := s.ChangeMembership(ctx, roomID, st.change)
		if !errors.Is(err, st.wantErr) && !(st.wantErr == nil && err == nil) {
			t.Errorf("%s: err = %v, want %v", st.name, err, st.wantErr)
		}
	}
	if m, _ := s.CurrentMembership(ctx, roomID, bob); m != MembershipBan {
		t.Errorf("bob membership = %q, want ban", m)
	}
	if _, _, err := s.Send(ctx, "!unknown:hafen.test", Proposal{Type: "m.room.message", Sender: alice, Content: text("x")}); !errors.Is(err, ErrRoomNotFound) {
		t.Errorf("send to unknown room: err = %v, want ErrRoomNotFound", err)
	}
}

func TestPlanCreateOrderAndOverrides(t *testing.T) {
	name, topic := "N", "T"
	plan, err := planCreate(&CreateRequest{
		Creator: "@a:x", Version: roomversion.V12, Preset: PresetTrustedPrivateChat, Name: &name, Topic: &topic,
		Invite:                    []id.UserID{"@b:x", "@b:x"},
		InitialState:              []StateEvent{{Type: "m.room.join_rules", Content: json.RawMessage(`{"join_rule":"public"}`)}, {Type: "m.room.name", Content: json.RawMessage(`{"name":"ignored"}`)}},
		PowerLevelContentOverride: map[string]json.RawMessage{"ban": json.RawMessage(`25`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, p := range plan {
		order = append(order, p.typ+"|"+p.stateKey)
	}
	want := []string{"m.room.create|", "m.room.member|@a:x", "m.room.power_levels|", "m.room.join_rules|",
		"m.room.history_visibility|", "m.room.guest_access|", "m.room.name|", "m.room.topic|", "m.room.member|@b:x"}
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Fatalf("createRoom order = %v\nwant %v", order, want)
	}
	var create struct {
		AdditionalCreators []string `json:"additional_creators"`
		Creator            *string  `json:"creator"`
	}
	_ = json.Unmarshal(plan[0].content, &create)
	if fmt.Sprint(create.AdditionalCreators) != "[@b:x]" || create.Creator != nil {
		t.Errorf("v12 trusted_private_chat create content = %s", plan[0].content)
	}
	var pl struct {
		Ban   int              `json:"ban"`
		Users map[string]int   `json:"users"`
		Evs   map[string]int64 `json:"events"`
	}
	_ = json.Unmarshal(plan[2].content, &pl)
	if pl.Ban != 25 || len(pl.Users) != 0 || pl.Evs["m.room.tombstone"] != 150 {
		t.Errorf("v12 power levels = %s; want ban 25, no creators in users, tombstone 150", plan[2].content)
	}
	if string(plan[3].content) != `{"join_rule":"public"}` || string(plan[6].content) != `{"name":"N"}` {
		t.Errorf("initial_state must override the preset and name must override initial_state: %s %s", plan[3].content, plan[6].content)
	}
	if _, err := planCreate(&CreateRequest{Creator: "@a:x", Version: roomversion.V10, InitialState: []StateEvent{{Type: "m.room.member", StateKey: "@a:x", Content: json.RawMessage(`{"membership":"leave"}`)}}}); !errors.Is(err, ErrInvalidRoomState) {
		t.Errorf("initial_state with the creator's membership: err = %v, want ErrInvalidRoomState", err)
	}
	_ = rand.Reader
}

func TestRedactionMarksItsTarget(t *testing.T) {
	s, db, _ := newService(t, filepath.Join(t.TempDir(), "hafen.db"))
	ctx := context.Background()
	alice := id.UserID("@alice:hafen.test")
	roomID, err := s.CreateRoom(ctx, &CreateRequest{Creator: alice, Version: roomversion.V11})
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.CreateRoom(ctx, &CreateRequest{Creator: alice, Version: roomversion.V11})
	if err != nil {
		t.Fatal(err)
	}
	msg, _, err := s.Send(ctx, roomID, Proposal{Type: "m.room.message", Sender: alice, Content: text("oops")})
	if err != nil {
		t.Fatal(err)
	}
	// A redaction in another room must not touch the event.
	if _, _, err := s.Send(ctx, other, Proposal{Type: "m.room.redaction", Sender: alice, Content: json.RawMessage(fmt.Sprintf(`{"redacts":%q}`, msg.EventID()))}); err != nil {
		t.Fatal(err)
	}
	if ev, _ := db.Event(ctx, msg.EventID()); ev.RedactedBecause != "" {
		t.Fatalf("a redaction in another room marked the event: %s", ev.RedactedBecause)
	}
	red, _, err := s.Send(ctx, roomID, Proposal{Type: "m.room.redaction", Sender: alice, Content: json.RawMessage(fmt.Sprintf(`{"redacts":%q}`, msg.EventID()))})
	if err != nil {
		t.Fatal(err)
	}
	if ev, _ := db.Event(ctx, msg.EventID()); ev.RedactedBecause != red.EventID() {
		t.Errorf("redacted_because = %q, want %s", ev.RedactedBecause, red.EventID())
	}
}

// Spec: Client-Server API § Transaction identifiers — a retried txnId
// returns the original event. Retries racing their original (same batch,
// or the next batch before the original's commit is visible to the
// handler) must neither create a second event nor fail the other events
// of their batch.
func TestConcurrentTxnRetriesShareTheOriginal(t *testing.T) {
	s, db, _ := newService(t, filepath.Join(t.TempDir(), "hafen.db"))
	ctx := context.Background()
	alice, bob := id.UserID("@alice:hafen.test"), id.UserID("@bob:hafen.test")
	roomID, err := s.CreateRoom(ctx, &CreateRequest{Creator: alice, Version: roomversion.V12, Preset: PresetPublicChat})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ChangeMembership(ctx, roomID, MembershipChange{Sender: bob, Target: bob, Membership: MembershipJoin}); err != nil {
		t.Fatal(err)
	}
	const retries, others = 20, 20
	ids := make(chan id.EventID, retries)
	errs := make(chan error, retries+others)
	var wg sync.WaitGroup
	for range retries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pdu, _, err := s.Send(ctx, roomID, Proposal{Type: "m.room.message", Sender: alice, Content: text("once"), TxnID: "t1", DeviceID: "DEV"})
			errs <- err
			if err == nil {
				ids <- pdu.EventID()
			}
		}()
	}
	for i := range others {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := s.Send(ctx, roomID, Proposal{Type: "m.room.message", Sender: bob, Content: text(fmt.Sprint(i))})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	close(ids)
	for err := range errs {
		if err != nil {
			t.Fatalf("send failed: %v", err)
		}
	}
	var first id.EventID
	for e := range ids {
		if first == "" {
			first = e
		}
		if e != first {
			t.Fatalf("retries of one transaction got different events: %s and %s", first, e)
		}
	}
	evs, err := db.RoomEventsRange(ctx, roomID, 0, 1<<62, store.Forward, 1000)
	if err != nil {
		t.Fatal(err)
	}
	onces, bobs := 0, 0
	for _, e := range evs {
		if e.Type != "m.room.message" {
			continue
		}
		if e.Sender == alice {
			onces++
		} else {
			bobs++
		}
	}
	if onces != 1 || bobs != others {
		t.Errorf("stored %d copies of the transaction and %d of %d other messages; want 1 and %d", onces, bobs, others, others)
	}
}

// Requests naming rooms that do not exist must not leave anything behind:
// otherwise any client could grow the server's memory without bound.
func TestUnknownRoomsLeaveNoState(t *testing.T) {
	s, _, _ := newService(t, filepath.Join(t.TempDir(), "hafen.db"))
	ctx := context.Background()
	for i := range 50 {
		roomID := id.RoomID(fmt.Sprintf("!nope%d:hafen.test", i))
		if _, err := s.CurrentState(ctx, roomID); !errors.Is(err, ErrRoomNotFound) {
			t.Fatalf("CurrentState(%s): err = %v, want ErrRoomNotFound", roomID, err)
		}
	}
	s.mu.Lock()
	n := len(s.rooms)
	s.mu.Unlock()
	if n != 0 {
		t.Errorf("%d room entries left after lookups of unknown rooms, want 0", n)
	}
}

// A retried transaction that the room's head does not remember (recorded by
// another process, or before a restart or an eviction) is answered with its
// original event from the store, and the other requests of its batch are
// persisted as usual.
func TestRetryUnknownToTheHeadIsAnsweredFromTheStore(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s1, db, _ := newService(t, dsn)
		s2, _, _ := newServiceWith(t, dsn, Config{})
		alice, bob := id.UserID("@alice:hafen.test"), id.UserID("@bob:hafen.test")
		roomID, err := s1.CreateRoom(ctx, &CreateRequest{Creator: alice, Version: roomversion.V12, Preset: PresetPublicChat})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s1.ChangeMembership(ctx, roomID, MembershipChange{Sender: bob, Target: bob, Membership: MembershipJoin}); err != nil {
			t.Fatal(err)
		}
		prop := Proposal{Type: "m.room.message", Sender: alice, Content: text("once"), TxnID: "t1", TxnScope: "send:x", DeviceID: "DEV"}
		orig, _, err := s1.Send(ctx, roomID, prop)
		if err != nil {
			t.Fatal(err)
		}
		// One batch on the other service: the retry and a new message.
		retry := &request{prop: prop, done: make(chan result, 1)}
		other := &request{prop: Proposal{Type: "m.room.message", Sender: bob, Content: text("new")}, done: make(chan result, 1)}
		if err := s2.submit(ctx, roomID, retry, other); err != nil {
			t.Fatal(err)
		}
		r := <-retry.done
		if r.err != nil || r.pdu == nil || r.pdu.EventID() != orig.EventID() {
			t.Fatalf("retry = %v, %v; want the original %s", r.pdu, r.err, orig.EventID())
		}
		o := <-other.done
		if o.err != nil {
			t.Fatalf("the retry's batch mate failed: %v", o.err)
		}
		evs, err := db.RoomEventsRange(ctx, roomID, 0, 1<<62, store.Forward, 1000)
		if err != nil {
			t.Fatal(err)
		}
		onces, news := 0, 0
		for _, e := range evs {
			switch {
			case e.Type == "m.room.message" && e.Sender == alice:
				onces++
			case e.Type == "m.room.message" && e.Sender == bob:
				news++
			}
		}
		if onces != 1 || news != 1 {
			t.Errorf("stored %d copies of the transaction and %d new messages; want 1 and 1", onces, news)
		}
	})
}
