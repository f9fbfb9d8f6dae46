package httpapi

import (
	"errors"
	"net/url"
	"testing"

	"github.com/hafenchat/hafen/internal/matrixerr"
)

func TestNonNegativeParam(t *testing.T) {
	for _, tc := range []struct {
		query string
		want  int
		bad   bool
	}{
		{"", 7, false},
		{"limit=0", 0, false},
		{"limit=25", 25, false},
		{"limit=-1", 0, true},
		{"limit=ten", 0, true},
		{"limit=1.5", 0, true},
		{"limit=99999999999999999999", 0, true},
	} {
		q, _ := url.ParseQuery(tc.query)
		got, err := NonNegativeParam(q, "limit", 7)
		if tc.bad {
			var me *matrixerr.Error
			if !errors.As(err, &me) || me.Code() != "M_INVALID_PARAM" || me.Status() != 400 {
				t.Errorf("%q: err = %v, want 400 M_INVALID_PARAM", tc.query, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q = %d, %v; want %d", tc.query, got, err, tc.want)
		}
	}
}
