package store

import (
	"slices"
	"testing"
)

func TestSearchTerms(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"Quick brown FOX", []string{"quick", "brown", "fox"}},
		{`"fox" AND (dog*) OR -cat: NEAR/2`, []string{"fox", "and", "dog", "or", "cat", "near", "2"}},
		{"fox fox Fox", []string{"fox"}},
		{"Grüße, 世界!", []string{"grüße", "世界"}},
		{"  ' \" * : ", nil},
		{"a b c d e f g h i j k l m n o p q r s", []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p"}},
	} {
		if got := SearchTerms(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("SearchTerms(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
