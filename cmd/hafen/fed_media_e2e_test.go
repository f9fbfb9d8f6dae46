package main

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/hafenchat/hafen/internal/federation"
)

// testPNG returns a w×h PNG.
func testPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		for y := range h {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 128, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rawGet sends an authenticated GET to a client API and returns status,
// headers and body.
func rawGet(t *testing.T, base, token, path string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body
}

// TestRemoteMediaEndToEnd: media uploaded on A is served to B over
// federation (a multipart answer, X-Matrix authenticated), B's users
// download it and its thumbnails through B, concurrent downloads fetch it
// once, and the legacy endpoint's allow_remote=false serves only what B
// has cached.
func TestRemoteMediaEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			a := startFedServer(t, dbArgs(t)...)
			bArgs := dbArgs(t)
			b := startFedServer(t, bArgs...)
			ctx := context.Background()
			alice := register(t, a.base, "alice")
			bob := register(t, b.base, "bob")
			img := testPNG(t, 400, 300)
			up, err := alice.UploadBytesWithName(ctx, img, "image/png", "photo.png")
			if err != nil {
				t.Fatal(err)
			}
			doc, err := alice.UploadBytesWithName(ctx, []byte("%PDF-1.4 not really"), "application/pdf", "doc.pdf")
			if err != nil {
				t.Fatal(err)
			}
			mxc := up.ContentURI

			// A's federation endpoint, asked by B, answers the JSON part
			// and then the bytes.
			peer := newFedPeer(t, b)
			if _, err := peer.client.Do(ctx, federation.Request{Destination: a.name, Method: http.MethodGet, Path: "/_matrix/federation/v1/media/download/" + mxc.FileID, Unsigned: true}); !isStatus(err, 401) {
				t.Fatalf("unsigned federation download: %v, want 401", err)
			}
			resp, err := peer.client.Stream(ctx, federation.Request{Destination: a.name, Method: http.MethodGet, Path: "/_matrix/federation/v1/media/download/" + doc.ContentURI.FileID})
			if err != nil {
				t.Fatal(err)
			}
			parts := readParts(t, resp)
			if len(parts) != 2 || parts[0].ct != "application/json" || parts[0].body != "{}" ||
				parts[1].ct != "application/pdf" || parts[1].body != "%PDF-1.4 not really" || !strings.Contains(parts[1].disp, "doc.pdf") {
				t.Fatalf("federation download parts = %+v", parts)
			}
			if _, err := peer.client.Do(ctx, federation.Request{Destination: a.name, Method: http.MethodGet, Path: "/_matrix/federation/v1/media/download/nosuchmedia"}); !isStatus(err, 404) {
				t.Fatalf("federation download of unknown media: %v, want 404", err)
			}
			resp, err = peer.client.Stream(ctx, federation.Request{Destination: a.name, Method: http.MethodGet, Path: "/_matrix/federation/v1/media/thumbnail/" + mxc.FileID + "?width=32&height=32&method=crop"})
			if err != nil {
				t.Fatal(err)
			}
			parts = readParts(t, resp)
			if len(parts) != 2 || !strings.HasPrefix(parts[1].ct, "image/") {
				t.Fatalf("federation thumbnail parts = %+v", parts)
			}
			if cfg, _, err := image.DecodeConfig(strings.NewReader(parts[1].body)); err != nil || cfg.Width != 32 || cfg.Height != 32 {
				t.Fatalf("federation thumbnail is %+v, %v, want 32×32", cfg, err)
			}

			// Legacy with allow_remote=false: B has nothing cached yet.
			legacy := "/_matrix/media/v3/download/" + string(a.name) + "/" + mxc.FileID
			if st, _, body := rawGet(t, b.base, "", legacy+"?allow_remote=false"); st != 404 {
				t.Fatalf("legacy download with allow_remote=false before caching = %d %s, want 404", st, body)
			}

			// Bob's concurrent downloads through B.
			var wg sync.WaitGroup
			results := make([][]byte, 6)
			for i := range results {
				wg.Add(1)
				go func() {
					defer wg.Done()
					st, h, body := rawGet(t, b.base, bob.AccessToken, "/_matrix/client/v1/media/download/"+string(a.name)+"/"+mxc.FileID)
					if st != 200 || h.Get("Content-Type") != "image/png" {
						t.Errorf("remote download = %d %s", st, h.Get("Content-Type"))
					}
					results[i] = body
				}()
			}
			wg.Wait()
			for i, r := range results {
				if !bytes.Equal(r, img) {
					t.Fatalf("download %d: %d bytes differ from the %d uploaded", i, len(r), len(img))
				}
			}
			if n := strings.Count(a.logs.String(), "/_matrix/federation/v1/media/download/"+mxc.FileID+" status=200"); n != 1 {
				t.Errorf("A served the media %d times over federation, want 1 (cached, one fetch)\n%s", n, a.logs)
			}
			if st, _, body := rawGet(t, b.base, "", legacy+"?allow_remote=false"); st != 200 || !bytes.Equal(body, img) {
				t.Fatalf("legacy download with allow_remote=false once cached = %d", st)
			}

			// A thumbnail of remote media.
			st, h, body := rawGet(t, b.base, bob.AccessToken, "/_matrix/client/v1/media/thumbnail/"+string(a.name)+"/"+mxc.FileID+"?width=96&height=96&method=crop")
			if st != 200 || !strings.HasPrefix(h.Get("Content-Type"), "image/") {
				t.Fatalf("remote thumbnail = %d %s %s", st, h.Get("Content-Type"), body)
			}
			if cfg, _, err := image.DecodeConfig(bytes.NewReader(body)); err != nil || cfg.Width != 96 || cfg.Height != 96 {
				t.Fatalf("remote thumbnail is %+v, %v, want 96×96", cfg, err)
			}
			// A thumbnail of media B has not cached comes from A's
			// thumbnail endpoint.
			up2, err := alice.UploadBytes(ctx, testPNG(t, 200, 200), "image/png")
			if err != nil {
				t.Fatal(err)
			}
			st, _, body = rawGet(t, b.base, bob.AccessToken, "/_matrix/client/v1/media/thumbnail/"+string(a.name)+"/"+up2.ContentURI.FileID+"?width=32&height=32&method=crop")
			if cfg, _, err := image.DecodeConfig(bytes.NewReader(body)); st != 200 || err != nil || cfg.Width != 32 {
				t.Fatalf("remote thumbnail of uncached media = %d %+v %v", st, cfg, err)
			}
			if !strings.Contains(a.logs.String(), "/_matrix/federation/v1/media/thumbnail/"+up2.ContentURI.FileID) {
				t.Errorf("B did not ask A's thumbnail endpoint")
			}
			// Unknown remote media.
			if st, _, _ := rawGet(t, b.base, bob.AccessToken, "/_matrix/client/v1/media/download/"+string(a.name)+"/nosuchmedia"); st != 404 {
				t.Fatalf("unknown remote media = %d, want 404", st)
			}

			// The operator's view of B, and a purge of its remote media.
			cli := append([]string{"--data-dir", b.dataDir, "--server-name", string(b.name)}, bArgs...)
			var out bytes.Buffer
			if err := run(ctx, append([]string{"media", "stats"}, cli...), noEnv, nil, &out, io.Discard); err != nil {
				t.Fatalf("media stats: %v", err)
			}
			if !regexp.MustCompile(`(?m)^remote media\s+\S+ \S+\s+1$`).MatchString(out.String()) ||
				!regexp.MustCompile(`(?m)^local media\s+0 B\s+0$`).MatchString(out.String()) ||
				!regexp.MustCompile(`(?m)^disk usage\s+\S+ \S+\s+\d+ files`).MatchString(out.String()) {
				t.Fatalf("media stats =\n%s", out.String())
			}
			out.Reset()
			if err := run(ctx, append([]string{"media", "purge-remote"}, cli...), noEnv, nil, &out, io.Discard); err == nil {
				t.Fatal("purge-remote without --older-than succeeded")
			}
			if err := run(ctx, append([]string{"media", "purge-remote", "--older-than", "0d"}, cli...), noEnv, nil, &out, io.Discard); err != nil {
				t.Fatalf("media purge-remote: %v", err)
			}
			if !strings.Contains(out.String(), "purged 1 remote media") || !strings.Contains(out.String(), "janitor") {
				t.Fatalf("purge-remote said %q", out.String())
			}
			if st, _, _ := rawGet(t, b.base, "", legacy+"?allow_remote=false"); st != 404 {
				t.Fatalf("legacy download with allow_remote=false after the purge = %d, want 404", st)
			}
		})
	}
}

