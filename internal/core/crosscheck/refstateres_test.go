package crosscheck

// A deliberately plain, spec-literal state resolution v2 / v2.1, used as the
// expected answer where gomatrixserverlib cannot give one (it panics on
// most room v12 forks) and to decide which side is right when Hafen and
// gomatrixserverlib disagree. Its auth decisions are gomatrixserverlib's
// with the spec corrections of specDecisionIn. It favours clarity over
// speed.
//
// Spec: https://spec.matrix.org/v1.19/rooms/v2/#state-resolution
// Spec: https://spec.matrix.org/v1.19/rooms/v12/#state-resolution

import (
	"crypto/sha1"
	"maps"
	"slices"
	"sort"

	"github.com/hafenchat/hafen/internal/core/roomversion"
	gmsl "github.com/matrix-org/gomatrixserverlib"
)

// authKeys is the auth events selection for ev: the state keys the auth
// rules look at.
func authKeys(v *roomversion.Version, ev *genEvent) []skey {
	keys := []skey{{"m.room.create", ""}, {"m.room.power_levels", ""}, {"m.room.member", ev.Sender}}
	if ev.Type == "m.room.member" && ev.StateKey != nil {
		keys = append(keys, skey{"m.room.member", *ev.StateKey})
		m := ev.membership()
		c := ev.content()
		if m == "join" || m == "invite" || m == "knock" {
			keys = append(keys, skey{"m.room.join_rules", ""})
		}
		if tpi, ok := c["third_party_invite"].(map[string]any); ok && m == "invite" {
			if signed, ok := tpi["signed"].(map[string]any); ok {
				if tok, ok := signed["token"].(string); ok {
					keys = append(keys, skey{"m.room.third_party_invite", tok})
				}
			}
		}
		if via, ok := c["join_authorised_via_users_server"].(string); ok && m == "join" && v.RestrictedJoins {
			keys = append(keys, skey{"m.room.member", via})
		}
	}
	return keys
}

// isPowerEvent is the spec's "power event".
func isPowerEvent(e *genEvent) bool {
	if e.StateKey == nil {
		return false
	}
	switch e.Type {
	case "m.room.power_levels", "m.room.join_rules":
		return *e.StateKey == ""
	case "m.room.member":
		m := e.membership()
		return (m == "leave" || m == "ban") && e.Sender != *e.StateKey
	}
	return false
}

// refAllowed authorises ev against state with the spec's decision.
func refAllowed(r *genRoom, ev *genEvent, state []*genEvent, o refOpts) bool {
	st := make([]gmsl.PDU, 0, len(state))
	for _, a := range state {
		st = append(st, a.G)
	}
	err := gmslAllowed(ev.G, st)
	reason := ""
	if err != nil {
		reason = err.Error()
	}
	if o.gmslAuth {
		return err == nil
	}
	ok, _ := specDecisionIn(r, ev, err == nil, reason, state)
	return ok
}

func authChainOf(r *genRoom, id string, into map[string]bool) {
	for _, a := range r.ByID[id].AuthIDs {
		if !into[a] {
			into[a] = true
			authChainOf(r, a, into)
		}
	}
}

// senderLevelFromAuthEvents is the sender's power level "when looking at
// their respective auth_events".
func senderLevelFromAuthEvents(r *genRoom, e *genEvent) int64 {
	var state []*genEvent
	for _, a := range e.AuthIDs {
		state = append(state, r.ByID[a])
	}
	return levelsOf(r, state).user(e.Sender)
}

// refResolve resolves sets with state resolution v2 (rooms v2-v11) or v2.1
// (room v12).
func refResolve(r *genRoom, sets []map[skey]string) map[skey]string {
	return refResolveOpts(r, sets, refOpts{})
}

