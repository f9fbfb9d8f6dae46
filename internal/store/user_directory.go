package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/hafenchat/hafen/internal/core/id"
)

// user_directory holds, for every user seen joining a room (of this
// server or another), the display name and avatar others may find them by
// (see userdir) and the words a search matches: " word word … " in lower
// case, so that "LIKE '% prefix%'" finds a word starting with prefix.
// user_directory_public_rooms lists the rooms whose members anyone may
// find: public join rule or world-readable history. Both are kept by the
// user directory's stream consumer; who shares a room with whom is read
// from memberships at search time.
const userDirectorySchema = `
CREATE TABLE user_directory (
	user_id      TEXT PRIMARY KEY,
	display_name TEXT NOT NULL,
	avatar_url   TEXT NOT NULL,
	search       TEXT NOT NULL
);
CREATE TABLE user_directory_public_rooms (
	room_id TEXT PRIMARY KEY
)`

// rebuildUserDirectory empties the user directory and forgets its
// consumer's position, so that the consumer indexes the event stream again
// from its start: entries written before names were taken only from where
// everyone may see them may hold a name chosen for one private room.
const rebuildUserDirectory = `
DELETE FROM user_directory;
DELETE FROM user_directory_public_rooms;
DELETE FROM stream_consumers WHERE name = 'user_directory'`

// DirectoryUser is a user directory entry.
type DirectoryUser struct {
	UserID      id.UserID
	DisplayName string
	AvatarURL   string
	// Search is the entry's search words (see user_directory).
	Search string
}

// UpsertDirectoryUsers stores user directory entries, replacing earlier
// ones of the same users.
func (t *Tx) UpsertDirectoryUsers(ctx context.Context, users []DirectoryUser) error {
	return t.insertDirectoryUsers(ctx, users, ` ON CONFLICT (user_id) DO UPDATE SET display_name = excluded.display_name,
			avatar_url = excluded.avatar_url, search = excluded.search`)
}

// AddDirectoryUsers stores user directory entries of users the index does
// not hold yet; entries it holds are kept.
func (t *Tx) AddDirectoryUsers(ctx context.Context, users []DirectoryUser) error {
	return t.insertDirectoryUsers(ctx, users, ` ON CONFLICT (user_id) DO NOTHING`)
}

// insertDirectoryUsers inserts user directory entries with the conflict
// clause onConflict.
func (t *Tx) insertDirectoryUsers(ctx context.Context, users []DirectoryUser, onConflict string) error {
	args := make([]any, 0, 4*len(users))
	for _, u := range users {
		args = append(args, string(u.UserID), u.DisplayName, u.AvatarURL, u.Search)
	}
	err := t.insertRows(ctx, `INSERT INTO user_directory (user_id, display_name, avatar_url, search)`, onConflict, 4, args)
	if err != nil {
		return fmt.Errorf("store %d user directory entries: %w", len(users), err)
	}
	return nil
}

// SetDirectoryPublicRoom records whether anyone may find the room's
// members in the user directory.
func (t *Tx) SetDirectoryPublicRoom(ctx context.Context, roomID id.RoomID, public bool) error {
	query := `DELETE FROM user_directory_public_rooms WHERE room_id = $1`
	if public {
		query = `INSERT INTO user_directory_public_rooms (room_id) VALUES ($1) ON CONFLICT (room_id) DO NOTHING`
	}
	if _, err := t.q.ExecContext(ctx, query, string(roomID)); err != nil {
		return fmt.Errorf("set user directory visibility of %s: %w", roomID, err)
	}
	return nil
}

// MaxDirectorySearchWords bounds the words of one user directory search.
const MaxDirectorySearchWords = 8

// SearchUserDirectory returns up to limit users whose search words start
// with every one of prefixes (lower case, at most
// MaxDirectorySearchWords) and who share a joined room with searcher or
// are joined to a room of user_directory_public_rooms: users sharing a
// room first, then by user ID.
func (r reader) SearchUserDirectory(ctx context.Context, searcher id.UserID, prefixes []string, limit int) ([]DirectoryUser, error) {
	if len(prefixes) == 0 || len(prefixes) > MaxDirectorySearchWords {
		return nil, fmt.Errorf("search user directory: %d words", len(prefixes))
	}
	args := []any{string(searcher)}
	var conds []string
	for _, p := range prefixes {
		args = append(args, "% "+escapeLike(p)+"%")
		conds = append(conds, `d.search LIKE $`+strconv.Itoa(len(args))+` ESCAPE '\'`)
	}
	args = append(args, limit)
	query := `
		SELECT user_id, display_name, avatar_url, search FROM (
			SELECT d.user_id, d.display_name, d.avatar_url, d.search,
				CASE WHEN EXISTS (SELECT 1 FROM memberships a JOIN memberships b ON b.room_id = a.room_id
					WHERE a.user_id = $1 AND a.membership = 'join' AND b.user_id = d.user_id AND b.membership = 'join')
				THEN 0 ELSE 1 END AS distance
			FROM user_directory d
			WHERE ` + strings.Join(conds, " AND ") + `
		) AS found
		WHERE distance = 0 OR EXISTS (SELECT 1 FROM memberships m JOIN user_directory_public_rooms p ON p.room_id = m.room_id
			WHERE m.user_id = found.user_id AND m.membership = 'join')
		ORDER BY distance, user_id
		LIMIT $` + strconv.Itoa(len(args))
	var out []DirectoryUser
	err := r.scanRows(ctx, query, args, func(scan func(...any) error) error {
		var u DirectoryUser
		if err := scan(&u.UserID, &u.DisplayName, &u.AvatarURL, &u.Search); err != nil {
			return err
		}
		out = append(out, u)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("search user directory for %s: %w", searcher, err)
	}
	return out, nil
}

// escapeLike escapes the LIKE wildcards of s with a backslash.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// maxMissingDirectoryMembers bounds the members MissingDirectoryMembers
// returns at once.
const maxMissingDirectoryMembers = 10000

// MissingDirectoryMembers returns the member events of users joined to
// the room who have no user directory entry (such as the members of a
// room joined over federation, whose state arrived without passing
// through the event stream), at most maxMissingDirectoryMembers.
func (r reader) MissingDirectoryMembers(ctx context.Context, roomID id.RoomID) ([]Event, error) {
	evs, err := r.queryEvents(ctx, `
		SELECT `+prefixedEventColumns+`
		FROM memberships m JOIN events ev ON ev.event_nid = m.event_nid
		LEFT JOIN user_directory d ON d.user_id = m.user_id
		WHERE m.room_id = $1 AND m.membership = 'join' AND d.user_id IS NULL
		LIMIT `+strconv.Itoa(maxMissingDirectoryMembers), string(roomID))
	if err != nil {
		return nil, fmt.Errorf("load members of %s missing from the user directory: %w", roomID, err)
	}
	return evs, nil
}
