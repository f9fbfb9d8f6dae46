package media

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseOpenGraph: any page parses without panicking into at most
// maxPreviewProps og: properties (plus the two fallbacks), each valid
// UTF-8 of at most maxPreviewValue bytes.
func FuzzParseOpenGraph(f *testing.F) {
	f.Add(`<html><head><title>T</title><meta property="og:title" content="x"><meta name="description" content="d"></head></html>`)
	f.Add(`<meta property="og:image" content="/a.png"><body><meta property="og:x" content="no">`)
	f.Add("<title>\xff\xfe</title><meta property=og:a content=\"" + strings.Repeat("é", 600) + "\">")
	f.Fuzz(func(t *testing.T, page string) {
		props := parseOpenGraph(strings.NewReader(page))
		if len(props) > maxPreviewProps+2 {
			t.Fatalf("%d properties", len(props))
		}
		for k, v := range props {
			if !strings.HasPrefix(k, "og:") || !utf8.ValidString(v) || len(v) > maxPreviewValue {
				t.Fatalf("property %q = %q", k, v)
			}
		}
	})
}

func TestParseOpenGraph(t *testing.T) {
	for _, tc := range []struct {
		name, page string
		want       map[string]string
	}{
		{"og wins over fallbacks", `<head><title>T</title><meta property="og:title" content="OG"><meta name="description" content="D"></head>`,
			map[string]string{"og:title": "OG", "og:description": "D"}},
		{"first value of a property", `<meta property="og:title" content="one"><meta property="og:title" content="two">`,
			map[string]string{"og:title": "one"}},
		{"name=og: as property", `<meta name="og:site_name" content="S">`, map[string]string{"og:site_name": "S"}},
		{"body ignored", `<head></head><body><meta property="og:title" content="late"></body>`, map[string]string{}},
		{"long value clipped on a rune", `<meta property="og:description" content="` + strings.Repeat("é", 600) + `">`,
			map[string]string{"og:description": strings.Repeat("é", maxPreviewValue/2)}},
	} {
		got := parseOpenGraph(strings.NewReader(tc.page))
		if len(got) != len(tc.want) {
			t.Errorf("%s: parseOpenGraph = %v, want %v", tc.name, got, tc.want)
			continue
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%s: %s = %q, want %q", tc.name, k, got[k], v)
			}
		}
	}
}