func refResolveOpts(r *genRoom, sets []map[skey]string, o refOpts) map[skey]string {
	v21 := r.Version.StateRes == roomversion.StateResV2_1
	// Unconflicted state map and conflicted state set.
	unconflicted := map[skey]string{}
	conflicted := map[string]bool{}
	allKeys := map[skey]bool{}
	for _, s := range sets {
		for k := range s {
			allKeys[k] = true
		}
	}
	for k := range allKeys {
		first, same := "", true
		for i, s := range sets {
			id, ok := s[k]
			if !ok || (i > 0 && id != first) {
				same = false
			}
			if i == 0 {
				first = id
			}
		}
		if same {
			unconflicted[k] = first
			continue
		}
		for _, s := range sets {
			if id, ok := s[k]; ok {
				conflicted[id] = true
			}
		}
	}
	// Auth difference.
	chains := make([]map[string]bool, len(sets))
	for i, s := range sets {
		chains[i] = map[string]bool{}
		for _, id := range s {
			authChainOf(r, id, chains[i])
		}
	}
	full := map[string]bool{}
	for id := range conflicted {
		full[id] = true
	}
	for _, c := range chains {
		for id := range c {
			inAll := true
			for _, d := range chains {
				if !d[id] {
					inAll = false
					break
				}
			}
			if !inAll {
				full[id] = true
			}
		}
	}
	// v2.1: the conflicted state subgraph, the events on auth_events paths
	// between two conflicted events.
	if v21 {
		reaches := map[string]bool{}
		var canReach func(id string) bool
		canReach = func(id string) bool {
			if v, ok := reaches[id]; ok {
				return v
			}
			reaches[id] = conflicted[id]
			res := conflicted[id]
			for _, a := range r.ByID[id].AuthIDs {
				if canReach(a) {
					res = true
				}
			}
			reaches[id] = res
			return res
		}
		below := map[string]bool{}
		for id := range conflicted {
			authChainOf(r, id, below)
		}
		for id := range below {
			if canReach(id) {
				full[id] = true
			}
		}
	}
	// Step 1: power events and their auth chains within the full conflicted
	// set, in reverse topological power ordering.
	x := map[string]bool{}
	for id := range full {
		if isPowerEvent(r.ByID[id]) {
			x[id] = true
			chain := map[string]bool{}
			authChainOf(r, id, chain)
			if o.gmslControlSet {
				chain = map[string]bool{}
				var walk func(id string)
				walk = func(id string) {
					for _, a := range r.ByID[id].AuthIDs {
						if conflicted[a] && !chain[a] {
							chain[a] = true
							walk(a)
						}
					}
				}
				walk(id)
			}
			for a := range chain {
				if full[a] {
					x[a] = true
				}
			}
		}
	}
	sortedX := refPowerOrder(r, x)
	// Step 2: iterative auth checks from the unconflicted state (v2) or the
	// empty state (v2.1).
	partial := map[skey]string{}
	if !v21 {
		for k, id := range unconflicted {
			partial[k] = id
		}
	}
	refIterativeAuth(r, partial, sortedX, o)
	// Step 3: the other events by mainline ordering.
	var rest []string
	for id := range full {
		if !x[id] {
			rest = append(rest, id)
		}
	}
	rest = refMainlineOrder(r, partial[skey{"m.room.power_levels", ""}], rest)
	// Step 4.
	refIterativeAuth(r, partial, rest, o)
	// Step 5.
	for k, id := range unconflicted {
		partial[k] = id
	}
	return partial
}

// refOpts makes the reference resolver imitate known gomatrixserverlib
// departures from the spec, to attribute the differences between the two.
type refOpts struct {
	// gmslAuth uses gomatrixserverlib's auth decisions without the spec
	// corrections of specDecisionIn.
	gmslAuth bool
	// gmslControlSet enlarges the power events only with the auth events
	// that are in the conflicted state set, as gomatrixserverlib's
	// fullControlSet does, instead of the full conflicted set (step 1).
	gmslControlSet bool
	// gmslFallback uses the event being checked in place of the missing
	// auth event during iterative auth checks, as gomatrixserverlib's
	// addFromAuthEventsIfNotRejected does (it adds event, not authEv).
	gmslFallback bool
}

func refIterativeAuth(r *genRoom, partial map[skey]string, events []string, o refOpts) {
	for _, id := range events {
		e := r.ByID[id]
		if e.StateKey == nil {
			continue
		}
		var state []*genEvent
		for _, k := range authKeys(r.Version, e) {
			if sid, ok := partial[k]; ok {
				state = append(state, r.ByID[sid])
				continue
			}
			for _, a := range e.AuthIDs {
				ae := r.ByID[a]
				if ae.key() == k {
					if o.gmslFallback {
						state = append(state, e)
					} else {
						state = append(state, ae)
					}
				}
			}
			// v12: the create event is never in auth_events; the room ID
			// names it.
			if k.Type == "m.room.create" && r.Version.RoomIDFromCreateEvent && e.Type != "m.room.create" {
				state = append(state, r.Create)
			}
		}
		if refAllowed(r, e, dedupeEvents(state), o) {
			partial[e.key()] = id
		}
	}
}

