package clientapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hafenchat/hafen/internal/federation"
	"github.com/hafenchat/hafen/internal/media"
)

// previewSite serves a page with OpenGraph metadata and its image, and
// counts the fetches of the page and of a missing one.
func previewSite(t *testing.T) (*httptest.Server, *atomic.Int32, *atomic.Int32) {
	t.Helper()
	var img bytes.Buffer
	m := image.NewRGBA(image.Rect(0, 0, 60, 40))
	m.Set(1, 1, color.RGBA{255, 0, 0, 255})
	png.Encode(&img, m)
	var pageHits, missingHits atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) {
		pageHits.Add(1)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html><head><title>Fallback title</title>
<meta property="og:title" content="Hafen &amp; friends">
<meta name="description" content="A homeserver">
<meta property="og:image" content="/logo.png">
<meta property="og:site_name" content="Example">
</head><body><meta property="og:title" content="not in the head"></body></html>`)
	})
	mux.HandleFunc("/plain", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<html><head><title> Just   a title </title></head></html>`)
	})
	mux.HandleFunc("/logo.png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write(img.Bytes())
	})
	mux.HandleFunc("/missing", func(w http.ResponseWriter, r *http.Request) {
		missingHits.Add(1)
		http.NotFound(w, r)
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts, &pageHits, &missingHits
}

// TestURLPreview: a page served on loopback is previewed while the
// private-address check is off (for this test only): OpenGraph title and
// description, the og:image stored as media and downloadable, the answer
// cached, and a failed preview cached too. With the check on, as in every
// server, loopback is refused with 403 M_FORBIDDEN.
func TestURLPreview(t *testing.T) {
	site, hits, missingHits := previewSite(t)
	for _, tc := range []struct {
		name         string
		allowPrivate bool
	}{{"private check off", true}, {"private check on", false}} {
		t.Run(tc.name, func(t *testing.T) {
			forEachMediaEnv(t, 1<<20, func(s *Server) {
				s.Previews = &media.Previewer{Media: s.Media, Client: federation.NewGuardedHTTPClient(federation.GuardConfig{
					AllowPrivate: tc.allowPrivate, MaxRedirects: 3,
				})}
			}, func(t *testing.T, e *mediaEnv) {
				tok := e.token("alice")
				preview := func(u string) *http.Response {
					return e.send("GET", "/_matrix/client/v1/media/preview_url?url="+url.QueryEscape(u)+"&ts=1510610716656", tok, nil, nil)
				}
				if !tc.allowPrivate {
					wantStatus(t, preview(site.URL+"/page"), 403, "M_FORBIDDEN")
					return
				}
				hits.Store(0)
				body := wantStatus(t, preview(site.URL+"/page#frag"), 200, "")
				var pv map[string]any
				if err := json.Unmarshal(body, &pv); err != nil {
					t.Fatal(err)
				}
				if pv["og:title"] != "Hafen & friends" || pv["og:description"] != "A homeserver" || pv["og:site_name"] != "Example" ||
					pv["og:image:type"] != "image/png" || pv["og:image:width"] != 60.0 || pv["og:image:height"] != 40.0 {
					t.Fatalf("preview = %s", body)
				}
				mxc, _ := pv["og:image"].(string)
				server, mediaID, _ := strings.Cut(strings.TrimPrefix(mxc, "mxc://"), "/")
				if server != "hafen.test" || mediaID == "" || pv["matrix:image:size"] == nil {
					t.Fatalf("og:image = %q, size %v", mxc, pv["matrix:image:size"])
				}
				res := e.send("GET", "/_matrix/client/v1/media/download/hafen.test/"+mediaID, tok, nil, nil)
				if img := wantStatus(t, res, 200, ""); res.Header.Get("Content-Type") != "image/png" || float64(len(img)) != pv["matrix:image:size"] {
					t.Fatalf("og:image download: %s, %d bytes", res.Header.Get("Content-Type"), len(img))
				}
				// Cached: the page is not fetched again; the legacy path
				// answers the same.
				wantStatus(t, e.send("GET", "/_matrix/media/v3/preview_url?url="+url.QueryEscape(site.URL+"/page"), tok, nil, nil), 200, "")
				if n := hits.Load(); n != 1 {
					t.Errorf("page fetched %d times, want 1", n)
				}

				body = wantStatus(t, preview(site.URL+"/plain"), 200, "")
				if string(body) != `{"og:title":"Just a title"}` {
					t.Errorf("preview of a page with only a title = %s", body)
				}
				// A failed preview is remembered: asking again does not
				// fetch the page again.
				missingHits.Store(0)
				wantStatus(t, preview(site.URL+"/missing"), 502, "M_UNKNOWN")
				wantStatus(t, preview(site.URL+"/missing"), 502, "M_UNKNOWN")
				if n := missingHits.Load(); n != 1 {
					t.Errorf("missing page fetched %d times for two previews, want 1", n)
				}
				wantStatus(t, preview("ftp://example.org/"), 400, "M_INVALID_PARAM")
				wantStatus(t, e.send("GET", "/_matrix/client/v1/media/preview_url", tok, nil, nil), 400, "M_MISSING_PARAM")
				wantStatus(t, e.send("GET", "/_matrix/client/v1/media/preview_url?url="+url.QueryEscape(site.URL+"/page"), "", nil, nil), 401, "M_MISSING_TOKEN")
			})
		})
	}
}

// TestURLPreviewDenyLists: a denied host name and a denied address range
// are refused even while private addresses are allowed; previews are off
// (M_UNRECOGNIZED) unless configured.
func TestURLPreviewDenyLists(t *testing.T) {
	site, _, _ := previewSite(t)
	u, _ := url.Parse(site.URL)
	for _, tc := range []struct {
		name  string
		guard federation.GuardConfig
	}{
		{"deny range", federation.GuardConfig{AllowPrivate: true, Deny: mustPrefixes("127.0.0.0/8", "::1/128")}},
		{"deny host", federation.GuardConfig{AllowPrivate: true, DenyHost: func(h string) error {
			if h == u.Hostname() {
				return federation.ErrDeniedHost
			}
			return nil
		}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachMediaEnv(t, 1<<20, func(s *Server) {
				s.Previews = &media.Previewer{Media: s.Media, Client: federation.NewGuardedHTTPClient(tc.guard)}
			}, func(t *testing.T, e *mediaEnv) {
				wantStatus(t, e.send("GET", "/_matrix/client/v1/media/preview_url?url="+url.QueryEscape(site.URL+"/page"), e.token("alice"), nil, nil), 403, "M_FORBIDDEN")
			})
		})
	}
	forEachMediaEnv(t, 1<<20, nil, func(t *testing.T, e *mediaEnv) {
		wantStatus(t, e.send("GET", "/_matrix/client/v1/media/preview_url?url="+url.QueryEscape(site.URL+"/page"), e.token("alice"), nil, nil), 404, "M_UNRECOGNIZED")
	})
}

func mustPrefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}
