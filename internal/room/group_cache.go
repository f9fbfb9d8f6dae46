package room

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/hafenchat/hafen/internal/core/id"
)

// maxCachedGroups is how many past state groups a room head keeps (see
// StateAtGroupSorted).
const maxCachedGroups = 4

// GroupEntry is one event of the state at a group: its type and NID.
type GroupEntry struct {
	Type string
	NID  int64
}

// groupCache keeps the states at the groups a room's readers asked for
// most recently, each as its entries ordered by type and state key. A
// state group never changes once stored, so the entries stay true; the
// cache is bounded by maxCachedGroups and lives and dies with the head.
// headerCache.mu guards it.
type groupCache struct {
	// order lists the cached groups, most recently used last.
	order  []int64
	groups map[int64][]GroupEntry
}

// StateAtGroupSorted returns the state of a room at a stored group as
// its events' types and NIDs, ordered by type and state key. The result
// is shared: callers must not change it. The room head keeps the last
// few groups asked for, so readers paging around one point of a large
// room's history read its state once.
func (s *Service) StateAtGroupSorted(ctx context.Context, roomID id.RoomID, g int64) ([]GroupEntry, error) {
	rs, err := s.room(ctx, roomID)
	if err != nil {
		return nil, err
	}
	hc := &rs.headers
	hc.mu.Lock()
	entries, ok := hc.groups.get(g)
	hc.mu.Unlock()
	if ok {
		return entries, nil
	}
	state, err := s.db.StateAtGroup(ctx, g)
	if err != nil {
		return nil, fmt.Errorf("state of %s at group %d: %w", roomID, g, err)
	}
	type keyed struct {
		typ, stateKey string
		nid           int64
	}
	all := make([]keyed, 0, len(state))
	types := map[string]string{} // one copy of each type string
	for k, nid := range state {
		t, ok := types[k.Type]
		if !ok {
			t = k.Type
			types[t] = t
		}
		all = append(all, keyed{t, k.StateKey, nid})
	}
	slices.SortFunc(all, func(a, b keyed) int {
		return cmp.Or(cmp.Compare(a.typ, b.typ), cmp.Compare(a.stateKey, b.stateKey))
	})
	entries = make([]GroupEntry, len(all))
	for i, k := range all {
		entries[i] = GroupEntry{Type: k.typ, NID: k.nid}
	}
	hc.mu.Lock()
	hc.groups.put(g, entries)
	hc.mu.Unlock()
	return entries, nil
}

// get returns the entries of group g and marks it most recently used.
func (c *groupCache) get(g int64) ([]GroupEntry, bool) {
	entries, ok := c.groups[g]
	if !ok {
		return nil, false
	}
	if i := slices.Index(c.order, g); i >= 0 {
		c.order = append(slices.Delete(c.order, i, i+1), g)
	}
	return entries, true
}

// put adds the entries of group g, dropping the least recently used
// group beyond maxCachedGroups.
func (c *groupCache) put(g int64, entries []GroupEntry) {
	if _, ok := c.groups[g]; ok {
		return
	}
	if c.groups == nil {
		c.groups = make(map[int64][]GroupEntry, maxCachedGroups)
	}
	if len(c.order) == maxCachedGroups {
		delete(c.groups, c.order[0])
		c.order = slices.Delete(c.order, 0, 1)
	}
	c.groups[g] = entries
	c.order = append(c.order, g)
}
