package clientsync

// Spec: Client-Server API § Push Rules, § Predefined Rules
// https://spec.matrix.org/v1.19/client-server-api/#push-rules

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/pushrules"
	"github.com/hafenchat/hafen/internal/store"
)

// pushEvent is an event prepared for push rules: its properties are read
// once, and the room facts the rules may ask for are computed at most
// once, however many users the rules are then evaluated for.
type pushEvent struct {
	ev *event.PDU
	pe *pushrules.Event

	// mayNotify reports whether the sender holds a notifications level.
	mayNotify func(ev *event.PDU, key string) bool
	notifyOK  map[string]bool
	// memberCount counts the room's joined members.
	memberCount func() int
	count       int
	counted     bool
}

// newPushEvent prepares ev. mayNotify and memberCount answer the
// sender_notification_permission and room_member_count conditions; each is
// asked at most once per key.
func newPushEvent(ev *event.PDU, mayNotify func(ev *event.PDU, key string) bool, memberCount func() int) *pushEvent {
	var sk *string
	if k, ok := ev.StateKey(); ok {
		sk = &k
	}
	return &pushEvent{
		ev:          ev,
		pe:          pushrules.NewEvent(ev.Type(), string(ev.Sender()), string(ev.RoomID()), sk, ev.Content(), string(ev.EventID()), ev.JSON()),
		mayNotify:   mayNotify,
		memberCount: memberCount,
	}
}

func (p *pushEvent) senderMayNotify(key string) bool {
	if v, ok := p.notifyOK[key]; ok {
		return v
	}
	if p.notifyOK == nil {
		p.notifyOK = map[string]bool{}
	}
	v := p.mayNotify(p.ev, key)
	p.notifyOK[key] = v
	return v
}

func (p *pushEvent) members() int {
	if !p.counted {
		p.count, p.counted = p.memberCount(), true
	}
	return p.count
}

// pushActions evaluates the user's rules for an event someone else sent:
// whether it notifies the user, and whether it highlights.
func pushActions(p *pushEvent, rules *pushrules.Evaluator, user id.UserID, displayName string) (notify, highlight bool) {
	res := evaluatePush(p, rules, user, displayName)
	return res.Notify, res.Highlight
}

// evaluatePush evaluates the user's rules for an event someone else sent.
func evaluatePush(p *pushEvent, rules *pushrules.Evaluator, user id.UserID, displayName string) pushrules.Result {
	return rules.Evaluate(p.pe, &pushrules.Context{
		UserID:          string(user),
		DisplayName:     displayName,
		MemberCount:     p.members,
		SenderMayNotify: p.senderMayNotify,
	})
}

// userRules is a user's compiled push rules.
type userRules struct {
	ev *pushrules.Evaluator
}

// rulesOf returns the user's compiled rules; the defaults when none were
// loaded (callers load them first with ensureRules). Call with u.mu held.
func (u *unreadCounts) rulesOf(user id.UserID) *pushrules.Evaluator {
	if r := u.rules[user]; r != nil {
		return r.ev
	}
	ev := pushrules.CompileFor(nil, string(user))
	u.rules[user] = &userRules{ev: ev}
	return ev
}

// setRules replaces the user's rules with the content of their new
// m.push_rules account data.
func (u *unreadCounts) setRules(user id.UserID, content json.RawMessage, _ int64) {
	ev := pushrules.CompileFor(content, string(user))
	u.mu.Lock()
	defer u.mu.Unlock()
	u.rules[user] = &userRules{ev: ev}
}

// setIgnored replaces the users the user ignores, whose events never
// count for them.
func (u *unreadCounts) setIgnored(user id.UserID, ignored map[id.UserID]bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.ignored[user] = ignored
}

// ignores reports whether the user ignores sender. Call with u.mu held.
func (u *unreadCounts) ignores(user, sender id.UserID) bool {
	return u.ignored[user][sender]
}

// ensureRules loads the user's push rules and ignore list from the store
// unless sync has them, and marks the user as one who asks for counts now
// (before the load, so that an idle sweep keeps what it loads; see
// sweepIdle). A change that lands while they load (setRules, setIgnored)
// wins over what was loaded, which may predate it.
func (s *Service) ensureRules(ctx context.Context, user id.UserID) error {
	u := s.unread
	u.mu.Lock()
	u.seen[user] = u.now()
	haveRules := u.rules[user] != nil
	_, haveIgnored := u.ignored[user]
	u.mu.Unlock()
	if !haveRules {
		raw, err := s.db.AccountDataOf(ctx, user, "", pushRulesType)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		ev := pushrules.CompileFor(raw, string(user))
		u.mu.Lock()
		if u.rules[user] == nil {
			u.rules[user] = &userRules{ev: ev}
		}
		u.mu.Unlock()
	}
	if !haveIgnored {
		ignored, err := s.ignoredBy(ctx, user)
		if err != nil {
			return err
		}
		u.mu.Lock()
		if _, ok := u.ignored[user]; !ok {
			u.ignored[user] = ignored
		}
		u.mu.Unlock()
	}
	return nil
}

// memberContent is the part of m.room.member content sync reads.
type memberContent struct {
	Membership  string `json:"membership"`
	DisplayName string `json:"displayname"`
}

func memberContentOf(content json.RawMessage) memberContent {
	var m memberContent
	_ = json.Unmarshal(content, &m) // unreadable fields stay empty
	return m
}
