package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"strings"
	"time"

	"golang.org/x/image/draw"
	"golang.org/x/image/webp"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// Thumbnail methods of the spec.
const (
	MethodCrop  = "crop"
	MethodScale = "scale"
)

// thumbSize is a size thumbnails are generated at.
type thumbSize struct {
	width, height int
	method        string
}

// thumbSizes are the sizes thumbnails are made at, smallest first per
// method; a request gets the smallest that is at least as large, else the
// largest. The first five are generated on upload (the sizes clients ask
// for most: avatars crop, timeline images scale). Keeping to a fixed list
// bounds the thumbnails one image can cost.
var thumbSizes = []thumbSize{
	{32, 32, MethodCrop},
	{96, 96, MethodCrop},
	{320, 240, MethodScale},
	{640, 480, MethodScale},
	{800, 600, MethodScale},
	{320, 240, MethodCrop},
	{640, 480, MethodCrop},
	{800, 600, MethodCrop},
	{32, 32, MethodScale},
	{96, 96, MethodScale},
}

// pregenerated is how many of thumbSizes are made on upload.
const pregenerated = 5

// pickSize returns the size that serves a request.
func pickSize(width, height int, method string) thumbSize {
	var best, largest thumbSize
	for _, ts := range thumbSizes {
		if ts.method != method {
			continue
		}
		if largest.width == 0 || ts.width*ts.height > largest.width*largest.height {
			largest = ts
		}
		if ts.width >= width && ts.height >= height && (best.width == 0 || ts.width*ts.height < best.width*best.height) {
			best = ts
		}
	}
	if best.width == 0 {
		return largest
	}
	return best
}

// thumbnailable reports whether the content type is one the service
// decodes.
func thumbnailable(contentType string) bool {
	ct, _, _ := strings.Cut(strings.ToLower(contentType), ";")
	switch strings.TrimSpace(ct) {
	case "image/jpeg", "image/jpg", "image/png", "image/gif", "image/webp":
		return true
	}
	return false
}

// Thumbnail returns a thumbnail of a media ID of at least width × height
// (where the image is that large) and its content, generating and caching
// it when needed. method is MethodCrop or MethodScale. Content that is not
// an image of a supported format fails with ErrNotImage, an image larger
// than MaxImagePixels with ErrImageTooLarge; wait is as for Get.
func (s *Service) Thumbnail(ctx context.Context, serverName id.ServerName, mediaID string, width, height int, method string, wait time.Duration) (store.Thumbnail, io.ReadSeekCloser, error) {
	return s.LookupThumbnail(ctx, serverName, mediaID, width, height, method, wait, true)
}

// LookupThumbnail is Thumbnail, with allowRemote false serving other
// servers' media only from the cache.
func (s *Service) LookupThumbnail(ctx context.Context, serverName id.ServerName, mediaID string, width, height int, method string, wait time.Duration, allowRemote bool) (store.Thumbnail, io.ReadSeekCloser, error) {
	size := pickSize(width, height, method)
	if serverName != s.ServerName {
		return s.remoteThumbnail(ctx, serverName, mediaID, size, wait, allowRemote)
	}
	m, err := s.Get(ctx, serverName, mediaID, wait)
	if err != nil {
		return store.Thumbnail{}, nil, err
	}
	return s.localThumbnail(ctx, m, size)
}

// localThumbnail returns a thumbnail of content stored here, cached or
// made now.
func (s *Service) localThumbnail(ctx context.Context, m store.Media, size thumbSize) (store.Thumbnail, io.ReadSeekCloser, error) {
	if !thumbnailable(m.ContentType) {
		return store.Thumbnail{}, nil, fmt.Errorf("thumbnail of %s/%s (%s): %w", m.ServerName, m.MediaID, m.ContentType, ErrNotImage)
	}
	if th, f, err := s.cachedThumbnail(ctx, m.ServerName, m.MediaID, size); err != nil || f != nil {
		return th, f, err
	}
	ths, err := s.generate(ctx, m, []thumbSize{size})
	if err != nil {
		return store.Thumbnail{}, nil, err
	}
	th := ths[0]
	f, err := s.Files.Open(ctx, th.SHA256)
	if err != nil {
		return store.Thumbnail{}, nil, err
	}
	return th, f, nil
}

