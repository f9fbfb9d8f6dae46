package search

import (
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/hafenchat/hafen/internal/core/id"
)

// cursor is where a search continues: the decoded next_batch token.
//
// A token is "p<stream position>" (by recency: below that position) or
// "o<offset>" (by rank: after that many matches), then ".<seen>", the
// results returned before it in its scope (for the count), then, for the
// token of a group, ".r<room ID>" and/or ".s<sender>" in unpadded
// URL-safe base64: the room and the sender the search is restricted to.
// The position is always that of the unrestricted search, so a group's
// token continues where the page that handed it out ended. A token
// without ".<seen>" (handed out before counts were carried) counts from
// its page.
type cursor struct {
	before int64
	offset int
	seen   int
	room   id.RoomID
	sender id.UserID
}

// maxOffset bounds how deep rank order pages.
const maxOffset = 100000

// maxSeen bounds the count a token carries.
const maxSeen = 1 << 30

// token returns the cursor as a next_batch token.
func (c cursor) token(recent bool) string {
	var b strings.Builder
	if recent {
		b.WriteString("p" + strconv.FormatInt(c.before, 10))
	} else {
		b.WriteString("o" + strconv.Itoa(c.offset))
	}
	b.WriteString("." + strconv.Itoa(c.seen))
	if c.room != "" {
		b.WriteString(".r" + base64.RawURLEncoding.EncodeToString([]byte(c.room)))
	}
	if c.sender != "" {
		b.WriteString(".s" + base64.RawURLEncoding.EncodeToString([]byte(c.sender)))
	}
	return b.String()
}

// parseToken decodes a next_batch token of a search in the given order;
// ErrBadToken if it is not one this server hands out for that order.
func parseToken(tok string, recent bool) (cursor, error) {
	var c cursor
	parts := strings.Split(tok, ".")
	if len(parts) > 4 || len(parts[0]) < 2 {
		return cursor{}, ErrBadToken
	}
	n, err := strconv.ParseInt(parts[0][1:], 10, 64)
	if err != nil || n < 0 {
		return cursor{}, ErrBadToken
	}
	switch {
	case parts[0][0] == 'p' && recent:
		c.before = n
	case parts[0][0] == 'o' && !recent && n <= maxOffset:
		c.offset = int(n)
	default:
		return cursor{}, ErrBadToken
	}
	if len(parts) > 1 {
		seen, err := strconv.Atoi(parts[1])
		if err != nil || seen < 0 || seen > maxSeen {
			return cursor{}, ErrBadToken
		}
		c.seen = seen
	}
	for _, p := range parts[min(2, len(parts)):] {
		if p == "" {
			return cursor{}, ErrBadToken
		}
		raw, err := base64.RawURLEncoding.DecodeString(p[1:])
		if err != nil {
			return cursor{}, ErrBadToken
		}
		switch {
		case p[0] == 'r' && c.room == "" && c.sender == "":
			if c.room, err = id.ParseRoomID(string(raw)); err != nil {
				return cursor{}, ErrBadToken
			}
		case p[0] == 's' && c.sender == "":
			if c.sender, err = id.ParseUserID(string(raw)); err != nil {
				return cursor{}, ErrBadToken
			}
		default:
			return cursor{}, ErrBadToken
		}
	}
	return c, nil
}
