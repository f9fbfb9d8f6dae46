// Spec: Client-Server API § Server Side Search
// OpenAPI: data/api/client-server/search.yaml
// https://spec.matrix.org/v1.19/client-server-api/#server-side-search

package clientapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/hafenchat/hafen/internal/clientevent"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/search"
	"github.com/hafenchat/hafen/internal/store"
)

// Searcher searches room events. search.Service implements it.
type Searcher interface {
	Search(ctx context.Context, r search.Request) (search.Result, error)
}

var _ Searcher = (*search.Service)(nil)

// Limits of a search.
const (
	defaultSearchLimit  = 10
	maxSearchLimit      = 100
	defaultContextLimit = 5
	maxContextLimit     = 50
)

// searchRequest is the body of POST /search.
type searchRequest struct {
	SearchCategories *struct {
		RoomEvents *roomEventsCriteria `json:"room_events"`
	} `json:"search_categories"`
}

// roomEventsCriteria is the room_events category of a search.
type roomEventsCriteria struct {
	SearchTerm   *string         `json:"search_term"`
	Keys         []string        `json:"keys"`
	Filter       json.RawMessage `json:"filter"`
	OrderBy      string          `json:"order_by"`
	EventContext *struct {
		BeforeLimit    *int `json:"before_limit"`
		AfterLimit     *int `json:"after_limit"`
		IncludeProfile bool `json:"include_profile"`
	} `json:"event_context"`
	IncludeState bool `json:"include_state"`
	Groupings    *struct {
		GroupBy []struct {
			Key string `json:"key"`
		} `json:"group_by"`
	} `json:"groupings"`
}

// searchResult is one result of room_events.
type searchResult struct {
	Rank    float64             `json:"rank"`
	Result  clientevent.Event   `json:"result"`
	Context *searchEventContext `json:"context,omitempty"`
}

// searchEventContext is a result's event_context.
type searchEventContext struct {
	Start        string                    `json:"start,omitempty"`
	End          string                    `json:"end,omitempty"`
	ProfileInfo  map[id.UserID]profileInfo `json:"profile_info,omitempty"`
	EventsBefore []clientevent.Event       `json:"events_before"`
	EventsAfter  []clientevent.Event       `json:"events_after"`
}

// profileInfo is a sender's profile in a result's context.
type profileInfo struct {
	DisplayName string `json:"displayname,omitempty"`
	AvatarURL   string `json:"avatar_url,omitempty"`
}

// searchGroup is the results of one group value.
type searchGroup struct {
	NextBatch string   `json:"next_batch,omitempty"`
	Order     int      `json:"order"`
	Results   []string `json:"results"`
}