// cachedThumbnail returns the stored thumbnail of a media ID at size, or
// a nil file when there is none.
func (s *Service) cachedThumbnail(ctx context.Context, serverName id.ServerName, mediaID string, size thumbSize) (store.Thumbnail, io.ReadSeekCloser, error) {
	have, err := s.DB.Thumbnails(ctx, serverName, mediaID)
	if err != nil {
		return store.Thumbnail{}, nil, err
	}
	for _, th := range have {
		if th.Width == size.width && th.Height == size.height && th.Method == size.method {
			f, err := s.Files.Open(ctx, th.SHA256)
			if err == nil {
				return th, f, nil
			}
			if !errors.Is(err, ErrNotFound) {
				return store.Thumbnail{}, nil, err
			}
		}
	}
	return store.Thumbnail{}, nil, nil
}

// pregenerate makes the common thumbnails of a new image. Failures are
// only logged: the upload itself succeeded, and a request for a thumbnail
// reports the problem to the client.
func (s *Service) pregenerate(ctx context.Context, m store.Media) {
	if !thumbnailable(m.ContentType) {
		return
	}
	if _, err := s.generate(ctx, m, thumbSizes[:pregenerated]); err != nil {
		s.logger().Debug("thumbnail not generated", "media_id", m.MediaID, "err", err)
	}
}

// rendered is one encoded thumbnail.
type rendered struct {
	size thumbSize
	data []byte
	ct   string
}

