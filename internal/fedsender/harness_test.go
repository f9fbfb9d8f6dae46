package fedsender

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/pducheck"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/federation"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/store/storetest"
	"github.com/hafenchat/hafen/internal/stream"
)

const local id.ServerName = "hafen.test"

var alice = id.UserID("@alice:" + string(local))

// peer is another server on a loopback TLS listener that records the
// transactions it is sent, after checking their X-Matrix signature with
// the sending server's key, and keeps each transaction ID once, as a
// server does. While down, it answers 503 without recording.
type peer struct {
	name   id.ServerName
	key    signing.Key
	origin signing.Key // the sending server's key

	mu   sync.Mutex
	down bool
	// lose records a transaction and then answers 500, as if the answer
	// got lost.
	lose    bool
	txns    map[string][]id.EventID
	edus    map[string][]edu
	order   []string
	changed chan struct{}
	bad     []string
	// probes counts the GET /version requests.
	probes int
	// gate, when set, holds each transaction on arrival: the peer sends
	// a channel through it and answers once that channel is closed.
	gate chan chan struct{}
}

func startPeer(t testing.TB, origin signing.Key) *peer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{name: id.ServerName(ln.Addr().String()), origin: origin, txns: map[string][]id.EventID{}, edus: map[string][]edu{}, changed: make(chan struct{})}
	p.key = newKey(t, p.name)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	srv.Listener = ln
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return p
}

