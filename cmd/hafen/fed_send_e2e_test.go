package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
)

// timelineOf returns the timeline events of a room in a full sync of the
// user: event ID → the event.
func timelineOf(t *testing.T, base, token string, roomID id.RoomID) map[id.EventID]json.RawMessage {
	t.Helper()
	var resp struct {
		Rooms struct {
			Join map[id.RoomID]struct {
				Timeline struct {
					Events []json.RawMessage `json:"events"`
				} `json:"timeline"`
			} `json:"join"`
		} `json:"rooms"`
	}
	filter := url.QueryEscape(`{"room":{"timeline":{"limit":200}}}`)
	csCall(t, base, token, http.MethodGet, "/_matrix/client/v3/sync?timeout=0&filter="+filter, nil, &resp)
	out := map[id.EventID]json.RawMessage{}
	for _, raw := range resp.Rooms.Join[roomID].Timeline.Events {
		var e struct {
			EventID id.EventID `json:"event_id"`
		}
		json.Unmarshal(raw, &e)
		out[e.EventID] = raw
	}
	return out
}

// createRoom creates a public room as the user and returns its ID.
func createPublicRoom(t testing.TB, base, token string) id.RoomID {
	t.Helper()
	var resp struct {
		RoomID id.RoomID `json:"room_id"`
	}
	csCall(t, base, token, http.MethodPost, "/_matrix/client/v3/createRoom", map[string]any{"preset": "public_chat"}, &resp)
	return resp.RoomID
}

// stripSignatures returns the PDU without its signatures.
func stripSignatures(t *testing.T, raw []byte) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "signatures")
	out, _ := json.Marshal(m)
	return out
}

