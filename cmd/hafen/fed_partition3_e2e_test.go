package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
)

// syncRecorder follows one user's syncs as a client does, from an initial
// sync on, and counts each event of one room they deliver; a limited
// timeline is completed from /messages, back to the events seen before.
// It keeps the room's state as a client does: the state of each answer,
// then the timeline's state events.
type syncRecorder struct {
	base, token string
	roomID      id.RoomID

	mu     sync.Mutex
	events map[id.EventID]int
	bodies map[string]int
	state  map[[2]string]id.EventID
	err    error

	stop chan struct{}
	done chan struct{}
}

// recordSyncs starts a recorder; the test's cleanup stops it.
func recordSyncs(t *testing.T, base, token string, roomID id.RoomID) *syncRecorder {
	t.Helper()
	r := &syncRecorder{base: base, token: token, roomID: roomID, events: map[id.EventID]int{}, bodies: map[string]int{},
		state: map[[2]string]id.EventID{},
		stop:  make(chan struct{}), done: make(chan struct{})}
	since, err := r.syncOnce("", 0)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(r.done)
		for {
			select {
			case <-r.stop:
				return
			default:
			}
			next, err := r.syncOnce(since, 500)
			if err != nil {
				r.mu.Lock()
				r.err = err
				r.mu.Unlock()
				return
			}
			since = next
		}
	}()
	t.Cleanup(r.close)
	return r
}

func (r *syncRecorder) close() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.done
}

// get makes a client API request and decodes the answer.
func (r *syncRecorder) get(path string, out any) error {
	req, err := http.NewRequest(http.MethodGet, r.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s = %d", path, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// syncOnce syncs once and records the room's timeline; it returns the
// next batch token.
func (r *syncRecorder) syncOnce(since string, timeoutMS int) (string, error) {
	var s struct {
		NextBatch string `json:"next_batch"`
		Rooms     struct {
			Join map[id.RoomID]struct {
				State    struct{ Events []clientEvent } `json:"state"`
				Timeline struct {
					Events    []clientEvent `json:"events"`
					Limited   bool          `json:"limited"`
					PrevBatch string        `json:"prev_batch"`
				} `json:"timeline"`
			} `json:"join"`
		} `json:"rooms"`
	}
	path := fmt.Sprintf("/_matrix/client/v3/sync?timeout=%d&filter=%s", timeoutMS, url.QueryEscape(`{"room":{"timeline":{"limit":500}}}`))
	if since != "" {
		path += "&since=" + url.QueryEscape(since)
	}
	if err := r.get(path, &s); err != nil {
		return "", err
	}
	jr := s.Rooms.Join[r.roomID]
	tl := jr.Timeline
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range append(jr.State.Events, tl.Events...) {
		if e.StateKey != nil {
			r.state[[2]string{e.Type, *e.StateKey}] = e.EventID
		}
	}
	if tl.Limited && since != "" {
		// The events before this timeline that the client has not seen.
		// History may hold events of the timeline too (one that arrived
		// after the timeline's first with an older depth): a client
		// keeps each event once.
		inTimeline := map[id.EventID]bool{}
		for _, e := range tl.Events {
			inTimeline[e.EventID] = true
		}
		from := tl.PrevBatch
		for from != "" {
			var page struct {
				Chunk []clientEvent `json:"chunk"`
				End   string        `json:"end"`
			}
			if err := r.get(roomPath(r.roomID, "/messages?dir=b&limit=100&from="+url.QueryEscape(from)), &page); err != nil {
				return "", err
			}
			met := false
			for _, e := range page.Chunk {
				if r.events[e.EventID] > 0 {
					met = true
					continue
				}
				if !inTimeline[e.EventID] {
					r.record(e)
				}
			}
			if met {
				break
			}
			from = page.End
		}
	}
	for _, e := range tl.Events {
		r.record(e)
	}
	return s.NextBatch, nil
}

// record counts an event delivered to the client. The caller holds r.mu.
func (r *syncRecorder) record(e clientEvent) {
	r.events[e.EventID]++
	if e.Type == "m.room.message" {
		r.bodies[e.Content.Body]++
	}
}

// stateEvent returns the event the client holds as the room's state
// event of type typ and state key key.
func (r *syncRecorder) stateEvent(typ, key string) id.EventID {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state[[2]string{typ, key}]
}

// has reports whether every body of want has been delivered (and the
// recorder's error, if it stopped).
func (r *syncRecorder) has(want map[string]bool) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for b := range want {
		if r.bodies[b] == 0 {
			return false, r.err
		}
	}
	return true, r.err
}

// missing returns the bodies of want not delivered yet.
func (r *syncRecorder) missing(want map[string]bool) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for b := range want {
		if r.bodies[b] == 0 {
			out = append(out, b)
		}
	}
	slices.Sort(out)
	return out
}