func newKey(t testing.TB, server id.ServerName) signing.Key {
	t.Helper()
	k, err := signing.GenerateKey(rand.Reader, server, "ed25519:k1")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (p *peer) serve(w http.ResponseWriter, r *http.Request) {
	txnID, ok := strings.CutPrefix(r.URL.Path, "/_matrix/federation/v1/send/")
	body, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	gate := p.gate
	p.mu.Unlock()
	if gate != nil && ok {
		release := make(chan struct{})
		gate <- release
		<-release
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if r.URL.Path == "/_matrix/federation/v1/version" && r.Method == http.MethodGet {
		p.probes++
	}
	if p.down {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if r.URL.Path == "/_matrix/federation/v1/version" && r.Method == http.MethodGet {
		// Authenticated, as Hafen has every federation endpoint.
		x, err := signing.ParseXMatrix(r.Header.Get("Authorization"))
		if err == nil {
			err = signing.VerifyRequest(signing.Request{Method: r.Method, URI: r.RequestURI, Origin: x.Origin, Destination: x.Destination}, x, p.origin.Public())
		}
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		io.WriteString(w, `{"server":{"name":"peer"}}`)
		return
	}
	if !ok || r.Method != http.MethodPut {
		p.bad = append(p.bad, r.Method+" "+r.URL.Path)
		w.WriteHeader(http.StatusNotFound)
		return
	}
	x, err := signing.ParseXMatrix(r.Header.Get("Authorization"))
	if err == nil {
		err = signing.VerifyRequest(signing.Request{Method: r.Method, URI: r.RequestURI, Origin: x.Origin, Destination: x.Destination, Content: body}, x, p.origin.Public())
	}
	var txn transaction
	if err == nil {
		err = json.Unmarshal(body, &txn)
	}
	if err != nil || x.Origin != local || x.Destination != p.name || txn.Origin != local || len(txn.PDUs) > MaxPDUs || len(txn.EDUs) > MaxEDUs {
		p.bad = append(p.bad, fmt.Sprintf("txn %s: %v", txnID, err))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if _, seen := p.txns[txnID]; !seen {
		var ids []id.EventID
		for _, raw := range txn.PDUs {
			pdu, err := event.Parse(raw, roomversion.V12)
			if err != nil {
				p.bad = append(p.bad, fmt.Sprintf("txn %s: pdu: %v", txnID, err))
				continue
			}
			ids = append(ids, pdu.EventID())
		}
		p.txns[txnID] = ids
		for _, raw := range txn.EDUs {
			var e edu
			if err := json.Unmarshal(raw, &e); err != nil || e.Type == "" {
				p.bad = append(p.bad, fmt.Sprintf("txn %s: edu %s: %v", txnID, raw, err))
				continue
			}
			p.edus[txnID] = append(p.edus[txnID], e)
		}
		p.order = append(p.order, txnID)
		close(p.changed)
		p.changed = make(chan struct{})
	}
	if p.lose {
		p.lose = false
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"pdus":{}}`)
}

func (p *peer) setDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
}

// received returns how often each event arrived, over distinct
// transactions, and the transactions in order.
func (p *peer) received() (map[id.EventID]int, [][]id.EventID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	counts := map[id.EventID]int{}
	var txns [][]id.EventID
	for _, txnID := range p.order {
		txns = append(txns, p.txns[txnID])
		for _, e := range p.txns[txnID] {
			counts[e]++
		}
	}
	return counts, txns
}

// waitFor waits until the peer has received every event of want.
func (p *peer) waitFor(t testing.TB, want ...id.EventID) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		p.mu.Lock()
		ch := p.changed
		p.mu.Unlock()
		counts, _ := p.received()
		missing := 0
		for _, e := range want {
			if counts[e] == 0 {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("peer did not receive %d of %d events", missing, len(want))
		}
	}
}

// receivedEDUs returns the EDUs received, over distinct transactions, in
// order.
func (p *peer) receivedEDUs() []edu {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []edu
	for _, txnID := range p.order {
		out = append(out, p.edus[txnID]...)
	}
	return out
}

// waitEDUs waits until the peer has received at least n EDUs.
func (p *peer) waitEDUs(t testing.TB, n int) []edu {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		p.mu.Lock()
		ch := p.changed
		p.mu.Unlock()
		if got := p.receivedEDUs(); len(got) >= n {
			return got
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("peer received %d EDUs, want %d", len(p.receivedEDUs()), n)
		}
	}
}

func (p *peer) badRequests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.bad...)
}

// home is this server's stack on one database: store, stream, room
// service and sender; reopen restarts it on the same database.
type home struct {
	dsn   string
	key   signing.Key
	peer  *peer
	first time.Duration
	// probe and after are the sender's ProbeInterval (never, unless a
	// test sets it) and timers (real ones when nil).
	probe time.Duration
	after func(time.Duration) <-chan time.Time
	// deviceLists, when set, builds the EDUs of device list changes.
	deviceLists DeviceListEDUs
	db          *store.DB
	rooms       *room.Service
	sender      *Sender
	client      *federation.Client
}

func startHome(t testing.TB, dsn string, first time.Duration) *home {
	t.Helper()
	h := &home{dsn: dsn, key: newKey(t, local), first: first, probe: -1}
	return h
}

func (h *home) open(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, h.dsn, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	pos, err := db.MaxStreamPos(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st := stream.New(pos, 0)
	peerKey := h.peer.key
	h.rooms = room.New(room.Config{DB: db, ServerName: local, Key: h.key, Stream: st, Logger: slog.New(slog.DiscardHandler),
		RemoteKeys: func(server id.ServerName, keyID signing.KeyID) (signing.VerifyKey, bool) {
			if server == peerKey.ServerName && keyID == peerKey.KeyID {
				return signing.VerifyKey{Public: peerKey.Public(), ValidUntilTS: math.MaxInt64}, true
			}
			return signing.VerifyKey{}, false
		},
		Inviter: peerInviter{peerKey}})
	h.client = federation.New(federation.Config{ServerName: local, Key: h.key, AllowPrivate: true, SkipTLSVerify: true})
	h.sender, err = New(Config{DB: db, Stream: st, Client: h.client, ServerName: local, From: pos, FirstBackoff: h.first, MaxBackoff: 2 * h.first,
		ProbeInterval: h.probe, After: h.after, DeviceLists: h.deviceLists})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.sender.Start(ctx); err != nil {
		t.Fatal(err)
	}
	h.db = db
}

func (h *home) close() {
	h.sender.Stop()
	h.rooms.Close()
	h.client.Close()
	h.db.Close()
}

// run opens the home server with a peer and closes it when the test ends.
func run(t testing.TB, dsn string, first time.Duration) (*home, *peer) {
	t.Helper()
	h := startHome(t, dsn, first)
	h.peer = startPeer(t, h.key)
	h.open(t)
	t.Cleanup(func() { h.close() })
	return h, h.peer
}

func (h *home) reopen(t testing.TB) {
	t.Helper()
	h.close()
	h.open(t)
}

// publicRoom creates a public room of alice that bob of the peer joins;
// it returns the room and the last event alice sent before the join.
func (h *home) publicRoom(t testing.TB) (id.RoomID, id.EventID) {
	t.Helper()
	ctx := context.Background()
	roomID, err := h.rooms.CreateRoom(ctx, &room.CreateRequest{Creator: alice, Version: roomversion.V12, Preset: room.PresetPublicChat})
	if err != nil {
		t.Fatal(err)
	}
	before := h.send(t, roomID, "before bob")
	prev, err := h.db.Event(ctx, before)
	if err != nil {
		t.Fatal(err)
	}
	state, err := h.rooms.CurrentState(ctx, roomID)
	if err != nil {
		t.Fatal(err)
	}
	bob := id.UserID("@bob:" + string(h.peer.name))
	sk := string(bob)
	content := json.RawMessage(`{"membership":"join"}`)
	needed, err := authrules.NeededStateKeys(roomversion.V12, "m.room.member", &sk, bob, content)
	if err != nil {
		t.Fatal(err)
	}
	var auth []id.EventID
	for _, ev := range state {
		for _, k := range needed {
			if ev.IsState() && ev.StateKeyTuple() == k && ev.Type() != "m.room.create" {
				auth = append(auth, ev.EventID())
			}
		}
	}
	join, err := event.Build(event.Proto{
		Type: "m.room.member", StateKey: &sk, Sender: bob, RoomID: roomID, Content: content,
		PrevEvents: []id.EventID{before}, AuthEvents: auth, Depth: prev.Depth + 1, OriginServerTS: time.Now().UnixMilli(),
	}, roomversion.V12, h.peer.key)
	if err != nil {
		t.Fatal(err)
	}
	res := h.rooms.ProcessRemote(ctx, h.peer.name, []json.RawMessage{join.JSON()})
	if len(res) != 1 || res[0].Verdict != pducheck.Accept || res[0].Err != nil {
		t.Fatalf("remote join: %+v", res)
	}
	return roomID, before
}

// send sends a message of alice and waits until the sender has queued it.
func (h *home) send(t testing.TB, roomID id.RoomID, body string) id.EventID {
	t.Helper()
	ev, pos, err := h.rooms.Send(context.Background(), roomID, room.Proposal{
		Type: "m.room.message", Sender: alice, Content: json.RawMessage(fmt.Sprintf(`{"msgtype":"m.text","body":%q}`, body)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.sender.consumer.WaitFor(ctx, pos); err != nil {
		t.Fatalf("sender did not queue %s: %v", ev.EventID(), err)
	}
	return ev.EventID()
}

// destination returns the stored state of the peer as a destination.
func (h *home) destination(t testing.TB) store.Destination {
	t.Helper()
	ds, err := h.db.Destinations(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.Name == h.peer.name {
			return d
		}
	}
	return store.Destination{}
}

// waitFailures waits until the peer has failed n times in a row.
func (h *home) waitFailures(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for h.destination(t).Failures < n {
		if time.Now().After(deadline) {
			t.Fatalf("destination did not fail %d times: %+v", n, h.destination(t))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// forEachDSN runs f on SQLite and, when configured, PostgreSQL.
func forEachDSN(t *testing.T, f func(t *testing.T, dsn string)) {
	storetest.ForEachDSN(t, f)
}

func sqliteDSN(t testing.TB) string { return storetest.SQLiteDSN(t) }

// peerInviter signs invites of the peer's users as the peer's server
// would through /v2/invite.
type peerInviter struct{ key signing.Key }

func (i peerInviter) SignInvite(_ context.Context, v *roomversion.Version, invite *event.PDU, _ []json.RawMessage) (json.RawMessage, error) {
	return event.Sign(invite.JSON(), v, i.key)
}