// TestFederationSendEndToEnd runs two servers. B acts as a remote peer:
// with its own key it signs the transactions it sends to A and builds the
// PDUs of its user bob, who joins a public room of A's user alice. Good
// PDUs reach alice's sync; forged and misattributed ones are refused or
// rejected and never reach her, while the good PDUs of the same
// transaction are delivered. A retried transaction gets the same answer
// and nothing is processed twice; a transaction over the limits is
// refused; a server the room's ACL denies gets an error per PDU.
func TestFederationSendEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			a := startFedServer(t, dbArgs(t)...)
			bServer := startFedServer(t)
			b := newFedPeer(t, bServer)
			alice := register(t, a.base, "alice")
			tok := alice.AccessToken
			roomID := createPublicRoom(t, a.base, tok)

			// Bob of B joins through a transaction.
			bob := id.UserID("@bob:" + string(b.name))
			rv := viewRoom(t, a.base, tok, roomID)
			bobKey := string(bob)
			join := b.build(t, rv, bob, "m.room.member", &bobKey, `{"membership":"join"}`)
			ans := sendOK(t, b, a.name, "t1", join.JSON())
			if e := ans.PDUs[join.EventID()]; e.Error != nil {
				t.Fatalf("join of bob: error %q", *e.Error)
			}
			if _, ok := timelineOf(t, a.base, tok, roomID)[join.EventID()]; !ok {
				t.Fatalf("bob's join is not in alice's timeline")
			}

			// A transaction mixing good PDUs with forged ones.
			rv = viewRoom(t, a.base, tok, roomID)
			msg := func(body string) string { return fmt.Sprintf(`{"msgtype":"m.text","body":%q}`, body) }
			good1 := b.build(t, rv, bob, "m.room.message", nil, msg("good one"))
			good2 := b.buildWith(t, rv, bob, "m.room.message", nil, msg("good two"), b.key, func(p *event.Proto) {
				p.PrevEvents = []id.EventID{good1.EventID()}
			})
			otherKey, err := signing.GenerateKey(rand.Reader, b.name, b.key.KeyID)
			if err != nil {
				t.Fatal(err)
			}
			badSig := b.buildWith(t, rv, bob, "m.room.message", nil, msg("forged: bad signature"), otherKey, nil)
			noSig := b.build(t, rv, bob, "m.room.message", nil, msg("forged: no signature"))
			// A user of A, claimed by B and signed only by B.
			carol := id.UserID("@carol:" + string(a.name))
			otherSender := b.buildWith(t, rv, carol, "m.room.message", nil, msg("forged: sender on another server"), b.key, nil)
			// Bob's event signed with B's key, but under another name.
			elsewhere := signing.Key{ServerName: "127.0.0.1:1", KeyID: b.key.KeyID, Private: b.key.Private}
			otherName := b.buildWith(t, rv, bob, "m.room.message", nil, msg("forged: signed under another server name"), elsewhere, nil)
			// Content changed after signing: the content hash fails.
			hashed := b.build(t, rv, bob, "m.room.message", nil, msg("original body"))
			badHash := json.RawMessage(bytes.Replace(hashed.JSON(), []byte("original body"), []byte("forged: wrong content hash"), 1))
			unknownAuth := b.buildWith(t, rv, bob, "m.room.message", nil, msg("forged: unknown auth event"), b.key, func(p *event.Proto) {
				p.AuthEvents = append(p.AuthEvents, "$doesnotexistdoesnotexistdoesnotexist0000000")
			})
			mallory := id.UserID("@mallory:" + string(b.name))
			failingAuth := b.build(t, rv, mallory, "m.room.message", nil, msg("forged: sender not in the room"))
			bigInt := b.build(t, rv, bob, "m.room.message", nil, `{"msgtype":"m.text","body":"forged: integer out of range","n":1}`)
			outOfRange := json.RawMessage(bytes.Replace(bigInt.JSON(), []byte(`"n":1`), []byte(`"n":9007199254740993`), 1))

			// A room alice left: A is in it no more.
			left := createPublicRoom(t, a.base, tok)
			rvLeft := viewRoom(t, a.base, tok, left)
			csCall(t, a.base, tok, http.MethodPost, "/_matrix/client/v3/rooms/"+url.PathEscape(string(left))+"/leave", map[string]any{}, &struct{}{})
			notJoined := b.build(t, rvLeft, bob, "m.room.message", nil, msg("forged: room not joined"))

			pdus := []json.RawMessage{
				good1.JSON(), badSig.JSON(), stripSignatures(t, noSig.JSON()), otherSender.JSON(), otherName.JSON(),
				badHash, unknownAuth.JSON(), failingAuth.JSON(), outOfRange, notJoined.JSON(), good2.JSON(),
			}
			raw2, err := b.sendTxn(t, a.name, "t2", pdus...)
			if err != nil {
				t.Fatalf("transaction t2: %v", err)
			}
			var ans2 txnAnswer
			json.Unmarshal(raw2, &ans2)
			wantErr := map[string]id.EventID{
				"bad signature":           badSig.EventID(),
				"no signature":            noSig.EventID(),
				"sender on other server":  otherSender.EventID(),
				"signed under other name": otherName.EventID(),
				"unknown auth event":      unknownAuth.EventID(),
				"failing auth":            failingAuth.EventID(),
				"room not joined":         notJoined.EventID(),
			}
			for what, eid := range wantErr {
				if r, ok := ans2.PDUs[eid]; !ok || r.Error == nil {
					t.Errorf("%s: answer %s, want an error for %s", what, raw2, eid)
				}
			}
			if r := ans2.PDUs[notJoined.EventID()]; r.Error != nil && !strings.Contains(*r.Error, "not in the room") {
				t.Errorf("room not joined: error %q does not say so", *r.Error)
			}
			for what, eid := range map[string]id.EventID{"good one": good1.EventID(), "good two": good2.EventID(), "wrong content hash (redacted)": hashed.EventID()} {
				if r, ok := ans2.PDUs[eid]; !ok || r.Error != nil {
					t.Errorf("%s: answer %s, want %s without error", what, raw2, eid)
				}
			}

			timeline := timelineOf(t, a.base, tok, roomID)
			for _, eid := range []id.EventID{good1.EventID(), good2.EventID()} {
				if _, ok := timeline[eid]; !ok {
					t.Errorf("good event %s is not in alice's timeline", eid)
				}
			}
			for eid, raw := range timeline {
				if bytes.Contains(raw, []byte("forged")) {
					t.Errorf("forged content reached alice: %s %s", eid, raw)
				}
			}
			if raw, ok := timeline[hashed.EventID()]; ok && bytes.Contains(raw, []byte(`"body"`)) {
				t.Errorf("event with a wrong content hash reached alice unredacted: %s", raw)
			}

			// The retry gets the same answer, and nothing is processed
			// twice: not even a transaction with the same ID and other PDUs.
			again, err := b.sendTxn(t, a.name, "t2", pdus...)
			if err != nil || !bytes.Equal(again, raw2) {
				t.Errorf("retry of t2 = %s, %v; want %s", again, err, raw2)
			}
			sneaky := b.buildWith(t, rv, bob, "m.room.message", nil, msg("forged: a retry with other content"), b.key, func(p *event.Proto) {
				p.PrevEvents = []id.EventID{good2.EventID()}
			})
			again, err = b.sendTxn(t, a.name, "t2", sneaky.JSON())
			if err != nil || !bytes.Equal(again, raw2) {
				t.Errorf("t2 with other PDUs = %s, %v; want the first answer %s", again, err, raw2)
			}
			after := timelineOf(t, a.base, tok, roomID)
			if len(after) != len(timeline) {
				t.Errorf("retries changed alice's timeline: %d events, had %d", len(after), len(timeline))
			}

			// Over the limits.
			many := make([]json.RawMessage, 51)
			for i := range many {
				many[i] = good1.JSON()
			}
			if st, code := httpStatus(fromSend(b.sendTxn(t, a.name, "t-many", many...))); st != 400 || code != "M_BAD_JSON" {
				t.Errorf("51 PDUs: %d %s, want 400 M_BAD_JSON", st, code)
			}

			// The room's ACL denies IP literals, so B.
			acl := map[string]any{"allow": []string{"*"}, "allow_ip_literals": false}
			csCall(t, a.base, tok, http.MethodPut, "/_matrix/client/v3/rooms/"+url.PathEscape(string(roomID))+"/state/m.room.server_acl/", acl, &struct{}{})
			rv = viewRoom(t, a.base, tok, roomID)
			denied := b.build(t, rv, bob, "m.room.message", nil, msg("forged: sent by a denied server"))
			ans3 := sendOK(t, b, a.name, "t3", denied.JSON())
			if r := ans3.PDUs[denied.EventID()]; r.Error == nil || !strings.Contains(*r.Error, "acl") {
				t.Errorf("PDU of a denied server: answer %+v, want an ACL error", ans3.PDUs)
			}
			if _, ok := timelineOf(t, a.base, tok, roomID)[denied.EventID()]; ok {
				t.Errorf("the PDU of a denied server reached alice")
			}
		})
	}
}

// sendOK sends a transaction that must succeed and returns its answer.
func sendOK(t testing.TB, p *fedPeer, dest id.ServerName, txnID string, pdus ...json.RawMessage) txnAnswer {
	t.Helper()
	raw, err := p.sendTxn(t, dest, txnID, pdus...)
	if err != nil {
		t.Fatalf("transaction %s: %v", txnID, err)
	}
	var ans txnAnswer
	if err := json.Unmarshal(raw, &ans); err != nil {
		t.Fatalf("transaction %s: answer %s: %v", txnID, raw, err)
	}
	return ans
}

func fromSend(_ []byte, err error) error { return err }