// checkOnce reports every event and message delivered more than once.
func (r *syncRecorder) checkOnce(t *testing.T, who string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for e, n := range r.events {
		if n != 1 {
			t.Errorf("%s: event %s delivered %d times", who, e, n)
		}
	}
	for b, n := range r.bodies {
		if n != 1 {
			t.Errorf("%s: message %q delivered %d times", who, b, n)
		}
	}
}

// meshUser is a user of one server of a mesh.
type meshUser struct {
	srv   *fedServer
	id    id.UserID
	token string
}

func meshRegister(t *testing.T, s *fedServer, name string) meshUser {
	t.Helper()
	c := register(t, s.base, name)
	return meshUser{srv: s, id: id.UserID(c.UserID), token: c.AccessToken}
}

func (u meshUser) say(t *testing.T, roomID id.RoomID, body string) {
	t.Helper()
	sendMessage(t, u.srv.base, u.token, roomID, fmt.Sprintf("m%d", time.Now().UnixNano()), body)
}

func (u meshUser) putState(t *testing.T, roomID id.RoomID, typ string, content map[string]any) {
	t.Helper()
	if st := csCall(t, u.srv.base, u.token, http.MethodPut, roomPath(roomID, "/state/"+typ+"/"), content, &struct{}{}); st != 200 {
		t.Fatalf("%s sets %s: %d", u.id, typ, st)
	}
}

func (u meshUser) member(t *testing.T, roomID id.RoomID, action string, target id.UserID) {
	t.Helper()
	if st := csCall(t, u.srv.base, u.token, http.MethodPost, roomPath(roomID, "/"+action), map[string]any{"user_id": target, "reason": "partition"}, &struct{}{}); st != 200 {
		t.Fatalf("%s %ss %s: %d", u.id, action, target, st)
	}
}

// membershipOn returns user's membership in the room as u's server sees it.
func (u meshUser) membershipOn(t *testing.T, roomID id.RoomID, user id.UserID) any {
	t.Helper()
	m, _ := stateContent(t, u.srv.base, u.token, roomID, "m.room.member", string(user))
	return m["membership"]
}

// waitMembers waits until every observer's server sees every user joined.
func waitMembers(t *testing.T, roomID id.RoomID, observers []meshUser, users ...meshUser) {
	t.Helper()
	for _, o := range observers {
		for _, u := range users {
			waitFor(t, string(u.id)+" is joined on "+string(o.srv.name), func() bool { return o.membershipOn(t, roomID, u.id) == "join" })
		}
	}
}

