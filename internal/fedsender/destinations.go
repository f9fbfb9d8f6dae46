package fedsender

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/stream"
)

// memberCacheSize bounds the number of state groups whose joined servers
// the sender keeps; the cache is emptied when it is full.
const memberCacheSize = 1024

// memberCache maps state groups to the other servers with joined members
// in them. State groups never change, so an entry never goes stale. Only
// the consumer goroutine uses it.
type memberCache struct {
	db     *store.DB
	self   id.ServerName
	groups map[int64][]id.ServerName
}

func newMemberCache(db *store.DB, self id.ServerName) *memberCache {
	return &memberCache{db: db, self: self, groups: map[int64][]id.ServerName{}}
}

// queueEntries returns the queue entries of a batch of committed events:
// one per event of a local sender and destination.
func (s *Sender) queueEntries(ctx context.Context, evs []stream.Event) ([]store.QueuedPDU, error) {
	var local []stream.Event
	var unknown []id.EventID
	for _, ev := range evs {
		if ev.PDU.Sender().Domain() == s.cfg.ServerName {
			local = append(local, ev)
			if ev.StateGroupBefore == 0 {
				unknown = append(unknown, ev.PDU.EventID())
			}
		}
	}
	if len(local) == 0 {
		return nil, nil
	}
	// The event path publishes the state group before each event; only
	// events read back from the store need it looked up.
	groupOf, err := s.stateGroupsBefore(ctx, unknown)
	if err != nil {
		return nil, fmt.Errorf("queue events for federation: %w", err)
	}
	var out []store.QueuedPDU
	for _, ev := range local {
		var dests []id.ServerName
		g, ok := ev.StateGroupBefore, ev.StateGroupBefore != 0
		if !ok {
			g, ok = groupOf[ev.PDU.EventID()]
		}
		if ok {
			if dests, err = s.members.joinedServers(ctx, g); err != nil {
				return nil, fmt.Errorf("queue %s for federation: %w", ev.PDU.EventID(), err)
			}
		}
		// The target of a membership event hears of it even when none of
		// its users is joined: a kicked or banned user, a revoked invite.
		// An invite itself reached the invitee's server through
		// /v2/invite, which signed it; a server not in the room has no
		// use for it as a PDU.
		if target, ok := ev.PDU.StateKey(); ok && ev.PDU.Type() == "m.room.member" && membership(ev.PDU.JSON()) != "invite" {
			if srv := id.UserID(target).Domain(); srv != "" && srv != s.cfg.ServerName && !slices.Contains(dests, srv) {
				dests = append(slices.Clone(dests), srv)
			}
		}
		for _, d := range dests {
			out = append(out, store.QueuedPDU{Destination: d, StreamPos: ev.StreamPos, RoomID: ev.PDU.RoomID(), EventID: ev.PDU.EventID()})
		}
	}
	return out, nil
}

// stateGroupsBefore returns the state group before each of the events
// whose state is known.
func (s *Sender) stateGroupsBefore(ctx context.Context, ids []id.EventID) (map[id.EventID]int64, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	nids, err := s.cfg.DB.EventNIDs(ctx, ids)
	if err != nil {
		return nil, err
	}
	nidList := make([]int64, 0, len(nids))
	for _, nid := range nids {
		nidList = append(nidList, nid)
	}
	groups, err := s.cfg.DB.StateGroupsBeforeEvents(ctx, nidList)
	if err != nil {
		return nil, err
	}
	out := make(map[id.EventID]int64, len(groups))
	for eid, nid := range nids {
		if g, ok := groups[nid]; ok {
			out[eid] = g
		}
	}
	return out, nil
}

// joinedServers returns the servers other than this one with a joined
// member in the state group; the slice is shared and must not be changed.
func (c *memberCache) joinedServers(ctx context.Context, group int64) ([]id.ServerName, error) {
	if servers, ok := c.groups[group]; ok {
		return servers, nil
	}
	state, err := c.db.StateAtGroup(ctx, group)
	if err != nil {
		return nil, err
	}
	var nids []int64
	for k, nid := range state {
		if k.Type == "m.room.member" && id.UserID(k.StateKey).Domain() != c.self {
			nids = append(nids, nid)
		}
	}
	seen := map[id.ServerName]bool{}
	var servers []id.ServerName
	if len(nids) > 0 {
		members, err := c.db.EventsByNID(ctx, nids)
		if err != nil {
			return nil, err
		}
		for _, m := range members {
			if m.StateKey == nil {
				continue
			}
			srv := id.UserID(*m.StateKey).Domain()
			if seen[srv] || srv == "" || membership(m.JSON) != "join" {
				continue
			}
			seen[srv] = true
			servers = append(servers, srv)
		}
	}
	slices.Sort(servers)
	if len(c.groups) >= memberCacheSize {
		clear(c.groups)
	}
	c.groups[group] = servers
	return servers, nil
}

// membership returns content.membership of a member event's JSON.
func membership(pdu []byte) string {
	var ev struct {
		Content struct {
			Membership string `json:"membership"`
		} `json:"content"`
	}
	if json.Unmarshal(pdu, &ev) != nil {
		return ""
	}
	return ev.Content.Membership
}