func dedupeEvents(in []*genEvent) []*genEvent {
	var out []*genEvent
	for _, e := range in {
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

// refPowerOrder is Kahn's algorithm over auth_events restricted to set,
// choosing the smallest candidate by (higher sender level, ts, event ID).
func refPowerOrder(r *genRoom, set map[string]bool) []string {
	indeg := map[string]int{}
	children := map[string][]string{}
	for id := range set {
		indeg[id] += 0
		for _, a := range r.ByID[id].AuthIDs {
			if set[a] {
				indeg[id]++
				children[a] = append(children[a], id)
			}
		}
	}
	level := map[string]int64{}
	for id := range set {
		level[id] = senderLevelFromAuthEvents(r, r.ByID[id])
	}
	less := func(a, b string) bool {
		if level[a] != level[b] {
			return level[a] > level[b]
		}
		ta, tb := r.ByID[a].obj["origin_server_ts"].(int64), r.ByID[b].obj["origin_server_ts"].(int64)
		if ta != tb {
			return ta < tb
		}
		return a < b
	}
	var ready, out []string
	for id, d := range indeg {
		if d == 0 {
			ready = append(ready, id)
		}
	}
	for len(ready) > 0 {
		sort.Slice(ready, func(i, j int) bool { return less(ready[i], ready[j]) })
		n := ready[0]
		ready = ready[1:]
		out = append(out, n)
		for _, c := range children[n] {
			indeg[c]--
			if indeg[c] == 0 {
				ready = append(ready, c)
			}
		}
	}
	return out
}

// plAuthEvent returns the m.room.power_levels event among e's auth events.
func plAuthEvent(r *genRoom, e *genEvent) *genEvent {
	for _, a := range e.AuthIDs {
		if ae := r.ByID[a]; ae.Type == "m.room.power_levels" && *ae.StateKey == "" {
			return ae
		}
	}
	return nil
}

// refMainlineOrder sorts events by mainline ordering based on power levels
// event pl ("" for none).
func refMainlineOrder(r *genRoom, pl string, events []string) []string {
	const inf = int(^uint(0) >> 1)
	mainline := map[string]int{}
	for i, p := 0, r.ByID[pl]; pl != "" && p != nil; i, p = i+1, plAuthEvent(r, p) {
		mainline[p.ID] = i
	}
	pos := map[string]int{}
	for _, id := range events {
		pos[id] = inf
		for e := plAuthEvent(r, r.ByID[id]); e != nil; e = plAuthEvent(r, e) {
			if i, ok := mainline[e.ID]; ok {
				pos[id] = i
				break
			}
		}
	}
	out := slices.Clone(events)
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if pos[a] != pos[b] {
			return pos[a] > pos[b]
		}
		ta, tb := r.ByID[a].obj["origin_server_ts"].(int64), r.ByID[b].obj["origin_server_ts"].(int64)
		if ta != tb {
			return ta < tb
		}
		return a < b
	})
	return out
}

// refResolveV1 is the state resolution of room version 1, read literally.
// Where the spec is silent it makes these choices: the m.room.member pass
// resolves every conflicted member key against R as it stood when the pass
// began; and when no event of another type passes authentication, the last
// one tried (lowest depth, highest sha1) is kept, as Synapse does.
//
// Spec: https://spec.matrix.org/v1.19/rooms/v1/#state-resolution
func refResolveV1(r *genRoom, sets []map[skey]string) map[skey]string {
	R := map[skey]string{}
	conflicts := map[skey][]string{}
	for _, s := range sets {
		for k, id := range s {
			if ids, ok := conflicts[k]; ok {
				if !slices.Contains(ids, id) {
					conflicts[k] = append(ids, id)
				}
				continue
			}
			if cur, ok := R[k]; ok && cur != id {
				conflicts[k] = []string{cur, id}
				delete(R, k)
				continue
			}
			R[k] = id
		}
	}
	sha := func(id string) string { h := sha1.Sum([]byte(id)); return string(h[:]) }
	allowedIn := func(R map[skey]string, e *genEvent) bool {
		var state []*genEvent
		for _, k := range authKeys(r.Version, e) {
			if id, ok := R[k]; ok {
				state = append(state, r.ByID[id])
			}
		}
		return refAllowed(r, e, dedupeEvents(state), refOpts{})
	}
	// Auth passes: ascending depth, then descending sha1(event_id); the
	// first goes in, each next one while it is allowed.
	authPass := func(keys []skey) {
		picked := map[skey]string{}
		for _, k := range keys {
			ids := slices.Clone(conflicts[k])
			sort.Slice(ids, func(i, j int) bool {
				a, b := r.ByID[ids[i]], r.ByID[ids[j]]
				if a.Depth != b.Depth {
					return a.Depth < b.Depth
				}
				return sha(ids[i]) > sha(ids[j])
			})
			cur := ids[0]
			for _, id := range ids[1:] {
				trial := maps.Clone(R)
				trial[k] = cur
				if !allowedIn(trial, r.ByID[id]) {
					break
				}
				cur = id
			}
			picked[k] = cur
		}
		for k, id := range picked {
			R[k] = id
		}
	}
	var pl, jr, members, others []skey
	for _, k := range sortedKeys(toIDMap(conflicts)) {
		switch {
		case k == skey{"m.room.power_levels", ""}:
			pl = append(pl, k)
		case k.Type == "m.room.join_rules":
			jr = append(jr, k)
		case k.Type == "m.room.member":
			members = append(members, k)
		default:
			others = append(others, k)
		}
	}
	authPass(pl)
	authPass(jr)
	authPass(members)
	picked := map[skey]string{}
	for _, k := range others {
		ids := slices.Clone(conflicts[k])
		sort.Slice(ids, func(i, j int) bool {
			a, b := r.ByID[ids[i]], r.ByID[ids[j]]
			if a.Depth != b.Depth {
				return a.Depth > b.Depth
			}
			return sha(ids[i]) < sha(ids[j])
		})
		picked[k] = ids[len(ids)-1]
		for _, id := range ids {
			if allowedIn(R, r.ByID[id]) {
				picked[k] = id
				break
			}
		}
	}
	for k, id := range picked {
		R[k] = id
	}
	return R
}

func toIDMap(m map[skey][]string) map[skey]string {
	out := make(map[skey]string, len(m))
	for k := range m {
		out[k] = ""
	}
	return out
}