// TestThreeServerPartitionEndToEnd: servers A, B and C share a room, each
// link between two of them its own path. The room is split into {A} and
// {B, C}: on both sides users send messages and change the topic, the
// name and the power levels, kick and ban users of the other side, and a
// new user joins. B and C keep talking to each other. When the links
// return, all three servers resolve the same current state, and every
// message reaches each server's syncing client exactly once.
func TestThreeServerPartitionEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			m := startFedMesh(t, 3, dbArgs)
			a, b, c := m.servers[0], m.servers[1], m.servers[2]
			alice, anna, amos := meshRegister(t, a, "alice"), meshRegister(t, a, "anna"), meshRegister(t, a, "amos")
			bob, bert := meshRegister(t, b, "bob"), meshRegister(t, b, "bert")
			carol, cleo, cody := meshRegister(t, c, "carol"), meshRegister(t, c, "cleo"), meshRegister(t, c, "cody")
			roomID := createPublicRoom(t, a.base, alice.token)
			joinVia(t, a.base, anna.token, roomID, a.name)
			for _, u := range []meshUser{bob, bert, carol, cleo} {
				joinVia(t, u.srv.base, u.token, roomID, a.name)
			}
			setUserPower(t, a.base, alice.token, roomID, bob.id, 100)
			setUserPower(t, a.base, alice.token, roomID, carol.id, 50)
			alice.say(t, roomID, "before the cut")
			observers := []meshUser{alice, bob, carol}
			waitMembers(t, roomID, observers, alice, anna, bob, bert, carol, cleo)
			for _, o := range observers {
				waitFor(t, string(o.srv.name)+" sees carol's power", func() bool {
					pl, _ := stateContent(t, o.srv.base, o.token, roomID, "m.room.power_levels", "")
					users, _ := pl["users"].(map[string]any)
					return users[string(carol.id)] == float64(50) && users[string(bob.id)] == float64(100)
				})
			}
			recs := map[string]*syncRecorder{}
			for _, o := range observers {
				recs[string(o.srv.name)] = recordSyncs(t, o.srv.base, o.token, roomID)
			}
			want := map[string]bool{"before the cut": true}
			say := func(u meshUser, body string) {
				u.say(t, roomID, body)
				want[body] = true
			}

			m.partition([]int{0}, []int{1, 2})
			for i := range 10 {
				say(alice, fmt.Sprintf("A %d", i))
				switch i {
				case 2:
					alice.putState(t, roomID, "m.room.topic", map[string]any{"topic": "topic of A"})
				case 3:
					joinVia(t, a.base, amos.token, roomID, a.name)
					say(amos, "amos joined on A")
				case 4:
					alice.putState(t, roomID, "m.room.name", map[string]any{"name": "name of A"})
				case 6:
					setUserPower(t, a.base, alice.token, roomID, amos.id, 10)
				case 7:
					alice.member(t, roomID, "kick", bert.id)
				case 8:
					alice.member(t, roomID, "ban", cleo.id)
				}
			}
			for i := range 10 {
				speaker := bob
				if i%2 == 1 {
					speaker = carol
				}
				say(speaker, fmt.Sprintf("BC %d", i))
				switch i {
				case 2:
					bob.putState(t, roomID, "m.room.topic", map[string]any{"topic": "topic of B and C"})
				case 3:
					joinVia(t, c.base, cody.token, roomID, c.name)
					say(cody, "cody joined on C")
				case 4:
					carol.putState(t, roomID, "m.room.name", map[string]any{"name": "name of B and C"})
				case 6:
					setUserPower(t, b.base, bob.token, roomID, carol.id, 75)
				case 8:
					bob.member(t, roomID, "ban", anna.id)
				}
			}
			// Each side diverged, and B and C stayed together.
			topicOf := func(u meshUser) any {
				c, _ := stateContent(t, u.srv.base, u.token, roomID, "m.room.topic", "")
				return c["topic"]
			}
			if got := topicOf(alice); got != "topic of A" {
				t.Fatalf("A's topic during the cut = %v", got)
			}
			for _, u := range []meshUser{bob, carol} {
				waitFor(t, string(u.srv.name)+" has B and C's topic during the cut", func() bool { return topicOf(u) == "topic of B and C" })
			}
			if got := alice.membershipOn(t, roomID, cody.id); got == "join" {
				t.Fatalf("A knows of cody's join during the cut")
			}

			m.heal()
			for o := range 3 {
				for d := range 3 {
					if o != d {
						m.poke(t, o, d)
					}
				}
			}
			checkMerged(t, roomID, observers, recs, want)
			for _, u := range []id.UserID{bert.id, cleo.id, anna.id} {
				if got := alice.membershipOn(t, roomID, u); got == "join" {
					t.Errorf("%s is still joined after the merge", u)
				}
			}
			for _, u := range []id.UserID{amos.id, cody.id} {
				if got := alice.membershipOn(t, roomID, u); got != "join" {
					t.Errorf("%s is %v after the merge, want joined", u, got)
				}
			}
			if got := topicOf(alice); got != "topic of A" && got != "topic of B and C" {
				t.Errorf("resolved topic %v", got)
			}
			// And the room goes on from there.
			say(cody, "after the merge")
			checkMerged(t, roomID, observers, recs, want)
		})
	}
}

