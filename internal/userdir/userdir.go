// Package userdir owns the user directory: who a user can find by name,
// and the index that answers it. The index is kept by a durable consumer
// of the event stream, so it follows every join (a user's display name and
// avatar as their latest join event gives them, which is also how profile
// changes reach rooms) and every change of a room's join rules or history
// visibility, in the consumer's own transaction; no sync or send does any
// work for it. A search reads the index and the memberships table: users
// who share a joined room with the searcher, and users joined to a room
// anyone may join or read.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#user-directory
package userdir

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"unicode"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/directory"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/stream"
)

// ConsumerName is the name of the user directory's stream position.
const ConsumerName = "user_directory"

// Limits of a search.
const (
	DefaultLimit = 10
	MaxLimit     = 100
)

// Config holds a Service's dependencies.
type Config struct {
	DB     *store.DB
	Stream *stream.Stream
	// ServerName is this server's name: when one of its users joins a
	// room, the room's members the index lacks (those of a room joined
	// over federation, whose state did not pass through the stream) are
	// indexed too.
	ServerName id.ServerName
	Logger     *slog.Logger
}

// Service is the user directory. Start runs its stream consumer; Stop
// stops it.
type Service struct {
	db       *store.DB
	server   id.ServerName
	consumer *stream.Consumer
}

// New returns the user directory; its index follows the stream once
// Start runs. A server without a stored position starts from the
// beginning of the stream, so an existing server indexes its history
// once.
func New(cfg Config) *Service {
	s := &Service{db: cfg.DB, server: cfg.ServerName}
	s.consumer = stream.NewConsumer(stream.ConsumerConfig{
		Name: ConsumerName, Stream: cfg.Stream, DB: cfg.DB, Positions: cfg.DB,
		Stage: s.stage, From: 0, Logger: cfg.Logger,
	})
	return s
}

// Start starts the index's stream consumer.
func (s *Service) Start(ctx context.Context) error { return s.consumer.Start(ctx) }

// Stop stops it and waits.
func (s *Service) Stop() { s.consumer.Stop() }

// WaitFor waits until the index has seen every event up to stream
// position pos (tests, and callers that must read their own writes).
func (s *Service) WaitFor(ctx context.Context, pos int64) error { return s.consumer.WaitFor(ctx, pos) }

// stage turns a batch of events into index writes: the latest join of
// each user, and the rooms whose join rules or history visibility changed.
func (s *Service) stage(ctx context.Context, evs []stream.Event) (func(tx *store.Tx) error, func(), error) {
	users := map[id.UserID]store.DirectoryUser{}
	var order []id.UserID
	rooms := map[id.RoomID]bool{}
	var roomOrder []id.RoomID
	// joinedHere are the rooms a user of this server joined in the batch.
	joinedHere := map[id.RoomID]bool{}
	var joinedOrder []id.RoomID
	for _, e := range evs {
		p := e.PDU
		sk, isState := p.StateKey()
		if !isState {
			continue
		}
		switch p.Type() {
		case "m.room.member":
			u, ok := joinEntry(sk, p.Content())
			if !ok {
				continue
			}
			if _, seen := users[u.UserID]; !seen {
				order = append(order, u.UserID)
			}
			users[u.UserID] = u
			if s.server != "" && u.UserID.Domain() == s.server && !joinedHere[p.RoomID()] {
				joinedHere[p.RoomID()] = true
				joinedOrder = append(joinedOrder, p.RoomID())
			}
		case "m.room.join_rules", "m.room.history_visibility":
			if sk == "" && !rooms[p.RoomID()] {
				rooms[p.RoomID()] = true
				roomOrder = append(roomOrder, p.RoomID())
			}
		}
	}
	for _, roomID := range joinedOrder {
		missing, err := s.db.MissingDirectoryMembers(ctx, roomID)
		if err != nil {
			return nil, nil, fmt.Errorf("user directory: %w", err)
		}
		for _, m := range missing {
			if m.StateKey == nil {
				continue
			}
			u, ok := joinEntry(*m.StateKey, event.RawContent(m.JSON))
			if _, seen := users[u.UserID]; !ok || seen {
				continue
			}
			order = append(order, u.UserID)
			users[u.UserID] = u
		}
	}
	if len(users) == 0 && len(rooms) == 0 {
		return nil, nil, nil
	}
	// Whether a room is open is read from its current state, which is at
	// or after the batch: the index converges on the current state.
	sums, err := directory.Summaries(ctx, s.db, roomOrder)
	if err != nil {
		return nil, nil, fmt.Errorf("user directory: %w", err)
	}
	entries := make([]store.DirectoryUser, 0, len(order))
	for _, u := range order {
		entries = append(entries, users[u])
	}
	write := func(tx *store.Tx) error {
		if len(entries) > 0 {
			if err := tx.UpsertDirectoryUsers(ctx, entries); err != nil {
				return err
			}
		}
		for _, roomID := range roomOrder {
			sum := sums[roomID]
			open := sum != nil && (sum.JoinRule == "public" || sum.WorldReadable)
			if err := tx.SetDirectoryPublicRoom(ctx, roomID, open); err != nil {
				return err
			}
		}
		return nil
	}
	return write, nil, nil
}

// joinEntry reads the state key and content of a join event into a
// directory entry.
func joinEntry(stateKey string, content []byte) (store.DirectoryUser, bool) {
	var c struct {
		Membership  string `json:"membership"`
		DisplayName any    `json:"displayname"`
		AvatarURL   any    `json:"avatar_url"`
	}
	if json.Unmarshal(content, &c) != nil || c.Membership != "join" {
		return store.DirectoryUser{}, false
	}
	userID, err := id.ParseUserID(stateKey)
	if err != nil {
		return store.DirectoryUser{}, false
	}
	name, _ := c.DisplayName.(string)
	avatar, _ := c.AvatarURL.(string)
	return store.DirectoryUser{
		UserID: userID, DisplayName: name, AvatarURL: avatar,
		Search: " " + strings.Join(append(words(name), words(string(userID))...), " ") + " ",
	}, true
}

// words splits s into lower-case words at every character that is not a
// letter or digit.
func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// User is a search result.
type User struct {
	UserID      id.UserID `json:"user_id"`
	DisplayName string    `json:"display_name,omitempty"`
	AvatarURL   string    `json:"avatar_url,omitempty"`
}

// Result is the answer of a search.
type Result struct {
	Results []User `json:"results"`
	Limited bool   `json:"limited"`
}

// Search finds the users searcher may find whose display name or user ID
// has, for every word of term, a word starting with it (case-insensitive;
// words split at anything but letters and digits, so "@ali:ex" finds
// @alice:example.org): users sharing a joined room with the searcher
// first. At most limit (default DefaultLimit, at most MaxLimit) results;
// Limited says there were more.
func (s *Service) Search(ctx context.Context, searcher id.UserID, term string, limit int) (*Result, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	prefixes := words(term)
	out := &Result{Results: []User{}}
	if len(prefixes) == 0 {
		return out, nil
	}
	if len(prefixes) > store.MaxDirectorySearchWords {
		prefixes = prefixes[:store.MaxDirectorySearchWords]
	}
	found, err := s.db.SearchUserDirectory(ctx, searcher, prefixes, limit+1)
	if err != nil {
		return nil, err
	}
	if len(found) > limit {
		found, out.Limited = found[:limit], true
	}
	for _, u := range found {
		out.Results = append(out.Results, User{UserID: u.UserID, DisplayName: u.DisplayName, AvatarURL: u.AvatarURL})
	}
	return out, nil
}
