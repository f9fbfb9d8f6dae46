package search

import (
	"errors"
	"testing"

	"github.com/hafenchat/hafen/internal/store"
)

func TestTokens(t *testing.T) {
	for _, q := range []store.SearchQuery{{Recent: true, Before: 42}, {Offset: 7}} {
		tok := token(q)
		got := store.SearchQuery{Recent: q.Recent}
		if err := parseToken(tok, &got); err != nil || got.Before != q.Before || got.Offset != q.Offset {
			t.Errorf("parseToken(%q) = %+v, %v, want %+v", tok, got, err, q)
		}
	}
	for _, tc := range []struct {
		tok    string
		recent bool
	}{{"", false}, {"o", false}, {"p5", false}, {"o5", true}, {"o-1", false}, {"x5", false}, {"o99999999999", false}, {"p1e3", true}} {
		q := store.SearchQuery{Recent: tc.recent}
		if err := parseToken(tc.tok, &q); !errors.Is(err, ErrBadToken) {
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