// checkMerged waits until every observer's client got every wanted
// message and all observers' servers resolve the same current state, then
// checks no event reached a client twice.
func checkMerged(t *testing.T, roomID id.RoomID, observers []meshUser, recs map[string]*syncRecorder, want map[string]bool) {
	t.Helper()
	for _, o := range observers {
		r := recs[string(o.srv.name)]
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(25 * time.Millisecond) {
			ok, err := r.has(want)
			if err != nil {
				t.Fatalf("sync of %s: %v", o.srv.name, err)
			}
			if ok {
				break
			}
			if time.Now().After(deadline) {
				var hist []string
				for _, o := range observers {
					var page struct {
						Chunk []struct {
							EventID  string         `json:"event_id"`
							Sender   string         `json:"sender"`
							Type     string         `json:"type"`
							StateKey *string        `json:"state_key"`
							Content  map[string]any `json:"content"`
						} `json:"chunk"`
					}
					csCall(t, o.srv.base, o.token, http.MethodGet, roomPath(roomID, "/messages?dir=b&limit=300"), nil, &page)
					hist = append(hist, "history on "+string(o.srv.name))
					for _, e := range page.Chunk {
						sk := ""
						if e.StateKey != nil {
							sk = *e.StateKey
						}
						hist = append(hist, fmt.Sprintf("%s %s %s %s %v", e.EventID, e.Sender, e.Type, sk, e.Content))
					}
				}
				t.Fatalf("never: every message reaches the client of %s; missing %v\nhistory:\n%s\n%s", o.srv.name, r.missing(want), strings.Join(hist, "\n"), allLogs(observers))
			}
		}
	}
	var states []map[[2]string]id.EventID
	waitFor(t, "all servers resolve the same current state", func() bool {
		states = states[:0]
		for _, o := range observers {
			states = append(states, currentState(t, o.srv.base, o.token, roomID))
		}
		for _, s := range states[1:] {
			if !maps.Equal(s, states[0]) {
				return false
			}
		}
		return true
	})
	for _, o := range observers {
		recs[string(o.srv.name)].checkOnce(t, string(o.srv.name))
	}
}

// allLogs returns the logs of the observers' servers.
func allLogs(observers []meshUser) string {
	var b strings.Builder
	for _, o := range observers {
		fmt.Fprintf(&b, "--- %s\n%s\n", o.srv.name, o.srv.logs)
	}
	return b.String()
}

// TestNonTransitivePartitionEndToEnd: A and C cannot reach each other,
// while both still reach B. Events do not travel through B as such (a
// server sends only its own users' events), but B's events name A's and
// C's as prev events, so each of A and C fetches the other's events from B
// (/get_missing_events) as B's users talk: every message reaches all
// three clients during the cut, once. When the link returns, nothing
// arrives twice and the state is the same everywhere.
func TestNonTransitivePartitionEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			m := startFedMesh(t, 3, dbArgs)
			a, b, c := m.servers[0], m.servers[1], m.servers[2]
			alice, bob, carol := meshRegister(t, a, "alice"), meshRegister(t, b, "bob"), meshRegister(t, c, "carol")
			roomID := createPublicRoom(t, a.base, alice.token)
			joinVia(t, b.base, bob.token, roomID, a.name)
			joinVia(t, c.base, carol.token, roomID, a.name)
			observers := []meshUser{alice, bob, carol}
			waitMembers(t, roomID, observers, alice, bob, carol)
			recs := map[string]*syncRecorder{}
			for _, o := range observers {
				recs[string(o.srv.name)] = recordSyncs(t, o.srv.base, o.token, roomID)
			}

			m.partition([]int{0}, []int{2})
			want := map[string]bool{}
			for i := range 5 {
				for _, u := range []meshUser{alice, carol} {
					body := fmt.Sprintf("%s %d", u.id, i)
					u.say(t, roomID, body)
					want[body] = true
				}
				// B hears both, and its next event names both as prev
				// events; wait for that before bob speaks.
				for _, u := range []meshUser{alice, carol} {
					waitTimelineBody(t, b.base, bob.token, roomID, fmt.Sprintf("%s %d", u.id, i))
				}
				body := fmt.Sprintf("bob %d", i)
				bob.say(t, roomID, body)
				want[body] = true
			}
			alice.putState(t, roomID, "m.room.topic", map[string]any{"topic": "set on A during the cut"})
			waitFor(t, "B has A's topic", func() bool {
				c, _ := stateContent(t, b.base, bob.token, roomID, "m.room.topic", "")
				return c["topic"] == "set on A during the cut"
			})
			bob.say(t, roomID, "bob carries the topic")
			want["bob carries the topic"] = true
			checkMerged(t, roomID, observers, recs, want)
			// The cut held: A and C each failed to send to the other.
			for _, pair := range [][2]*fedServer{{a, c}, {c, a}} {
				waitFor(t, string(pair[0].name)+" fails to reach "+string(pair[1].name), func() bool {
					return strings.Contains(pair[0].logs.String(), `msg="federation transaction failed" destination=`+string(pair[1].name))
				})
			}
			if c, _ := stateContent(t, c.base, carol.token, roomID, "m.room.topic", ""); c["topic"] != "set on A during the cut" {
				t.Errorf("C's topic during the cut = %v, want A's (through B)", c["topic"])
			}

			m.heal()
			m.poke(t, 0, 2)
			m.poke(t, 2, 0)
			carol.say(t, roomID, "after the cut")
			want["after the cut"] = true
			checkMerged(t, roomID, observers, recs, want)
		})
	}
}
