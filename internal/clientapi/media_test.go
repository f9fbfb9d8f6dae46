package clientapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/hafenchat/hafen/internal/account"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/media"
	"github.com/hafenchat/hafen/internal/media/mediatest"
	"github.com/hafenchat/hafen/internal/store/storetest"
)

// mediaEnv is the real stack for the media endpoints, served on a
// loopback listener so that requests carry real Content-Length, chunked
// bodies and Range headers.
type mediaEnv struct {
	*testEnv
	url string
}

// forEachMediaEnv runs f on SQLite and, when configured, PostgreSQL, with
// a maximum upload size of maxUpload bytes.
func forEachMediaEnv(t *testing.T, maxUpload int64, configure func(*Server), f func(t *testing.T, e *mediaEnv)) {
	t.Helper()
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		db := openTestStore(t, dsn)
		s := &Server{
			ServerName:   "hafen.test",
			Store:        &account.Service{DB: db},
			Registration: Registration{Enabled: true},
			BcryptCost:   bcrypt.MinCost,
			Media: &media.Service{
				ServerName: "hafen.test", DB: db, Files: media.DirFiles{Root: t.TempDir()},
				MaxUploadSize: maxUpload, PollInterval: 5 * time.Millisecond,
			},
			LegacyMedia: true,
		}
		if configure != nil {
			configure(s)
		}
		rt := httpapi.NewRouter()
		s.Routes(rt)
		h := httpapi.Middleware(slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})), rt)
		ts := httptest.NewServer(h)
		t.Cleanup(ts.Close)
		f(t, &mediaEnv{testEnv: &testEnv{t: t, h: h, srv: s, db: db}, url: ts.URL})
	})
}

// send makes a request over the loopback listener.
func (e *mediaEnv) send(method, path, token string, body io.Reader, header map[string]string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { res.Body.Close() })
	return res
}

// wantStatus reads res and checks its status and, for an error, errcode.
func wantStatus(t *testing.T, res *http.Response, status int, errcode string) []byte {
	t.Helper()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != status {
		t.Fatalf("%s %s: status = %d, want %d; body %s", res.Request.Method, res.Request.URL.Path, res.StatusCode, status, body)
	}
	if errcode != "" {
		var e struct{ Errcode string }
		if json.Unmarshal(body, &e) != nil || e.Errcode != errcode {
			t.Fatalf("%s %s: body %s, want errcode %s", res.Request.Method, res.Request.URL.Path, body, errcode)
		}
	}
	return body
}