// isStatus reports whether err is a federation answer with this status.
func isStatus(err error, status int) bool {
	st, _ := httpStatus(err)
	return st == status
}

// part is one part of a multipart answer.
type part struct{ ct, disp, body string }

func readParts(t *testing.T, resp *http.Response) []part {
	t.Helper()
	defer resp.Body.Close()
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("answer of type %q", resp.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	var out []part
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		out = append(out, part{p.Header.Get("Content-Type"), p.Header.Get("Content-Disposition"), string(b)})
	}
}

// TestURLPreviewConfigEndToEnd: previews are off by default (404
// M_UNRECOGNIZED); switched on, a served server refuses pages on loopback
// and denied host names with 403 M_FORBIDDEN (the private-address check
// cannot be switched off in a real server).
func TestURLPreviewConfigEndToEnd(t *testing.T) {
	page := "http://127.0.0.1:1/page"
	off, _, _ := startServe(t, filepath.Join(t.TempDir(), "data"), "--open-registration", "--rate-limit=false")
	tok := register(t, off, "alice").AccessToken
	if st, _, body := rawGet(t, off, tok, "/_matrix/client/v1/media/preview_url?url="+url.QueryEscape(page)); st != 404 || !strings.Contains(string(body), "M_UNRECOGNIZED") {
		t.Fatalf("preview with previews off = %d %s", st, body)
	}
	on, _, logs := startServe(t, filepath.Join(t.TempDir(), "data"), "--open-registration", "--rate-limit=false",
		"--media-url-preview-enabled", "--media-url-preview-deny-hosts", "*.corp.example,intranet.example")
	tok = register(t, on, "alice").AccessToken
	for _, u := range []string{page, "http://[::1]:1/", "http://intranet.example/", "https://wiki.corp.example/page"} {
		if st, _, body := rawGet(t, on, tok, "/_matrix/client/v1/media/preview_url?url="+url.QueryEscape(u)); st != 403 || !strings.Contains(string(body), "M_FORBIDDEN") {
			t.Errorf("preview of %s = %d %s, want 403 M_FORBIDDEN\n%s", u, st, body, logs)
		}
	}
}
