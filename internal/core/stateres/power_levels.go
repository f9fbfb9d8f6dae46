package stateres

// Spec: https://spec.matrix.org/v1.19/client-server-api/#mroompower_levels
// Spec: https://spec.matrix.org/v1.19/rooms/v12/#room-creators

import (
	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
)

var (
	keyCreate      = event.StateKey{Type: authrules.TypeCreate}
	keyPowerLevels = event.StateKey{Type: authrules.TypePowerLevels}
)

// levelsKey names the m.room.power_levels event and the m.room.create event
// (-1 for none) that together give the users of a room their power levels.
type levelsKey struct{ pl, create int32 }

// powerLevelsOf returns the power levels given by power levels event pl in
// the room whose create event is create (either -1 for none), parsed once
// per resolution. Unreadable values count as absent (see
// authrules.NewPowerLevels), so that sorting never fails: the auth rules,
// not the sort, reject malformed events.
func (r *resolver) powerLevelsOf(pl, create int32) *authrules.PowerLevels {
	k := levelsKey{pl, create}
	if p, ok := r.levels[k]; ok {
		return p
	}
	var plEvent *event.PDU
	if pl >= 0 {
		plEvent = r.g.nodes[pl].pdu
	}
	var creators []id.UserID
	if create >= 0 {
		creators = r.creatorsOf(create)
	}
	p := authrules.NewPowerLevels(r.v, plEvent, creators)
	r.levels[k] = p
	return p
}

// creatorsOf returns the room creators named by create event i.
func (r *resolver) creatorsOf(i int32) []id.UserID {
	if cs, ok := r.creators[i]; ok {
		return cs
	}
	cs := authrules.Creators(r.g.nodes[i].pdu)
	r.creators[i] = cs
	return cs
}
