// Package userdir owns the user directory: who a user can find by name,
// and the index that answers it. The index is kept by a durable consumer
// of the event stream, so it follows every join (profile changes reach
// rooms as join events too) and every change of a room's join rules or
// history visibility, in the consumer's own transaction; no sync or send
// does any work for it. Names come from the global profile of local users,
// from remote users' joins to open rooms, and for remote users met only in
// other rooms from their global profile, asked of their server; never from
// a name a user chose for one private room. A search reads the index and the
// memberships table: users who share a joined room with the searcher, and
// users joined to a room anyone may join or read.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#user-directory
package userdir

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"unicode"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/directory"
	"github.com/hafenchat/hafen/internal/profile"
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
	// Profiles, when set, asks other servers for their users' global
	// profiles: a remote user seen joining only rooms that are not open
	// is indexed under their global name once their server answers.
	Profiles RemoteProfiles
}

// Service is the user directory. Start runs its stream consumer; Stop
// stops it.
type Service struct {
	db       *store.DB
	server   id.ServerName
	consumer *stream.Consumer
	// profiles fetches remote users' global profiles; nil without
	// Config.Profiles.
	profiles *profileFetcher
}

// New returns the user directory; its index follows the stream once
// Start runs. A server without a stored position starts from the
// beginning of the stream, so an existing server indexes its history
// once.
func New(cfg Config) *Service {
	s := &Service{db: cfg.DB, server: cfg.ServerName}
	if cfg.Profiles != nil {
		log := cfg.Logger
		if log == nil {
			log = slog.New(slog.DiscardHandler)
		}
		s.profiles = newProfileFetcher(cfg.Profiles, cfg.DB, log)
	}
	s.consumer = stream.NewConsumer(stream.ConsumerConfig{
		Name: ConsumerName, Stream: cfg.Stream, DB: cfg.DB, Positions: cfg.DB,
		Stage: s.stage, From: 0, Logger: cfg.Logger,
	})
	return s
}

// Start starts the index's stream consumer, and the fetcher of remote
// profiles.
func (s *Service) Start(ctx context.Context) error {
	if err := s.consumer.Start(ctx); err != nil {
		return err
	}
	if s.profiles != nil {
		s.profiles.Start()
	}
	return nil
}

// Stop stops them and waits.
func (s *Service) Stop() {
	s.consumer.Stop()
	if s.profiles != nil {
		s.profiles.Stop()
	}
}

// WaitFor waits until the index has seen every event up to stream
// position pos (tests, and callers that must read their own writes).
func (s *Service) WaitFor(ctx context.Context, pos int64) error { return s.consumer.WaitFor(ctx, pos) }

