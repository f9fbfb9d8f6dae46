package clientsync

// Spec: Client-Server API § Client Config (account data in /sync)
// https://spec.matrix.org/v1.19/client-server-api/#client-config

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/hafenchat/hafen/internal/accountdata"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/pushrules"
	"github.com/hafenchat/hafen/internal/store"
)

// accountDataStream is sync's memory of the account data stream: its
// newest position and, per user, the newest position of their changes
// since the service started, so that an incremental sync reads the store
// only for a user whose account data changed since their token.
type accountDataStream struct {
	mu sync.Mutex
	// start is the stream's position when the service started: a token
	// older than that may miss changes the map does not know.
	start int64
	pos   int64
	users map[id.UserID]int64
}

// AccountDataChanged records a committed change of a user's account data
// (roomID "" for global data) at position pos of the account data stream
// and wakes waiting syncs. The account data service calls it after each
// commit, in commit order. A change of m.push_rules replaces the rules
// sync counts notifications with.
func (s *Service) AccountDataChanged(user id.UserID, roomID id.RoomID, typ string, content json.RawMessage, pos int64) {
	a := &s.accountData
	a.mu.Lock()
	a.pos = max(a.pos, pos)
	a.users[user] = max(a.users[user], pos)
	a.mu.Unlock()
	if roomID == "" && typ == pushRulesType {
		s.unread.setRules(user, content, pos)
	}
	if roomID == "" && typ == accountdata.IgnoredUserListType {
		s.setIgnored(user, content)
	}
	s.notifier.Poke()
}

// accountDataPos returns the newest position of the account data stream.
func (s *Service) accountDataPos() int64 {
	a := &s.accountData
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pos
}

// accountDataChangedSince reports whether the user's account data may have
// changed after position since.
func (s *Service) accountDataChangedSince(user id.UserID, since int64) bool {
	a := &s.accountData
	a.mu.Lock()
	defer a.mu.Unlock()
	return since < a.start || a.users[user] > since
}

// pushRulesType is the account data type of the user's push rules.
const pushRulesType = "m.push_rules"

// addAccountData adds the user's account data changed in (since, upto]
// to resp: global data at the top level, a room's data in the room's
// section (joined rooms get one for it). An initial sync (initial, since
// 0) always carries m.push_rules, the defaults if the user never changed
// them. It also sets next_batch's account data position to upto.
func (s *Service) addAccountData(ctx context.Context, req Request, resp *Response, initial bool, since, upto int64) error {
	tok, err := ParseSyncToken(resp.NextBatch)
	if err != nil {
		return err
	}
	tok.AccountData = upto
	resp.NextBatch = tok.String()

	var items []store.AccountData
	if since < upto && (initial || s.accountDataChangedSince(req.User, since)) {
		all, err := s.db.AccountDataSince(ctx, req.User, since)
		if err != nil {
			return err
		}
		for _, a := range all {
			if a.StreamPos <= upto {
				items = append(items, a)
			}
		}
	}
	global := req.Filter.AccountData
	var roomFilter *RoomEventFilter
	if req.Filter.Room != nil {
		roomFilter = req.Filter.Room.AccountData
	}
	var ms map[id.RoomID]string
	hasRules := false
	for _, a := range items {
		ev, err := json.Marshal(struct {
			Type    string          `json:"type"`
			Content json.RawMessage `json:"content"`
		}{a.Type, a.Content})
		if err != nil {
			return err
		}
		if a.RoomID == "" {
			hasRules = hasRules || a.Type == pushRulesType
			if global.MatchEvent(a.Type, string(req.User)) {
				resp.addGlobalAccountData(ev)
			}
			continue
		}
		room := string(a.RoomID)
		if !req.Filter.Room.MatchRoom(room) || !roomFilter.MatchEvent(room, a.Type, string(req.User), nil) {
			continue
		}
		if lr := resp.Rooms.Leave[room]; lr != nil {
			lr.AccountData.Events = append(lr.AccountData.Events, ev)
			continue
		}
		jr := resp.Rooms.Join[room]
		if jr == nil {
			if ms == nil {
				if ms, err = s.memberships(ctx, req.User); err != nil {
					return err
				}
			}
			if ms[a.RoomID] != "join" {
				continue
			}
			jr = newJoinedRoom()
			resp.Rooms.Join[room] = jr
		}
		jr.AccountData.Events = append(jr.AccountData.Events, ev)
	}
	if initial && !hasRules && global.MatchEvent(pushRulesType, string(req.User)) {
		ev, err := json.Marshal(struct {
			Type    string          `json:"type"`
			Content pushrules.Rules `json:"content"`
		}{pushRulesType, pushrules.Rules{Global: pushrules.Defaults(string(req.User))}})
		if err != nil {
			return err
		}
		resp.addGlobalAccountData(ev)
	}
	return nil
}

func (r *Response) addGlobalAccountData(ev json.RawMessage) {
	if r.AccountData == nil {
		r.AccountData = &EventBatch{Events: emptyRaw()}
	}
	r.AccountData.Events = append(r.AccountData.Events, ev)
}
