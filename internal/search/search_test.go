package search

import (
	"encoding/base64"
	"errors"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

func TestTokens(t *testing.T) {
	room, sender := id.RoomID("!a.b:hafen.test"), id.UserID("@x.y:hafen.test")
	for _, tc := range []struct {
		c      cursor
		recent bool
	}{
		{cursor{before: 42}, true},
		{cursor{offset: 7, seen: 3}, false},
		{cursor{before: 9, seen: 12, room: room}, true},
		{cursor{offset: 2, seen: 1, sender: sender}, false},
		{cursor{before: 5, seen: 2, room: room, sender: sender}, true},
	} {
		tok := tc.c.token(tc.recent)
		if got, err := parseToken(tok, tc.recent); err != nil || got != tc.c {
			t.Errorf("parseToken(%q) = %+v, %v, want %+v", tok, got, err, tc.c)
		}
	}
	// Tokens handed out before counts were carried still page.
	if got, err := parseToken("p42", true); err != nil || got != (cursor{before: 42}) {
		t.Errorf("parseToken(p42) = %+v, %v", got, err)
	}
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		tok    string
		recent bool
	}{
		{"", false}, {"o", false}, {"p5", false}, {"o5", true}, {"o-1", false}, {"x5", false},
		{"o99999999999", false}, {"p1e3", true}, {"p5.", true}, {"p5.-1", true}, {"p5.99999999999", true},
		{"p5.1.", true}, {"p5.1.x" + b64(string(room)), true}, {"p5.1.r!!!", true}, {"p5.1.r" + b64("room"), true},
		{"p5.1.s" + b64("!not:user"), true}, {"p5.1.r" + b64(string(room)) + ".r" + b64(string(room)), true},
		{"p5.1.s" + b64(string(sender)) + ".r" + b64(string(room)), true},
		{"p5.1.r" + b64(string(room)) + ".s" + b64(string(sender)) + ".s" + b64(string(sender)), true},
	} {
		if _, err := parseToken(tc.tok, tc.recent); !errors.Is(err, ErrBadToken) {
			t.Errorf("parseToken(%q, recent %v) = %v, want ErrBadToken", tc.tok, tc.recent, err)
		}
	}
}

func TestKeyTypes(t *testing.T) {
	got, err := keyTypes(nil)
	if err != nil || len(got) != 3 {
		t.Errorf("keyTypes(nil) = %v, %v", got, err)
	}
	if got, err := keyTypes([]string{"content.topic", "content.topic"}); err != nil || len(got) != 1 || got[0] != "m.room.topic" {
		t.Errorf("keyTypes(topic twice) = %v, %v", got, err)
	}
	if _, err := keyTypes([]string{"content.formatted_body"}); !errors.Is(err, ErrBadKey) {
		t.Errorf("keyTypes(formatted_body) = %v, want ErrBadKey", err)
	}
}
