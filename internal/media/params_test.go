package media

import (
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/matrixerr"
)

// TestThumbnailParams checks the parsing the client and federation
// thumbnail endpoints share.
func TestThumbnailParams(t *testing.T) {
	for _, tc := range []struct {
		query        string
		w, h         int
		method, kind string
	}{
		{query: "width=96&height=64", w: 96, h: 64, method: MethodScale},
		{query: "width=32&height=32&method=crop", w: 32, h: 32, method: MethodCrop},
		{query: "height=32", kind: "M_MISSING_PARAM"},
		{query: "width=32", kind: "M_MISSING_PARAM"},
		{query: "width=0&height=32", kind: "M_INVALID_PARAM"},
		{query: "width=x&height=32", kind: "M_INVALID_PARAM"},
		{query: "width=32&height=32&method=stretch", kind: "M_INVALID_PARAM"},
	} {
		q, _ := url.ParseQuery(tc.query)
		w, h, m, err := ThumbnailParams(q)
		if tc.kind != "" {
			var me *matrixerr.Error
			if !errors.As(err, &me) || me.Code() != tc.kind {
				t.Errorf("%s: error %v, want %s", tc.query, err, tc.kind)
			}
			continue
		}
		if err != nil || w != tc.w || h != tc.h || m != tc.method {
			t.Errorf("%s = %d %d %q %v, want %d %d %q", tc.query, w, h, m, err, tc.w, tc.h, tc.method)
		}
	}
}

// TestWaitParam checks timeout_ms: a default, a cap and refusals.
func TestWaitParam(t *testing.T) {
	for _, tc := range []struct {
		query string
		want  time.Duration
		ok    bool
	}{
		{"", DefaultWait, true},
		{"timeout_ms=1500", 1500 * time.Millisecond, true},
		{"timeout_ms=99999999999", MaxWait, true},
		{"timeout_ms=-1", 0, false},
		{"timeout_ms=soon", 0, false},
	} {
		q, _ := url.ParseQuery(tc.query)
		got, err := WaitParam(q)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%q = %v, %v; want %v (ok %v)", tc.query, got, err, tc.want, tc.ok)
		}
	}
}
