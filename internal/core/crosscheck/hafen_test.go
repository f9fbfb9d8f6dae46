package crosscheck

// Adapters from the generator's events to Hafen's protocol core.

import (
	"fmt"
	"sync"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/core/stateres"
)

// hafenRoom holds Hafen's parse of a generated room's events.
type hafenRoom struct {
	r    *genRoom
	pdus map[string]*event.PDU
	errs map[string]error
}

var hafenCache sync.Map // *genRoom -> *hafenRoom

// hafenRoomFor parses every event of r with event.Parse, once per run.
func hafenRoomFor(r *genRoom) *hafenRoom {
	if h, ok := hafenCache.Load(r); ok {
		return h.(*hafenRoom)
	}
	h := &hafenRoom{r: r, pdus: make(map[string]*event.PDU, len(r.Events)), errs: map[string]error{}}
	for _, e := range r.Events {
		p, err := hafenParse(r, e)
		if err != nil {
			h.errs[e.ID] = err
			continue
		}
		h.pdus[e.ID] = p
	}
	hafenCache.Store(r, h)
	return h
}

func hafenParse(r *genRoom, e *genEvent) (p *event.PDU, err error) {
	defer func() {
		if x := recover(); x != nil {
			err = fmt.Errorf("panic: %v", x)
		}
	}()
	return event.Parse(e.JSON, r.Version)
}

// stateMap is e's auth state as an authrules.StateMap.
func (h *hafenRoom) stateMap(e *genEvent) (authrules.StateMap, error) {
	sm := make(authrules.StateMap, len(e.AuthState))
	for _, a := range e.AuthState {
		p := h.pdus[a.ID]
		if p == nil {
			return nil, fmt.Errorf("auth event %s did not parse: %v", a.ID, h.errs[a.ID])
		}
		sm[event.StateKey{Type: a.Type, StateKey: *a.StateKey}] = p
	}
	return sm, nil
}

// allowed runs authrules.Check on e against its auth state.
func (h *hafenRoom) allowed(e *genEvent) (err error) {
	defer func() {
		if x := recover(); x != nil {
			err = fmt.Errorf("panic: %v", x)
		}
	}()
	p := h.pdus[e.ID]
	if p == nil {
		return fmt.Errorf("parse: %w", h.errs[e.ID])
	}
	sm, err := h.stateMap(e)
	if err != nil {
		return err
	}
	return authrules.Check(p, sm)
}

func (h *hafenRoom) lookup(eid id.EventID) (*event.PDU, bool) {
	p, ok := h.pdus[string(eid)]
	return p, ok
}

func toHafenSets(sets []map[skey]string) []map[event.StateKey]id.EventID {
	out := make([]map[event.StateKey]id.EventID, len(sets))
	for i, s := range sets {
		m := make(map[event.StateKey]id.EventID, len(s))
		for k, v := range s {
			m[event.StateKey{Type: k.Type, StateKey: k.StateKey}] = id.EventID(v)
		}
		out[i] = m
	}
	return out
}

// resolve runs stateres.Resolve on sets.
func (h *hafenRoom) resolve(sets []map[skey]string) (res map[skey]string, err error) {
	defer func() {
		if x := recover(); x != nil {
			err = fmt.Errorf("panic: %v", x)
		}
	}()
	out, err := stateres.Resolve(h.r.Version, toHafenSets(sets), h.lookup)
	if err != nil {
		return nil, err
	}
	res = make(map[skey]string, len(out))
	for k, v := range out {
		res[skey{k.Type, k.StateKey}] = string(v)
	}
	return res, nil
}

// hafenVerify checks e's signatures with event.VerifySignatures against the
// generator's fixed server keys.
func hafenVerify(r *genRoom, p *event.PDU) error {
	lookup := func(server id.ServerName, keyID signing.KeyID) (signing.VerifyKey, bool) {
		k := r.Keys[string(server)]
		if k == nil || string(keyID) != k.keyID {
			return signing.VerifyKey{}, false
		}
		return signing.VerifyKey{Public: k.pub, ValidUntilTS: 1 << 62}, true
	}
	return event.VerifySignatures(p, lookup)
}

// hafenRedact returns event.Redact of e, canonically encoded.
func hafenRedact(v *roomversion.Version, e *genEvent) ([]byte, error) {
	out, err := event.Redact(e.JSON, v)
	if err != nil {
		return nil, err
	}
	return recanon(out)
}
