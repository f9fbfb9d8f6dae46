package fedevents

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"testing"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/store/storetest"
)

// knownKeys is a key store that knows a fixed set of keys and never
// fetches.
type knownKeys []signing.Key

func (k knownKeys) Lookup(server id.ServerName, keyID signing.KeyID) (signing.VerifyKey, bool) {
	for _, key := range k {
		if key.ServerName == server && key.KeyID == keyID {
			return signing.VerifyKey{Public: key.Public(), ValidUntilTS: math.MaxInt64}, true
		}
	}
	return signing.VerifyKey{}, false
}

func (k knownKeys) Ensure(context.Context, id.ServerName, []signing.KeyID, int64) error { return nil }

// BenchmarkProcessTransaction measures inbound /send processing of a busy
// room: transactions of 50 messages of a remote user, each following the
// last, through the service, the event path and the store (SQLite and,
// when configured, PostgreSQL). It reports PDUs/s.
func BenchmarkProcessTransaction(b *testing.B) {
	for _, backend := range storetest.Backends() {
		b.Run(backend, func(b *testing.B) { benchTransactions(b, backend, []int{MaxPDUs}) })
	}
}

// BenchmarkProcessTransactionMixedSizes is BenchmarkProcessTransaction
// with transactions of 50, 5, 20 and 2 messages in turn, as a sender
// batches what queued while its last transaction was in flight.
func BenchmarkProcessTransactionMixedSizes(b *testing.B) {
	for _, backend := range storetest.Backends() {
		b.Run(backend, func(b *testing.B) { benchTransactions(b, backend, []int{MaxPDUs, 5, 20, 2}) })
	}
}

// benchTransactions sends transactions of sizes[i%len(sizes)] messages
// into one room and reports PDUs/s.
func benchTransactions(b *testing.B, backend string, sizes []int) {
	ctx := context.Background()
	db, err := store.Open(ctx, storetest.DSN(b, backend), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	newKey := func(server id.ServerName) signing.Key {
		k, err := signing.GenerateKey(rand.Reader, server, "ed25519:k1")
		if err != nil {
			b.Fatal(err)
		}
		return k
	}
	ours, theirs := newKey("hafen.test"), newKey("remote.test")
	keys := knownKeys{ours, theirs}
	rooms := room.New(room.Config{DB: db, ServerName: ours.ServerName, Key: ours, RemoteKeys: keys.Lookup, Logger: slog.New(slog.DiscardHandler)})
	defer rooms.Close()
	s := &Service{ServerName: ours.ServerName, DB: db, Rooms: rooms, Members: rooms, Key: ours, Keys: keys, Logger: slog.New(slog.DiscardHandler)}

	roomID, err := rooms.CreateRoom(ctx, &room.CreateRequest{Creator: "@alice:hafen.test", Preset: "public_chat", Version: roomversion.Default})
	if err != nil {
		b.Fatal(err)
	}
	v, _ := roomversion.Lookup(roomversion.ID(mustVersion(b, rooms, roomID)))
	state := map[event.StateKey]id.EventID{}
	cur, err := rooms.CurrentState(ctx, roomID)
	if err != nil {
		b.Fatal(err)
	}
	var prev *event.PDU
	for _, e := range cur {
		state[e.StateKeyTuple()] = e.EventID()
		if prev == nil || e.Depth() > prev.Depth() {
			prev = e
		}
	}
	bob := id.UserID("@bob:remote.test")
	ts := int64(1_800_000_000_000)
	build := func(typ string, sk *string, content string) *event.PDU {
		needed, _ := authrules.NeededStateKeys(v, typ, sk, bob, json.RawMessage(content))
		var auth []id.EventID
		for _, k := range needed {
			if eid, ok := state[k]; ok && !(k.Type == "m.room.create" && v.RoomIDFromCreateEvent) {
				auth = append(auth, eid)
			}
		}
		ts++
		pdu, err := event.Build(event.Proto{Type: typ, StateKey: sk, Sender: bob, RoomID: roomID, Content: json.RawMessage(content),
			PrevEvents: []id.EventID{prev.EventID()}, AuthEvents: auth, Depth: prev.Depth() + 1, OriginServerTS: ts}, v, theirs)
		if err != nil {
			b.Fatal(err)
		}
		prev = pdu
		return pdu
	}
	sk := string(bob)
	join := build("m.room.member", &sk, `{"membership":"join"}`)
	state[join.StateKeyTuple()] = join.EventID()
	if _, err := s.ProcessTransaction(ctx, Transaction{Origin: "remote.test", TxnID: "join", PDUs: []json.RawMessage{join.JSON()}}); err != nil {
		b.Fatal(err)
	}

	total := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		pdus := make([]json.RawMessage, sizes[i%len(sizes)])
		total += len(pdus)
		for j := range pdus {
			pdus[j] = build("m.room.message", nil, fmt.Sprintf(`{"msgtype":"m.text","body":"message %d.%d"}`, i, j)).JSON()
		}
		b.StartTimer()
		ans, err := s.ProcessTransaction(ctx, Transaction{Origin: "remote.test", TxnID: fmt.Sprint("t", i), PDUs: pdus})
		if err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			var res TransactionResult
			json.Unmarshal(ans, &res)
			for eid, r := range res.PDUs {
				if r.Error != "" {
					b.Fatalf("PDU %s: %s", eid, r.Error)
				}
			}
		}
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "pdus/s")
}

func mustVersion(b *testing.B, rooms *room.Service, roomID id.RoomID) string {
	v, err := rooms.Version(context.Background(), roomID)
	if err != nil {
		b.Fatal(err)
	}
	return v
}
