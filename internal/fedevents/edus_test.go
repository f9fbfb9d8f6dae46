package fedevents

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/store/storetest"
)

// noACLRooms is an event path whose rooms have no server ACL; the EDU
// checks need nothing else of it.
type noACLRooms struct{ Rooms }

func (noACLRooms) CurrentStateEvent(context.Context, id.RoomID, string, string) (*event.PDU, error) {
	return nil, nil
}

// typingCall is one SetTyping call.
type typingCall struct {
	user    id.UserID
	typing  bool
	timeout time.Duration
}

type recordTyping struct{ calls []typingCall }

func (r *recordTyping) SetTyping(_ id.RoomID, user id.UserID, typing bool, timeout time.Duration) {
	r.calls = append(r.calls, typingCall{user, typing, timeout})
}

// TestRemoteTypingTimeout: an m.typing EDU carries no timeout, so the
// receiver chooses how long the user stays typing: RemoteTypingTimeout,
// which outlasts the 40 s after which Synapse sends the EDU again, not the
// client API's default of 30 s.
func TestRemoteTypingTimeout(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		db := openStore(t, dsn)
		ctx := context.Background()
		roomID, carol := id.RoomID("!r:hafen.test"), id.UserID("@carol:other.test")
		sk := string(carol)
		if err := db.Write(ctx, func(tx *store.Tx) error {
			nid, pos, err := tx.InsertEvent(ctx, store.EventRecord{EventID: "$join:other.test", RoomID: roomID, Type: "m.room.member",
				StateKey: &sk, Sender: carol, Depth: 1, OriginServerTS: 1, JSON: []byte(`{}`)})
			if err != nil {
				return err
			}
			return tx.SetMembership(ctx, store.Member{RoomID: roomID, UserID: carol, Membership: "join", EventNID: nid, StreamPos: pos})
		}); err != nil {
			t.Fatal(err)
		}
		typing := &recordTyping{}
		s := &Service{ServerName: "hafen.test", DB: db, Rooms: noACLRooms{}, EDUs: EDUs{Typing: typing}, Logger: slog.New(slog.DiscardHandler)}
		edu := func(typing bool) EDU {
			c, _ := json.Marshal(map[string]any{"room_id": roomID, "user_id": carol, "typing": typing})
			return EDU{Type: "m.typing", Content: c}
		}
		if _, err := s.ProcessTransaction(ctx, Transaction{Origin: "other.test", TxnID: "1", EDUs: []EDU{edu(true), edu(false)}}); err != nil {
			t.Fatal(err)
		}
		want := []typingCall{{carol, true, RemoteTypingTimeout}, {carol, false, RemoteTypingTimeout}}
		if len(typing.calls) != len(want) || typing.calls[0] != want[0] || typing.calls[1] != want[1] {
			t.Fatalf("SetTyping calls = %+v, want %+v", typing.calls, want)
		}
	})
}
