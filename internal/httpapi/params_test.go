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

func TestPositiveParams(t *testing.T) {
	for _, tc := range []struct {
		query    string
		optional int    // PositiveParam with default 7
		required int    // RequiredPositiveParam
		optErr   string // expected error code of PositiveParam
		reqErr   string // expected error code of RequiredPositiveParam
	}{
		{"", 7, 0, "", "M_MISSING_PARAM"},
		{"n=1", 1, 1, "", ""},
		{"n=40", 40, 40, "", ""},
		{"n=0", 0, 0, "M_INVALID_PARAM", "M_INVALID_PARAM"},
		{"n=-2", 0, 0, "M_INVALID_PARAM", "M_INVALID_PARAM"},
		{"n=two", 0, 0, "M_INVALID_PARAM", "M_INVALID_PARAM"},
	} {
		q, _ := url.ParseQuery(tc.query)
		check := func(fn string, got int, err error, want int, code string) {
			t.Helper()
			if code != "" {
				var me *matrixerr.Error
				if !errors.As(err, &me) || me.Code() != code || me.Status() != 400 {
					t.Errorf("%s(%q): err = %v, want 400 %s", fn, tc.query, err, code)
				}
				return
			}
			if err != nil || got != want {
				t.Errorf("%s(%q) = %d, %v; want %d", fn, tc.query, got, err, want)
			}
		}
		got, err := PositiveParam(q, "n", 7)
		check("PositiveParam", got, err, tc.optional, tc.optErr)
		got, err = RequiredPositiveParam(q, "n")
		check("RequiredPositiveParam", got, err, tc.required, tc.reqErr)
	}
}
