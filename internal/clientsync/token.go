package clientsync

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrBadToken means a since token is not one this server issued.
var ErrBadToken = errors.New("invalid since token")

// Token returns the token for the point just after stream position pos. It
// serves as sync's next_batch and prev_batch and as a /messages token.
func Token(pos int64) string { return "s" + strconv.FormatInt(max(pos, 0), 10) }

// ParseToken parses a sync token.
func ParseToken(tok string) (int64, error) {
	if len(tok) < 2 || tok[0] != 's' {
		return 0, fmt.Errorf("%w: %q", ErrBadToken, tok)
	}
	pos, err := strconv.ParseInt(tok[1:], 10, 64)
	if err != nil || pos < 0 {
		return 0, fmt.Errorf("%w: %q", ErrBadToken, tok)
	}
	return pos, nil
}