// search performs a full-text search of the room events the user may see.
//
// POST /_matrix/client/v3/search
func (a *roomAPI) search(w http.ResponseWriter, r *http.Request, sess session) error {
	var req searchRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.SearchCategories == nil {
		return matrixerr.MissingParam("search_categories")
	}
	crit := req.SearchCategories.RoomEvents
	if crit == nil {
		return httpapi.OK(w, map[string]any{"search_categories": map[string]any{}})
	}
	if crit.SearchTerm == nil {
		return matrixerr.MissingParam("search_term")
	}
	var recent bool
	switch crit.OrderBy {
	case "", "rank":
	case "recent":
		recent = true
	default:
		return matrixerr.InvalidParam("order_by must be rank or recent")
	}
	var rawFilter string
	if httpapi.Given(crit.Filter) { // null counts as absent, as for the other optional members
		rawFilter = string(crit.Filter)
	}
	filter, err := parseEventFilter(rawFilter)
	if err != nil {
		return err
	}
	before, after, includeProfile := 0, 0, false
	if c := crit.EventContext; c != nil {
		before, after, includeProfile = defaultContextLimit, defaultContextLimit, c.IncludeProfile
		for _, l := range []struct {
			v   *int
			out *int
		}{{c.BeforeLimit, &before}, {c.AfterLimit, &after}} {
			if l.v == nil {
				continue
			}
			if *l.v < 0 {
				return matrixerr.InvalidParam("before_limit and after_limit must not be negative")
			}
			*l.out = min(*l.v, maxContextLimit)
		}
	}
	var groupBy []string
	if g := crit.Groupings; g != nil {
		for _, k := range g.GroupBy {
			if k.Key != "room_id" && k.Key != "sender" {
				return matrixerr.InvalidParam("group_by keys must be room_id or sender")
			}
			groupBy = append(groupBy, k.Key)
		}
	}
	sr := search.Request{
		User: sess.UserID, Term: *crit.SearchTerm, Keys: crit.Keys, Recent: recent,
		Limit: defaultSearchLimit, Next: r.URL.Query().Get("next_batch"),
	}
	if filter != nil {
		sr.Limit = min(max(filter.LimitOr(defaultSearchLimit, maxSearchLimit), 0), maxSearchLimit)
		if filter.Rooms != nil {
			sr.Rooms = make([]id.RoomID, len(filter.Rooms))
			for i, s := range filter.Rooms {
				sr.Rooms[i] = id.RoomID(s)
			}
		}
		for _, s := range filter.NotRooms {
			sr.NotRooms = append(sr.NotRooms, id.RoomID(s))
		}
	}
	ctx := r.Context()
	ignored, err := a.ignoredBy(ctx, sess.UserID)
	if err != nil {
		return err
	}
	sr.Match = func(e store.Event) bool {
		// Ignored users' messages are left out, their state events not.
		if ignored[e.Sender] && e.StateKey == nil {
			return false
		}
		return filter.MatchEvent(string(e.RoomID), e.Type, string(e.Sender), event.RawContent(e.JSON))
	}
	res, err := a.searcher.Search(ctx, sr)
	switch {
	case errors.Is(err, search.ErrBadToken):
		return matrixerr.InvalidParam("next_batch is not a valid token for this search")
	case errors.Is(err, search.ErrBadKey):
		return matrixerr.InvalidParam("keys must be content.body, content.name or content.topic")
	case err != nil:
		return err
	}
	highlights := res.Highlights
	if highlights == nil {
		highlights = []string{} // an array, never null
	}
	out := map[string]any{"count": res.Count, "highlights": highlights}
	results := make([]searchResult, 0, len(res.Hits))
	formatters := map[id.RoomID]*eventFormatter{}
	var profiles []profileWant
	for _, h := range res.Hits {
		f, ok := formatters[h.RoomID]
		if !ok {
			v, err := a.roomVersion(ctx, h.RoomID)
			if err != nil {
				return err
			}
			f = a.formatter(h.RoomID, v, sess)
			formatters[h.RoomID] = f
		}
		ce, err := f.format(ctx, h.Event)
		if err != nil {
			return err
		}
		sres := searchResult{Rank: h.Rank, Result: ce}
		if crit.EventContext != nil {
			var around []store.Event
			if sres.Context, around, err = a.searchContext(ctx, f, sess.UserID, res.Joined[h.RoomID], h.Event, before, after); err != nil {
				return err
			}
			if includeProfile {
				profiles = append(profiles, profileWants(sres.Context, h.Event, around)...)
			}
		}
		results = append(results, sres)
	}
	if err := a.searchProfiles(ctx, profiles); err != nil {
		return err
	}
	out["results"] = results
	if res.Next != "" {
		out["next_batch"] = res.Next
	}
	if len(groupBy) > 0 {
		groups := map[string]map[string]*searchGroup{}
		for _, key := range groupBy {
			byValue := map[string]*searchGroup{}
			for _, h := range res.Hits {
				v := string(h.RoomID)
				if key == "sender" {
					v = string(h.Sender)
				}
				g, ok := byValue[v]
				if !ok {
					// A group's token pages within the group (search.md
					// § Pagination).
					next := res.RoomNext[h.RoomID]
					if key == "sender" {
						next = res.SenderNext[h.Sender]
					}
					g = &searchGroup{Order: len(byValue) + 1, Results: []string{}, NextBatch: next}
					byValue[v] = g
				}
				g.Results = append(g.Results, string(h.EventID))
			}
			groups[key] = byValue
		}
		out["groups"] = groups
	}
	if crit.IncludeState {
		state := map[id.RoomID][]clientevent.Event{}
		for roomID, f := range formatters {
			if !res.Joined[roomID] {
				continue // the current state is for members
			}
			headers, err := a.viewStateHeaders(ctx, roomID, &roomView{version: f.version, joined: true}, "", f)
			if err != nil {
				return err
			}
			evs, err := f.prepare(ctx, headers)
			if err != nil {
				return err
			}
			if state[roomID], err = f.formatAll(ctx, evs); err != nil {
				return err
			}
		}
		out["state"] = state
	}
	return httpapi.OK(w, map[string]any{"search_categories": map[string]any{"room_events": out}})
}

// searchContext returns the events around a result that the user may
// see, and those events, nearest the result first: those before, then
// those after. profile_info is left to searchProfiles.
func (a *roomAPI) searchContext(ctx context.Context, f *eventFormatter, user id.UserID, joined bool, e store.Event,
	before, after int) (*searchEventContext, []store.Event, error) {
	at := store.TopoPosOf(e)
	sc := &searchEventContext{EventsBefore: []clientevent.Event{}, EventsAfter: []clientevent.Event{}}
	var all []store.Event
	if before > 0 {
		p, err := a.paginate(ctx, e.RoomID, user, joined, at.Before(), store.TopoPos{}, store.Backward, before, nil)
		if err != nil {
			return nil, nil, err
		}
		if sc.EventsBefore, err = f.formatAll(ctx, p.events); err != nil {
			return nil, nil, err
		}
		sc.Start = topoToken(p.next)
		all = append(all, p.events...)
	}
	if after > 0 {
		p, err := a.paginate(ctx, e.RoomID, user, joined, at, store.MaxTopoPos, store.Forward, after, nil)
		if err != nil {
			return nil, nil, err
		}
		if sc.EventsAfter, err = f.formatAll(ctx, p.events); err != nil {
			return nil, nil, err
		}
		sc.End = topoToken(p.next)
		all = append(all, p.events...)
	}
	return sc, all, nil
}
