package authrules

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
)

const v12Fixture = "../../../testdata/mautrix-eventauth/testroom-v12-success.jsonl"

// loadV12Room reads the mautrix v12 test room, in DAG order.
func loadV12Room(t testing.TB) []*event.PDU {
	t.Helper()
	f, err := os.Open(v12Fixture)
	if err != nil {
		t.Fatalf("open fixture: %v", err)
	}
	defer f.Close()
	var out []*event.PDU
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<20)
	for sc.Scan() {
		line := append([]byte(nil), sc.Bytes()...)
		var meta struct {
			Unsigned struct {
				EventID id.EventID `json:"event_id"`
			} `json:"unsigned"`
		}
		if err := json.Unmarshal(line, &meta); err != nil {
			t.Fatal(err)
		}
		e, err := event.Parse(line, roomversion.V12)
		if err != nil {
			t.Fatalf("Parse(%s) = %v", meta.Unsigned.EventID, err)
		}
		if e.EventID() != meta.Unsigned.EventID {
			t.Fatalf("Parse computed event ID %s, fixture says %s", e.EventID(), meta.Unsigned.EventID)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// authStateOf returns the auth events of e among the earlier events, and
// the StateMap Check needs (with the create event found through room_id).
func authStateOf(t testing.TB, e *event.PDU, byID map[id.EventID]*event.PDU) ([]*event.PDU, StateMap) {
	t.Helper()
	var list []*event.PDU
	for _, aid := range e.AuthEvents() {
		a, ok := byID[aid]
		if !ok {
			t.Fatalf("auth event %s of %s not found", aid, e.EventID())
		}
		list = append(list, a)
	}
	create := byID[id.EventID("$"+strings.TrimPrefix(string(e.RoomID()), "!"))]
	return list, AuthState(e.Version(), list, create)
}

func TestV12FixtureAccepted(t *testing.T) {
	evs := loadV12Room(t)
	if len(evs) != 21 {
		t.Fatalf("fixture has %d events, want 21", len(evs))
	}
	byID := map[id.EventID]*event.PDU{}
	for _, e := range evs {
		list, st := authStateOf(t, e, byID)
		if err := CheckAuthEventsList(e, list); err != nil {
			t.Errorf("CheckAuthEventsList(%s %s) = %v, want nil", e.Type(), e.EventID(), err)
		}
		if err := Check(e, st); err != nil {
			t.Errorf("Check(%s %s) = %v, want nil", e.Type(), e.EventID(), err)
		}
		byID[e.EventID()] = e
	}
}

// retrust re-reads e with a changed JSON, keeping its event ID.
func retrust(t testing.TB, e *event.PDU, edit func(m map[string]any)) *event.PDU {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(e.JSON(), &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	out, err := event.ParseTrusted(raw, e.Version(), e.EventID())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestV12FixtureMutations(t *testing.T) {
	evs := loadV12Room(t)
	byID := map[id.EventID]*event.PDU{}
	for _, e := range evs {
		byID[e.EventID()] = e
	}
	find := func(pred func(e *event.PDU) bool) *event.PDU {
		for _, e := range evs {
			if pred(e) {
				return e
			}
		}
		t.Fatal("no such fixture event")
		return nil
	}
	pl := find(func(e *event.PDU) bool { return e.Type() == TypePowerLevels })
	create := evs[0]
	creatorMsg := find(func(e *event.PDU) bool { return !e.IsState() && e.Sender() == create.Sender() })
	msg := find(func(e *event.PDU) bool { return !e.IsState() && e.Sender() != create.Sender() })
	invite := find(func(e *event.PDU) bool {
		return e.Type() == TypeMember && Membership(e.Content()) == MembershipInvite && e.Sender() != create.Sender()
	})

	cases := []struct {
		name string
		e    *event.PDU
		edit func(e *event.PDU, list []*event.PDU, st StateMap) (*event.PDU, []*event.PDU)
		want string // rule from Check, or "list:<rule>" from CheckAuthEventsList
	}{
		{name: "auth 6 v12: message from a sender whose membership is removed is rejected", e: msg,
			edit: func(e *event.PDU, list []*event.PDU, st StateMap) (*event.PDU, []*event.PDU) {
				delete(st, event.StateKey{Type: TypeMember, StateKey: string(e.Sender())})
				return e, list
			}, want: "6"},
		{name: "auth 6 v12: message from a sender who left is rejected", e: msg,
			edit: func(e *event.PDU, list []*event.PDU, st StateMap) (*event.PDU, []*event.PDU) {
				k := event.StateKey{Type: TypeMember, StateKey: string(e.Sender())}
				st[k] = retrust(t, st[k], func(m map[string]any) { m["content"] = map[string]any{"membership": "leave"} })
				return e, list
			}, want: "6"},
		{name: "auth 8 v12: message below a raised events_default is rejected", e: msg,
			edit: func(e *event.PDU, list []*event.PDU, st StateMap) (*event.PDU, []*event.PDU) {
				k := event.StateKey{Type: TypePowerLevels}
				st[k] = retrust(t, st[k], func(m map[string]any) {
					c := m["content"].(map[string]any)
					c["events_default"] = 9999
				})
				return e, list
			}, want: "8"},
		{name: "auth 8 v12: the creator's message passes any events_default", e: creatorMsg,
			edit: func(e *event.PDU, list []*event.PDU, st StateMap) (*event.PDU, []*event.PDU) {
				k := event.StateKey{Type: TypePowerLevels}
				st[k] = retrust(t, st[k], func(m map[string]any) {
					m["content"].(map[string]any)["events_default"] = 9007199254740991
				})
				return e, list
			}, want: "ok"},
		{name: "auth 5.4.2 v12: invite by a sender who left is rejected", e: invite,
			edit: func(e *event.PDU, list []*event.PDU, st StateMap) (*event.PDU, []*event.PDU) {
				k := event.StateKey{Type: TypeMember, StateKey: string(e.Sender())}
				st[k] = retrust(t, st[k], func(m map[string]any) { m["content"] = map[string]any{"membership": "leave"} })
				return e, list
			}, want: "5.4.2"},
		{name: "auth 5.4.5 v12: invite by a sender below a raised invite level is rejected", e: invite,
			edit: func(e *event.PDU, list []*event.PDU, st StateMap) (*event.PDU, []*event.PDU) {
				k := event.StateKey{Type: TypePowerLevels}
				st[k] = retrust(t, st[k], func(m map[string]any) {
					m["content"].(map[string]any)["invite"] = 9007199254740991
				})
				return e, list
			}, want: "5.4.5"},
		{name: "auth 5.4.3 v12: invite of a user who is already joined is rejected", e: invite,
			edit: func(e *event.PDU, list []*event.PDU, st StateMap) (*event.PDU, []*event.PDU) {
				sk, _ := e.StateKey()
				k := event.StateKey{Type: TypeMember, StateKey: sk}
				st[k] = retrust(t, st[event.StateKey{Type: TypeMember, StateKey: string(e.Sender())}], func(m map[string]any) {
					m["state_key"] = sk
					m["sender"] = sk
				})
				return e, list
			}, want: "5.4.3"},
		{name: "auth 2 v12: event whose create event is missing is rejected", e: msg,
			edit: func(e *event.PDU, list []*event.PDU, st StateMap) (*event.PDU, []*event.PDU) {
				delete(st, event.StateKey{Type: TypeCreate})
				return e, list
			}, want: "2"},
		{name: "auth 10.4 v12: power levels naming the creator are rejected", e: pl,
			edit: func(e *event.PDU, list []*event.PDU, st StateMap) (*event.PDU, []*event.PDU) {
				e = retrust(t, e, func(m map[string]any) {
					c := m["content"].(map[string]any)
					c["users"].(map[string]any)[string(create.Sender())] = 100
				})
				return e, list
			}, want: "10.4"},
		{name: "auth 3.1 v12: duplicate auth events are rejected", e: msg,
			edit: func(e *event.PDU, list []*event.PDU, st StateMap) (*event.PDU, []*event.PDU) {
				return e, append(list, list[0])
			}, want: "list:3.1"},
		{name: "auth 3.2 v12: the create event among the auth events is rejected", e: msg,
			edit: func(e *event.PDU, list []*event.PDU, st StateMap) (*event.PDU, []*event.PDU) {
				return e, append(list, create)
			}, want: "list:3.2"},
		{name: "auth 3.2 v12: an auth event not picked by auth events selection is rejected", e: msg,
			edit: func(e *event.PDU, list []*event.PDU, st StateMap) (*event.PDU, []*event.PDU) {
				jr := find(func(x *event.PDU) bool { return x.Type() == TypeJoinRules })
				return e, append(list, jr)
			}, want: "list:3.2"},
		{name: "auth 3.4 v12: an auth event of another room is rejected", e: msg,
			edit: func(e *event.PDU, list []*event.PDU, st StateMap) (*event.PDU, []*event.PDU) {
				out := append([]*event.PDU(nil), list...)
				out[0] = retrust(t, out[0], func(m map[string]any) { m["room_id"] = "!AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" })
				return e, out
			}, want: "list:3.4"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			list, st := authStateOf(t, tc.e, byID)
			e, list := tc.edit(tc.e, list, st)
			if strings.HasPrefix(tc.want, "list:") {
				got := ruleOf(t, CheckAuthEventsList(e, list))
				if want := strings.TrimPrefix(tc.want, "list:"); got != want {
					t.Errorf("CheckAuthEventsList = %s, want %s", got, want)
				}
				return
			}
			if got := ruleOf(t, Check(e, st)); got != tc.want {
				t.Errorf("Check = %s, want %s (%v)", got, tc.want, Check(e, st))
			}
		})
	}
}