// upload posts content and returns its server name and media ID.
func (e *mediaEnv) upload(token, contentType, filename string, data []byte) (string, string) {
	e.t.Helper()
	path := "/_matrix/media/v3/upload"
	if filename != "" {
		path += "?filename=" + filename
	}
	body := wantStatus(e.t, e.send("POST", path, token, bytes.NewReader(data), map[string]string{"Content-Type": contentType}), 200, "")
	var r struct {
		ContentURI string `json:"content_uri"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		e.t.Fatal(err)
	}
	server, mediaID, ok := strings.Cut(strings.TrimPrefix(r.ContentURI, "mxc://"), "/")
	if !ok || server != "hafen.test" || mediaID == "" {
		e.t.Fatalf("content_uri = %q", r.ContentURI)
	}
	return server, mediaID
}

func (e *mediaEnv) token(name string) string {
	e.t.Helper()
	return e.register(name, "pw-"+name).str("access_token")
}

// checkMediaHeaders checks the security headers every media response
// carries.
func checkMediaHeaders(t *testing.T, res *http.Response) {
	t.Helper()
	if got := res.Header.Get("Content-Security-Policy"); got != mediaCSP {
		t.Errorf("%s: Content-Security-Policy = %q, want %q", res.Request.URL.Path, got, mediaCSP)
	}
	if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options = %q, want nosniff", res.Request.URL.Path, got)
	}
}

func TestMediaUploadDownloadRoundTrip(t *testing.T) {
	forEachMediaEnv(t, 1<<20, nil, func(t *testing.T, e *mediaEnv) {
		tok := e.token("alice")
		data := []byte("a voice message, more or less")
		srv, mid := e.upload(tok, "audio/ogg", "note.ogg", data)

		for _, tc := range []struct {
			name, path, token, disposition string
		}{
			{"authenticated", "/_matrix/client/v1/media/download/" + srv + "/" + mid, tok, `inline; filename=note.ogg`},
			{"authenticated with file name", "/_matrix/client/v1/media/download/" + srv + "/" + mid + "/r%C3%A9sum%C3%A9.ogg", tok,
				`inline; filename*=utf-8''r%C3%A9sum%C3%A9.ogg`},
			{"legacy", "/_matrix/media/v3/download/" + srv + "/" + mid, "", `inline; filename=note.ogg`},
			{"legacy r0", "/_matrix/media/r0/download/" + srv + "/" + mid, "", `inline; filename=note.ogg`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := e.send("GET", tc.path, tc.token, nil, nil)
				body := wantStatus(t, res, 200, "")
				if !bytes.Equal(body, data) {
					t.Fatalf("body = %q, want %q", body, data)
				}
				checkMediaHeaders(t, res)
				if got := res.Header.Get("Content-Type"); got != "audio/ogg" {
					t.Errorf("Content-Type = %q, want audio/ogg", got)
				}
				if got := res.Header.Get("Content-Disposition"); got != tc.disposition {
					t.Errorf("Content-Disposition = %q, want %q", got, tc.disposition)
				}
			})
		}

		cfg := wantStatus(t, e.send("GET", "/_matrix/client/v1/media/config", tok, nil, nil), 200, "")
		if !strings.Contains(string(cfg), `"m.upload.size":1048576`) {
			t.Errorf("config = %s, want m.upload.size 1048576", cfg)
		}
		wantStatus(t, e.send("GET", "/_matrix/media/v3/config", tok, nil, nil), 200, "")
	})
}

// TestMediaAuthRequired: the authenticated endpoints (and uploads, and the
// configuration) refuse requests without an access token.
func TestMediaAuthRequired(t *testing.T) {
	forEachMediaEnv(t, 1<<20, nil, func(t *testing.T, e *mediaEnv) {
		_, mid := e.upload(e.token("alice"), "text/plain", "", []byte("hi"))
		for _, p := range []struct{ method, path string }{
			{"GET", "/_matrix/client/v1/media/download/hafen.test/" + mid},
			{"GET", "/_matrix/client/v1/media/download/hafen.test/" + mid + "/x.txt"},
			{"GET", "/_matrix/client/v1/media/thumbnail/hafen.test/" + mid + "?width=32&height=32"},
			{"GET", "/_matrix/client/v1/media/config"},
			{"GET", "/_matrix/media/v3/config"},
			{"POST", "/_matrix/media/v3/upload"},
			{"POST", "/_matrix/media/v1/create"},
			{"PUT", "/_matrix/media/v3/upload/hafen.test/" + mid},
		} {
			res := e.send(p.method, p.path, "", strings.NewReader("x"), nil)
			wantStatus(t, res, 401, "M_MISSING_TOKEN")
			checkMediaHeaders(t, res)
		}
	})
}

func TestMediaLegacySwitchOff(t *testing.T) {
	forEachMediaEnv(t, 1<<20, func(s *Server) { s.LegacyMedia = false }, func(t *testing.T, e *mediaEnv) {
		tok := e.token("alice")
		_, mid := e.upload(tok, "text/plain", "", []byte("hi"))
		wantStatus(t, e.send("GET", "/_matrix/media/v3/download/hafen.test/"+mid, "", nil, nil), 404, "M_NOT_FOUND")
		wantStatus(t, e.send("GET", "/_matrix/media/r0/download/hafen.test/"+mid, "", nil, nil), 404, "M_NOT_FOUND")
		wantStatus(t, e.send("GET", "/_matrix/media/v3/thumbnail/hafen.test/"+mid+"?width=32&height=32", "", nil, nil), 404, "M_NOT_FOUND")
		wantStatus(t, e.send("GET", "/_matrix/client/v1/media/download/hafen.test/"+mid, tok, nil, nil), 200, "")
	})
}

// TestMediaLegacyFrozen: once the legacy endpoints are switched off, media
// stored before the freeze is still served by them, media stored after it
// only by the authenticated endpoints; the freeze time survives restarts
// (the first one is kept) and switching the endpoints on forgets it.
func TestMediaLegacyFrozen(t *testing.T) {
	forEachMediaEnv(t, 1<<20, nil, func(t *testing.T, e *mediaEnv) {
		ctx := context.Background()
		now := time.Now()
		e.srv.Media.Now = func() time.Time { return now }
		tok := e.token("alice")
		_, before := e.upload(tok, "image/png", "", testPNG(t, 64, 48))

		now = now.Add(time.Minute)
		frozen, err := e.srv.Media.FreezeLegacy(ctx, true)
		if err != nil || !frozen.Equal(time.UnixMilli(now.UnixMilli())) {
			t.Fatalf("FreezeLegacy = %v, %v, want %v", frozen, err, now)
		}
		e.srv.LegacyMedia, e.srv.LegacyFrozenSince = false, frozen
		now = now.Add(time.Minute)
		_, after := e.upload(tok, "text/plain", "", []byte("after"))

		wantStatus(t, e.send("GET", "/_matrix/media/v3/download/hafen.test/"+before, "", nil, nil), 200, "")
		wantStatus(t, e.send("GET", "/_matrix/media/v3/thumbnail/hafen.test/"+before+"?width=32&height=32", "", nil, nil), 200, "")
		wantStatus(t, e.send("GET", "/_matrix/media/v3/download/hafen.test/"+after, "", nil, nil), 404, "M_NOT_FOUND")
		wantStatus(t, e.send("GET", "/_matrix/media/r0/download/hafen.test/"+after+"/name.txt", "", nil, nil), 404, "M_NOT_FOUND")
		wantStatus(t, e.send("GET", "/_matrix/media/v3/download/hafen.test/unknown", "", nil, nil), 404, "M_NOT_FOUND")
		wantStatus(t, e.send("GET", "/_matrix/client/v1/media/download/hafen.test/"+after, tok, nil, nil), 200, "")

		// A later start with the switch still off keeps the first time.
		now = now.Add(time.Hour)
		if again, err := e.srv.Media.FreezeLegacy(ctx, true); err != nil || !again.Equal(frozen) {
			t.Fatalf("second FreezeLegacy = %v, %v, want %v", again, err, frozen)
		}
		if thawed, err := e.srv.Media.FreezeLegacy(ctx, false); err != nil || !thawed.IsZero() {
			t.Fatalf("thaw = %v, %v", thawed, err)
		}
		if refrozen, err := e.srv.Media.FreezeLegacy(ctx, true); err != nil || !refrozen.Equal(time.UnixMilli(now.UnixMilli())) {
			t.Fatalf("FreezeLegacy after a thaw = %v, %v, want %v", refrozen, err, now)
		}
	})
}

func TestMediaUploadTooLarge(t *testing.T) {
	forEachMediaEnv(t, 1000, nil, func(t *testing.T, e *mediaEnv) {
		tok := e.token("alice")
		// Announced by Content-Length: refused before the body is read.
		res := e.send("POST", "/_matrix/media/v3/upload", tok, bytes.NewReader(make([]byte, 1001)), nil)
		wantStatus(t, res, 413, "M_TOO_LARGE")
		checkMediaHeaders(t, res)
		// Chunked (no length): refused once the body passes the limit.
		chunked := io.MultiReader(bytes.NewReader(make([]byte, 600)), bytes.NewReader(make([]byte, 600)))
		wantStatus(t, e.send("POST", "/_matrix/media/v3/upload", tok, chunked, nil), 413, "M_TOO_LARGE")
		// Exactly the limit is fine.
		e.upload(tok, "application/octet-stream", "", make([]byte, 1000))
	})
}

// TestMediaDisposition: only the safe types are served inline; HTML and
// SVG are attachments, with the sandbox CSP.
func TestMediaDisposition(t *testing.T) {
	forEachMediaEnv(t, 1<<20, nil, func(t *testing.T, e *mediaEnv) {
		tok := e.token("alice")
		for _, tc := range []struct{ contentType, want string }{
			{"text/html", "attachment"},
			{"image/svg+xml", "attachment"},
			{"application/pdf", "attachment"},
			{"text/plain; charset=utf-8", "inline"},
			{"image/png", "inline"},
			{"video/mp4", "inline"},
		} {
			_, mid := e.upload(tok, tc.contentType, "", []byte("<script>alert(1)</script>"))
			res := e.send("GET", "/_matrix/client/v1/media/download/hafen.test/"+mid, tok, nil, nil)
			wantStatus(t, res, 200, "")
			checkMediaHeaders(t, res)
			if got := res.Header.Get("Content-Disposition"); got != tc.want {
				t.Errorf("%s: Content-Disposition = %q, want %q", tc.contentType, got, tc.want)
			}
			if got := res.Header.Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type = %q, want %q as uploaded", got, tc.contentType)
			}
		}
	})
}

func TestMediaRange(t *testing.T) {
	forEachMediaEnv(t, 1<<20, nil, func(t *testing.T, e *mediaEnv) {
		tok := e.token("alice")
		_, mid := e.upload(tok, "video/mp4", "", []byte("0123456789"))
		res := e.send("GET", "/_matrix/client/v1/media/download/hafen.test/"+mid, tok, nil, map[string]string{"Range": "bytes=2-5"})
		if body := wantStatus(t, res, 206, ""); string(body) != "2345" {
			t.Fatalf("range body = %q, want 2345", body)
		}
		if got := res.Header.Get("Content-Range"); got != "bytes 2-5/10" {
			t.Errorf("Content-Range = %q", got)
		}
		checkMediaHeaders(t, res)
	})
}

func TestMediaNotFound(t *testing.T) {
	forEachMediaEnv(t, 1<<20, nil, func(t *testing.T, e *mediaEnv) {
		tok := e.token("alice")
		for _, path := range []string{
			"/_matrix/client/v1/media/download/hafen.test/nosuchmedia",
			"/_matrix/client/v1/media/download/other.example/abc", // remote: not fetched yet
			"/_matrix/client/v1/media/thumbnail/other.example/abc?width=32&height=32",
		} {
			res := e.send("GET", path, tok, nil, nil)
			wantStatus(t, res, 404, "M_NOT_FOUND")
			checkMediaHeaders(t, res)
		}
	})
}

// TestMediaAsyncUpload follows POST /create, downloads before the content
// is there, and PUT /upload by the wrong user, the owner, and again.
func TestMediaAsyncUpload(t *testing.T) {
	forEachMediaEnv(t, 1<<20, nil, func(t *testing.T, e *mediaEnv) {
		alice, bob := e.token("alice"), e.token("bob")
		body := wantStatus(t, e.send("POST", "/_matrix/media/v1/create", alice, nil, nil), 200, "")
		var r struct {
			ContentURI      string `json:"content_uri"`
			UnusedExpiresAt int64  `json:"unused_expires_at"`
		}
		if err := json.Unmarshal(body, &r); err != nil || r.UnusedExpiresAt <= time.Now().UnixMilli() {
			t.Fatalf("create = %s", body)
		}
		path := strings.TrimPrefix(r.ContentURI, "mxc://")
		dl := "/_matrix/client/v1/media/download/" + path
		wantStatus(t, e.send("GET", dl+"?timeout_ms=0", alice, nil, nil), 504, "M_NOT_YET_UPLOADED")
		wantStatus(t, e.send("GET", dl+"?timeout_ms=-1", alice, nil, nil), 400, "M_INVALID_PARAM")

		// A download waiting for the content gets it once it arrives.
		waited := make(chan *http.Response, 1)
		go func() {
			req, _ := http.NewRequest("GET", e.url+dl+"?timeout_ms=30000", nil)
			req.Header.Set("Authorization", "Bearer "+bob)
			res, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				res = nil
			}
			waited <- res
		}()

		up := "/_matrix/media/v3/upload/" + path
		wantStatus(t, e.send("PUT", up, bob, strings.NewReader("x"), nil), 403, "M_FORBIDDEN")
		wantStatus(t, e.send("PUT", up, alice, strings.NewReader("late content"), map[string]string{"Content-Type": "text/plain"}), 200, "")
		wantStatus(t, e.send("PUT", up, alice, strings.NewReader("again"), nil), 409, "M_CANNOT_OVERWRITE_MEDIA")
		wantStatus(t, e.send("PUT", "/_matrix/media/v3/upload/hafen.test/unknownid", alice, strings.NewReader("x"), nil), 404, "M_NOT_FOUND")

		res := <-waited
		if res == nil {
			t.Fatal("waiting download failed")
		}
		defer res.Body.Close()
		if got := wantStatus(t, res, 200, ""); string(got) != "late content" {
			t.Fatalf("waiting download = %q", got)
		}
	})
}

func testPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 0, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestMediaThumbnails checks the thumbnail endpoint on each input format,
// a decompression bomb, malformed images, non-images and bad parameters.
func TestMediaThumbnails(t *testing.T) {
	forEachMediaEnv(t, 1<<20, nil, func(t *testing.T, e *mediaEnv) {
		tok := e.token("alice")
		src, _, _ := image.Decode(bytes.NewReader(testPNG(t, 400, 300)))
		var jpg, gf bytes.Buffer
		if err := jpeg.Encode(&jpg, src, nil); err != nil {
			t.Fatal(err)
		}
		if err := gif.Encode(&gf, src, nil); err != nil {
			t.Fatal(err)
		}
		webp, err := os.ReadFile("../media/testdata/blue-purple-pink.lossy.webp")
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name, contentType string
			data              []byte
			wantType          string
		}{
			{"jpeg", "image/jpeg", jpg.Bytes(), "image/jpeg"},
			{"png", "image/png", testPNG(t, 400, 300), "image/png"},
			{"gif", "image/gif", gf.Bytes(), "image/png"},
			{"webp", "image/webp", webp, "image/png"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, mid := e.upload(tok, tc.contentType, "", tc.data)
				cfg, _, err := image.DecodeConfig(bytes.NewReader(tc.data))
				if err != nil {
					t.Fatal(err)
				}
				// Scale fits the image in 320×240 without enlarging it.
				scaledW, scaledH := cfg.Width, cfg.Height
				if scaledW > 320 || scaledH > 240 {
					f := min(320/float64(cfg.Width), 240/float64(cfg.Height))
					scaledW, scaledH = int(float64(cfg.Width)*f), int(float64(cfg.Height)*f)
				}
				for _, q := range []struct {
					query string
					w, h  int
				}{
					{"width=96&height=96&method=crop", min(96, cfg.Width, cfg.Height), min(96, cfg.Width, cfg.Height)},
					{"width=320&height=240&method=scale", scaledW, scaledH},
				} {
					for _, base := range []string{"/_matrix/client/v1/media/thumbnail/", "/_matrix/media/v3/thumbnail/"} {
						res := e.send("GET", base+"hafen.test/"+mid+"?"+q.query, tok, nil, nil)
						body := wantStatus(t, res, 200, "")
						checkMediaHeaders(t, res)
						if ct := res.Header.Get("Content-Type"); ct != tc.wantType {
							t.Errorf("Content-Type = %q, want %s", ct, tc.wantType)
						}
						got, _, err := image.DecodeConfig(bytes.NewReader(body))
						if err != nil {
							t.Fatalf("thumbnail does not decode: %v", err)
						}
						if got.Width != q.w || got.Height != q.h {
							t.Errorf("%s of %d×%d = %d×%d, want %d×%d", q.query, cfg.Width, cfg.Height, got.Width, got.Height, q.w, q.h)
						}
					}
				}
			})
		}

		thumb := func(mid, query string) *http.Response {
			return e.send("GET", "/_matrix/client/v1/media/thumbnail/hafen.test/"+mid+"?"+query, tok, nil, nil)
		}
		_, bomb := e.upload(tok, "image/png", "", mediatest.BombPNG(50000, 50000))
		wantStatus(t, thumb(bomb, "width=32&height=32"), 413, "M_TOO_LARGE")
		_, garbage := e.upload(tok, "image/png", "", []byte("\x89PNG\r\n\x1a\nthen garbage"))
		wantStatus(t, thumb(garbage, "width=32&height=32"), 400, "M_UNKNOWN")
		_, text := e.upload(tok, "text/plain", "", []byte("words"))
		wantStatus(t, thumb(text, "width=32&height=32"), 400, "M_UNKNOWN")
		_, ok := e.upload(tok, "image/png", "", testPNG(t, 10, 10))
		wantStatus(t, thumb(ok, "height=32"), 400, "M_MISSING_PARAM")
		wantStatus(t, thumb(ok, "width=-1&height=32"), 400, "M_INVALID_PARAM")
		wantStatus(t, thumb(ok, "width=32&height=32&method=stretch"), 400, "M_INVALID_PARAM")
		wantStatus(t, thumb(ok, "width=32&height=32&animated=true"), 200, "")
	})
}

// unreadable is a body that fails the test when read.
type unreadable struct{ t *testing.T }

func (u unreadable) Read([]byte) (int, error) {
	u.t.Error("the body of an upload announcing too large a Content-Length was read")
	return 0, io.EOF
}

// TestMediaUploadTooLargeUnread: a Content-Length over the limit is refused
// without reading a byte of the body.
func TestMediaUploadTooLargeUnread(t *testing.T) {
	forEachMediaEnv(t, 1000, nil, func(t *testing.T, e *mediaEnv) {
		tok := e.token("alice")
		req := httptest.NewRequest("POST", "/_matrix/media/v3/upload", unreadable{t})
		req.ContentLength = 1 << 40
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		if rec.Code != 413 || !strings.Contains(rec.Body.String(), "M_TOO_LARGE") {
			t.Fatalf("upload of 1 TiB = %d %s, want 413 M_TOO_LARGE", rec.Code, rec.Body)
		}
	})
}

func TestMediaUploadRateLimited(t *testing.T) {
	limit := func(s *Server) {
		s.Limiter = httpapi.NewRateLimiter(map[string]httpapi.Rate{ActionUpload: {PerSecond: 0.001, Burst: 2}})
	}
	forEachMediaEnv(t, 1000, limit, func(t *testing.T, e *mediaEnv) {
		alice, bob := e.token("alice"), e.token("bob")
		e.upload(alice, "text/plain", "", []byte("1"))
		wantStatus(t, e.send("POST", "/_matrix/media/v1/create", alice, nil, nil), 200, "")
		wantStatus(t, e.send("POST", "/_matrix/media/v3/upload", alice, strings.NewReader("3"), nil), 429, "M_LIMIT_EXCEEDED")
		e.upload(bob, "text/plain", "", []byte("another user's bucket"))
	})
}

// TestMediaUploadCutOff: an upload whose body ends before its
// Content-Length is the client's fault (400), not the server's (500).
func TestMediaUploadCutOff(t *testing.T) {
	forEachMediaEnv(t, 1000, nil, func(t *testing.T, e *mediaEnv) {
		tok := e.token("alice")
		u, err := url.Parse(e.url)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /_matrix/media/v3/upload HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nshort", u.Host, tok)
		if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: "POST", URL: u.JoinPath("/_matrix/media/v3/upload")})
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		wantStatus(t, res, 400, "M_UNKNOWN")
	})
}