// generate makes thumbnails of m at the given sizes from one decoding of
// the image, stores them and records them.
func (s *Service) generate(ctx context.Context, m store.Media, sizes []thumbSize) ([]store.Thumbnail, error) {
	timeout := s.ThumbnailTimeout
	if timeout <= 0 {
		timeout = DefaultThumbnailTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	// At most maxConcurrentThumbnails generations decode at once, so that their memory adds up
	// to a bound.
	select {
	case s.sem() <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("wait to thumbnail %s: %w", m.MediaID, ErrThumbnailTimeout)
	}
	type result struct {
		out []rendered
		err error
	}
	done := make(chan result, 1)
	go func() {
		// Decoding cannot be interrupted; the goroutine holds the
		// semaphore until it finishes, so a slow image still counts
		// against the bound after its caller gave up.
		defer func() { <-s.sem() }()
		out, err := s.render(ctx, m, sizes)
		done <- result{out, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		return nil, fmt.Errorf("thumbnail %s: %w", m.MediaID, ErrThumbnailTimeout)
	}
	if res.err != nil {
		return nil, res.err
	}
	var ths []store.Thumbnail
	var staged []Staged
	defer func() {
		for _, st := range staged {
			st.Discard()
		}
	}()
	for _, r := range res.out {
		st, err := s.Files.Stage(ctx, bytes.NewReader(r.data), int64(len(r.data)))
		if err != nil {
			return nil, fmt.Errorf("store thumbnail of %s: %w", m.MediaID, err)
		}
		staged = append(staged, st)
		ths = append(ths, store.Thumbnail{Width: r.size.width, Height: r.size.height, Method: r.size.method, ContentType: r.ct, Size: st.Size(), SHA256: st.Sum()})
	}
	if err := s.commit(ctx, staged, func(ctx context.Context, tx *store.Tx) error {
		for _, th := range ths {
			if err := tx.AddThumbnail(ctx, m.ServerName, m.MediaID, th); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("record thumbnails of %s: %w", m.MediaID, err)
	}
	s.logger().Debug("thumbnails generated", "media_id", m.MediaID)
	return ths, nil
}

func (s *Service) sem() chan struct{} {
	s.semOnce.Do(func() { s.thumbSem = make(chan struct{}, maxConcurrentThumbnails) })
	return s.thumbSem
}

// decoders are the image formats thumbnails are made from, by the name
// image.DecodeConfig reports.
var decoders = map[string]struct {
	config func(io.Reader) (image.Config, error)
	decode func(io.Reader) (image.Image, error)
}{
	"jpeg": {jpeg.DecodeConfig, jpeg.Decode},
	"png":  {png.DecodeConfig, png.Decode},
	"gif":  {gif.DecodeConfig, gif.Decode}, // gif.Decode returns the first frame
	"webp": {webp.DecodeConfig, webp.Decode},
}

// sniffFormat names the image format of the first bytes of a file.
func sniffFormat(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("\xff\xd8\xff")):
		return "jpeg"
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return "png"
	case bytes.HasPrefix(head, []byte("GIF87a")), bytes.HasPrefix(head, []byte("GIF89a")):
		return "gif"
	case len(head) >= 12 && string(head[0:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return "webp"
	}
	return ""
}

// render decodes m once and draws a thumbnail at each size, encoded as
// JPEG for JPEG sources and PNG otherwise (to keep transparency).
func (s *Service) render(ctx context.Context, m store.Media, sizes []thumbSize) ([]rendered, error) {
	f, err := s.Files.Open(ctx, m.SHA256)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var head [16]byte
	n, _ := io.ReadFull(f, head[:])
	format := sniffFormat(head[:n])
	dec, ok := decoders[format]
	if !ok {
		return nil, fmt.Errorf("thumbnail of %s: unknown format: %w", m.MediaID, ErrNotImage)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("rewind %s: %w", m.MediaID, err)
	}
	cfg, err := dec.config(f)
	if err != nil {
		return nil, fmt.Errorf("thumbnail of %s: read %s header: %v: %w", m.MediaID, format, err, ErrNotImage)
	}
	maxPixels := s.MaxImagePixels
	if maxPixels <= 0 {
		maxPixels = DefaultMaxImagePixels
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("thumbnail of %s: image is %d×%d: %w", m.MediaID, cfg.Width, cfg.Height, ErrNotImage)
	}
	// A progressive JPEG keeps every coefficient while it decodes, about
	// four times the memory of its pixels: it counts four times.
	cost := int64(cfg.Width) * int64(cfg.Height)
	if format == "jpeg" && progressiveJPEG(f) {
		cost *= 4
	}
	if cost > maxPixels {
		return nil, fmt.Errorf("thumbnail of %s: image is %d×%d: %w", m.MediaID, cfg.Width, cfg.Height, ErrImageTooLarge)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("rewind %s: %w", m.MediaID, err)
	}
	src, err := dec.decode(f)
	if err != nil {
		return nil, fmt.Errorf("thumbnail of %s: decode %s: %v: %w", m.MediaID, format, err, ErrNotImage)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("thumbnail of %s: %w", m.MediaID, ErrThumbnailTimeout)
	}
	out := make([]rendered, 0, len(sizes))
	for _, size := range sizes {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("thumbnail of %s: %w", m.MediaID, ErrThumbnailTimeout)
		}
		dst := resize(src, size)
		var buf bytes.Buffer
		ct := "image/png"
		if format == "jpeg" {
			ct = "image/jpeg"
			err = jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 80})
		} else {
			err = png.Encode(&buf, dst)
		}
		if err != nil {
			return nil, fmt.Errorf("encode thumbnail of %s: %w", m.MediaID, err)
		}
		out = append(out, rendered{size: size, data: buf.Bytes(), ct: ct})
	}
	return out, nil
}

// resize draws src at size. Scale fits the image inside width × height,
// keeping its aspect ratio; crop fills width × height, cutting the
// centered part of the image with the target's aspect ratio. Neither
// enlarges an image smaller than the target.
func resize(src image.Image, size thumbSize) image.Image {
	b := src.Bounds()
	sw, sh := b.Dx(), b.Dy()
	var srcRect image.Rectangle
	var dw, dh int
	switch size.method {
	case MethodCrop:
		// The largest centered rectangle of the target's aspect ratio.
		cw, ch := sw, sw*size.height/size.width
		if ch > sh {
			cw, ch = sh*size.width/size.height, sh
		}
		cw, ch = max(cw, 1), max(ch, 1)
		x0, y0 := b.Min.X+(sw-cw)/2, b.Min.Y+(sh-ch)/2
		srcRect = image.Rect(x0, y0, x0+cw, y0+ch)
		dw, dh = min(size.width, cw), min(size.height, ch)
	default:
		srcRect = b
		dw, dh = sw, sh
		if dw > size.width {
			dw, dh = size.width, sh*size.width/sw
		}
		if dh > size.height {
			dw, dh = sw*size.height/sh, size.height
		}
		dw, dh = max(dw, 1), max(dh, 1)
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	draw.ApproxBiLinear.Scale(dst, dst.Bounds(), src, srcRect, draw.Src, nil)
	return dst
}

// progressiveJPEG reports whether the JPEG in f has a progressive frame
// header (SOF2, SOF6, SOF10 or SOF14), reading its marker segments from the
// start up to the first frame header.
func progressiveJPEG(f io.ReadSeeker) bool {
	if _, err := f.Seek(2, io.SeekStart); err != nil {
		return false
	}
	var hdr [4]byte
	for range 1000 { // a bound on the segments read
		if _, err := io.ReadFull(f, hdr[:]); err != nil || hdr[0] != 0xff {
			return false
		}
		switch marker := hdr[1]; {
		case marker == 0xc2 || marker == 0xc6 || marker == 0xca || marker == 0xce:
			return true
		case marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc:
			return false
		}
		length := int64(hdr[2])<<8 | int64(hdr[3])
		if length < 2 {
			return false
		}
		if _, err := f.Seek(length-2, io.SeekCurrent); err != nil {
			return false
		}
	}
	return false
}