// stage turns a batch of events into index writes: the users who joined a
// room, and the rooms whose join rules or history visibility changed.
//
// A member event may carry a name the user chose for one room only, so
// the index takes names from where everyone may see them: a local user's
// global profile, and a remote user's join to a room anyone may join or
// read. A remote user seen joining only other rooms is indexed by user ID,
// keeping a name an earlier public join gave them, and their global
// profile is asked of their server after the commit (see profileFetcher).
func (s *Service) stage(ctx context.Context, evs []stream.Event) (func(tx *store.Tx) error, func(), error) {
	var joins []memberJoin
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
			joins = append(joins, memberJoin{u, p.RoomID()})
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
		// A room joined over federation took its state from the join's
		// answer, not from events of this stream: whether it is open is
		// recorded now, or its members would stay hidden from the
		// server's users outside it.
		if !rooms[roomID] {
			rooms[roomID] = true
			roomOrder = append(roomOrder, roomID)
		}
		missing, err := s.db.MissingDirectoryMembers(ctx, roomID)
		if err != nil {
			return nil, nil, fmt.Errorf("user directory: %w", err)
		}
		for _, m := range missing {
			if m.StateKey == nil {
				continue
			}
			if u, ok := joinEntry(*m.StateKey, event.RawContent(m.JSON)); ok {
				joins = append(joins, memberJoin{u, roomID})
			}
		}
	}
	if len(joins) == 0 && len(rooms) == 0 {
		return nil, nil, nil
	}
	// Whether a room is open is read from its current state, which is at
	// or after the batch: the index converges on the current state.
	summaryRooms := slices.Clone(roomOrder)
	for _, j := range joins {
		if !s.local(j.user.UserID) && !rooms[j.roomID] {
			rooms[j.roomID] = true
			summaryRooms = append(summaryRooms, j.roomID)
		}
	}
	sums, err := directory.Summaries(ctx, s.db, summaryRooms)
	if err != nil {
		return nil, nil, fmt.Errorf("user directory: %w", err)
	}
	open := func(roomID id.RoomID) bool {
		sum := sums[roomID]
		return sum != nil && (sum.JoinRule == "public" || sum.WorldReadable)
	}
	named, idOnly, err := s.entries(ctx, joins, open)
	if err != nil {
		return nil, nil, err
	}
	write := func(tx *store.Tx) error {
		if len(named) > 0 {
			if err := tx.UpsertDirectoryUsers(ctx, named); err != nil {
				return err
			}
		}
		if len(idOnly) > 0 {
			if err := tx.AddDirectoryUsers(ctx, idOnly); err != nil {
				return err
			}
		}
		for _, roomID := range roomOrder {
			if err := tx.SetDirectoryPublicRoom(ctx, roomID, open(roomID)); err != nil {
				return err
			}
		}
		return nil
	}
	var committed func()
	if s.profiles != nil && len(idOnly) > 0 {
		users := make([]id.UserID, 0, len(idOnly))
		for _, u := range idOnly {
			if !s.local(u.UserID) {
				users = append(users, u.UserID)
			}
		}
		committed = func() { s.profiles.add(users) }
	}
	return write, committed, nil
}

// memberJoin is a user's join to a room, as a directory entry.
type memberJoin struct {
	user   store.DirectoryUser
	roomID id.RoomID
}

// local reports whether user is a user of this server.
func (s *Service) local(user id.UserID) bool {
	return s.server != "" && user.Domain() == s.server
}

// entries returns the directory entries of the users of joins (in the
// order they first joined): named ones, which replace what the index
// holds, and the remote users seen only in rooms that are not open, whose
// entries are added by user ID without their names.
func (s *Service) entries(ctx context.Context, joins []memberJoin, open func(id.RoomID) bool) (named, idOnly []store.DirectoryUser, err error) {
	byUser := map[id.UserID]*store.DirectoryUser{}
	var order []id.UserID
	for _, j := range joins {
		u := j.user.UserID
		if _, seen := byUser[u]; !seen {
			order = append(order, u)
			byUser[u] = nil
		}
		switch {
		case s.local(u):
			if byUser[u] != nil {
				continue
			}
			acct, err := s.db.User(ctx, u)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, nil, fmt.Errorf("user directory: %w", err)
			}
			e := newEntry(u, acct.DisplayName, acct.AvatarURL)
			byUser[u] = &e
		case open(j.roomID):
			e := j.user
			byUser[u] = &e
		}
	}
	for _, u := range order {
		if e := byUser[u]; e != nil {
			named = append(named, *e)
		} else {
			idOnly = append(idOnly, newEntry(u, "", ""))
		}
	}
	return named, idOnly, nil
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
	return newEntry(userID, name, avatar), true
}

// newEntry returns the directory entry of a user with a display name and
// avatar, each held to this server's limits for a local user's profile
// (profile.Check): a value that fails them, as another server's profile
// or member event may hold (an over-long name, an avatar that is no
// mxc:// URI, a NUL, which PostgreSQL cannot store), is left out.
func newEntry(userID id.UserID, name, avatar string) store.DirectoryUser {
	if profile.Check(profile.DisplayName, name) != nil {
		name = ""
	}
	if profile.Check(profile.AvatarURL, avatar) != nil {
		avatar = ""
	}
	return store.DirectoryUser{
		UserID: userID, DisplayName: name, AvatarURL: avatar,
		Search: " " + strings.Join(append(words(name), words(string(userID))...), " ") + " ",
	}
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
// first. At most limit (DefaultLimit if negative, at most MaxLimit)
// results; Limited says there were more (with limit 0: that any matched).
func (s *Service) Search(ctx context.Context, searcher id.UserID, term string, limit int) (*Result, error) {
	if limit < 0 {
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
