package clientsync

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/relations"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
)

// countingRelations counts the relationship queries of the bundled
// aggregations and the loads of their children.
type countingRelations struct {
	relations.Store
	rels, loads atomic.Int64
}

func (c *countingRelations) RelationsOf(ctx context.Context, roomID id.RoomID, parents []id.EventID, relTypes []string) ([]store.Relation, error) {
	c.rels.Add(1)
	return c.Store.RelationsOf(ctx, roomID, parents, relTypes)
}

func (c *countingRelations) RelationsOfParents(ctx context.Context, parents []id.EventID, relTypes []string) ([]store.Relation, error) {
	c.rels.Add(1)
	return c.Store.RelationsOfParents(ctx, parents, relTypes)
}

func (c *countingRelations) EventsByNID(ctx context.Context, nids []int64) ([]store.Event, error) {
	c.loads.Add(1)
	return c.Store.EventsByNID(ctx, nids)
}

// An initial sync over many rooms with limited timelines reads the
// relationships of all their timelines in one query (and those of the
// edits it renders in a second), and each room's
// edited message carries its own replacement, as a sync over one room
// gives it.
func TestSyncBundlesAllRoomsInOneQuery(t *testing.T) {
	forEachBackend(t, func(t *testing.T) {
		h := newHarness(t, 0)
		rel := &countingRelations{Store: h.db}
		h.sync.SetAggregator(&relations.Service{DB: rel})
		lim := &Filter{Room: &RoomFilter{Timeline: &RoomEventFilter{EventFilter: EventFilter{Limit: intp(2)}}}}
		edits := map[id.RoomID][2]id.EventID{} // original, edit
		addRooms := func(n int, edited bool) {
			for range n {
				roomID := h.createRoom(alice)
				h.send(roomID, alice, "older")
				orig := h.send(roomID, alice, "original")
				if !edited {
					h.send(roomID, alice, "newer")
					continue
				}
				content := fmt.Sprintf(`{"msgtype":"m.text","body":"* edited","m.new_content":{"msgtype":"m.text","body":"edited"},"m.relates_to":{"rel_type":"m.replace","event_id":%q}}`, orig)
				pdu, _, err := h.rooms.Send(h.ctx, roomID, room.Proposal{Type: "m.room.message", Sender: alice, Content: json.RawMessage(content)})
				if err != nil {
					t.Fatal(err)
				}
				edits[roomID] = [2]id.EventID{orig, pdu.EventID()}
			}
		}
		// initial syncs and returns the relationship queries and child
		// loads it made.
		initial := func() (*Response, int64, int64) {
			h.pos()
			rel.rels.Store(0)
			rel.loads.Store(0)
			resp := h.initial(alice, lim)
			return resp, rel.rels.Load(), rel.loads.Load()
		}
		check := func(resp *Response) {
			t.Helper()
			for roomID, e := range edits {
				jr := resp.Rooms.Join[string(roomID)]
				if jr == nil || !jr.Timeline.Limited || len(jr.Timeline.Events) != 2 {
					t.Fatalf("room %s: no limited timeline of 2 events: %+v", roomID, jr)
				}
				ev := jr.Timeline.Events[0]
				if ev.EventID != string(e[0]) {
					t.Fatalf("room %s: first timeline event %s, want the original %s", roomID, ev.EventID, e[0])
				}
				var rels struct {
					Replace struct {
						EventID string `json:"event_id"`
					} `json:"m.replace"`
				}
				if ev.Unsigned == nil || json.Unmarshal(ev.Unsigned.Relations, &rels) != nil || rels.Replace.EventID != string(e[1]) {
					t.Errorf("room %s: original's bundled m.replace is not its edit %s: %+v", roomID, e[1], ev.Unsigned)
				}
			}
		}

		addRooms(2, false)
		_, relsFew, loadsFew := initial()
		addRooms(6, false)
		_, relsMany, loadsMany := initial()
		if relsFew != 1 || relsMany != relsFew || loadsMany != loadsFew {
			t.Errorf("rooms without relations: 2 rooms cost %d relationship queries and %d loads, 8 rooms %d and %d; want 1 query each",
				relsFew, loadsFew, relsMany, loadsMany)
		}

		addRooms(2, true)
		resp, relsFew, _ := initial()
		check(resp)
		addRooms(6, true)
		resp, relsMany, _ = initial()
		check(resp)
		// The edits' history visibility is judged room by room; the
		// relationship queries (of the timelines, then of the edits) stay
		// two.
		if relsFew != 2 || relsMany != relsFew {
			t.Errorf("rooms with edits: 2 cost %d relationship queries, 8 cost %d; want 2 each", relsFew, relsMany)
		}
	})
}
