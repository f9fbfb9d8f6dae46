package media

// Spec: Client-Server API § Content repository, GET /media/preview_url
// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1mediapreview_url
// and https://ogp.me/

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/federation"
)

// Defaults of the Previewer's limits.
const (
	// DefaultPreviewPageBytes is how much of a page is read for its
	// metadata (which lives in the head).
	DefaultPreviewPageBytes = 1 << 20
	// DefaultPreviewImageBytes is the largest og:image fetched.
	DefaultPreviewImageBytes = 5 << 20
	// DefaultPreviewTimeout bounds one preview, page and image.
	DefaultPreviewTimeout = 15 * time.Second
	// DefaultPreviewCacheTTL is how long a preview is served from the
	// cache.
	DefaultPreviewCacheTTL = time.Hour
	// maxPreviewCache bounds the previews cached.
	maxPreviewCache = 1000
	// previewFailureTTL is how long a failed preview is answered from
	// the cache (at most CacheTTL): clients ask again for every message
	// showing the URL, which would otherwise fetch a broken or unreachable
	// page each time.
	previewFailureTTL = 5 * time.Minute
	// maxPreviewURL bounds the length of a URL to preview.
	maxPreviewURL = 2048
	// maxPreviewValue bounds one OpenGraph value, maxPreviewProps their
	// number.
	maxPreviewValue = 1024
	maxPreviewProps = 32
)

// Previewer makes URL previews: it fetches a page with an HTTP client
// that refuses non-public and denied addresses at dial time (see
// federation.NewGuardedHTTPClient), reads its OpenGraph metadata and
// stores its og:image as media of this server. Previews are cached, and
// concurrent requests for one URL fetch it once.
type Previewer struct {
	// Media stores og:image content.
	Media *Service
	// Client fetches pages and images; it must be a guarded client.
	Client *http.Client
	// MaxPageBytes, MaxImageBytes, Timeout and CacheTTL: 0 means their
	// defaults.
	MaxPageBytes  int64
	MaxImageBytes int64
	Timeout       time.Duration
	CacheTTL      time.Duration

	mu      sync.Mutex
	cache   map[string]cachedPreview
	fetches flights[Preview]
}

// Preview is the OpenGraph data of a URL, as the spec answers it.
type Preview map[string]any

// cachedPreview is a cached preview, or the error of a failed one, and
// when it goes stale.
type cachedPreview struct {
	p       Preview
	err     error
	expires time.Time
}

// ErrBadURL: the URL is not an absolute http or https URL.
var ErrBadURL = errors.New("not an http or https URL")

// ErrPreviewFailed: the page could not be fetched (timeout, error
// status, too many redirects, not reachable).
var ErrPreviewFailed = errors.New("URL preview failed")

// ErrPreviewDenied: the URL, or a redirect, leads to a host or address
// previews may not reach (not public, or on a deny list).
var ErrPreviewDenied = errors.New("URL preview target denied")

func (p *Previewer) timeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return DefaultPreviewTimeout
}

// Preview returns the preview of rawURL for userID.
func (p *Previewer) Preview(ctx context.Context, userID id.UserID, rawURL string) (Preview, error) {
	u, err := url.Parse(rawURL)
	if err != nil || len(rawURL) > maxPreviewURL || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("preview %q: %w", rawURL, ErrBadURL)
	}
	u.Fragment, u.RawFragment = "", ""
	key := u.String()
	now := p.Media.now()
	p.mu.Lock()
	if c, ok := p.cache[key]; ok && now.Before(c.expires) {
		p.mu.Unlock()
		return c.p, c.err
	}
	p.mu.Unlock()
	return p.fetches.do(ctx, key, func() (Preview, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.timeout())
		defer cancel()
		pv, err := p.fetch(fctx, userID, key)
		if errors.Is(err, ErrPreviewFailed) || errors.Is(err, ErrPreviewDenied) {
			p.remember(key, nil, err, now)
		}
		if err != nil {
			return nil, err
		}
		p.remember(key, pv, nil, now)
		return pv, nil
	})
}

// remember caches a preview, or the error of a failed one for at most
// previewFailureTTL, dropping stale entries (and, when still full,
// arbitrary ones) to stay within maxPreviewCache.
func (p *Previewer) remember(key string, pv Preview, failed error, now time.Time) {
	ttl := p.CacheTTL
	if ttl <= 0 {
		ttl = DefaultPreviewCacheTTL
	}
	if failed != nil {
		ttl = min(ttl, previewFailureTTL)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cache == nil {
		p.cache = map[string]cachedPreview{}
	}
	if len(p.cache) >= maxPreviewCache {
		for k, c := range p.cache {
			if !now.Before(c.expires) || len(p.cache) >= maxPreviewCache {
				delete(p.cache, k)
			}
		}
	}
	p.cache[key] = cachedPreview{p: pv, err: failed, expires: now.Add(ttl)}
}

// get fetches a URL with the guarded client and returns a 2xx answer.
func (p *Previewer) get(ctx context.Context, rawURL, accept string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadURL, err)
	}
	req.Header.Set("User-Agent", "Hafen URL preview (Matrix homeserver)")
	req.Header.Set("Accept", accept)
	resp, err := p.Client.Do(req)
	if errors.Is(err, federation.ErrPrivateAddress) || errors.Is(err, federation.ErrDeniedAddress) || errors.Is(err, federation.ErrDeniedHost) {
		return nil, fmt.Errorf("%w: %w", ErrPreviewDenied, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPreviewFailed, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: %s answered %d", ErrPreviewFailed, resp.Request.URL.Redacted(), resp.StatusCode)
	}
	return resp, nil
}

// fetch makes the preview of a URL.
func (p *Previewer) fetch(ctx context.Context, userID id.UserID, rawURL string) (Preview, error) {
	resp, err := p.get(ctx, rawURL, "text/html, application/xhtml+xml, image/*;q=0.9, */*;q=0.1")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	pv := Preview{}
	switch {
	case mt == "text/html" || mt == "application/xhtml+xml":
		limit := p.MaxPageBytes
		if limit <= 0 {
			limit = DefaultPreviewPageBytes
		}
		// A page longer than the limit is cut: the metadata is in the
		// head.
		props := parseOpenGraph(io.LimitReader(resp.Body, limit))
		for k, v := range props {
			pv[k] = v
		}
		if img, ok := props["og:image"]; ok {
			delete(pv, "og:image")
			if ref, err := resp.Request.URL.Parse(img); err == nil {
				p.addImage(ctx, userID, pv, ref.String())
			}
		}
	case thumbnailable(mt):
		p.storeImage(ctx, userID, pv, resp)
	}
	p.Media.logger().Debug("url previewed", "user_id", userID, "properties", len(pv))
	return pv, nil
}

// addImage fetches and stores the page's og:image; failures leave the
// image out.
func (p *Previewer) addImage(ctx context.Context, userID id.UserID, pv Preview, imageURL string) {
	resp, err := p.get(ctx, imageURL, "image/*")
	if err != nil {
		p.Media.logger().Debug("preview image not fetched", "err", err)
		return
	}
	defer resp.Body.Close()
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if !strings.HasPrefix(mt, "image/") {
		return
	}
	p.storeImage(ctx, userID, pv, resp)
}

// storeImage stores an image answer as media of this server and adds it
// to the preview.
func (p *Previewer) storeImage(ctx context.Context, userID id.UserID, pv Preview, resp *http.Response) {
	limit := p.MaxImageBytes
	if limit <= 0 {
		limit = DefaultPreviewImageBytes
	}
	if resp.ContentLength > limit {
		return
	}
	ct, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(ct, "image/") || len(ct) > maxRemoteHeader {
		return
	}
	// The image belongs to the server, not the user: it counts against
	// no quota.
	m, err := p.Media.upload(ctx, "", Upload{ContentType: ct, Body: resp.Body}, limit)
	if err != nil {
		p.Media.logger().Debug("preview image not stored", "user_id", userID, "err", err)
		return
	}
	pv["og:image"] = "mxc://" + string(m.ServerName) + "/" + m.MediaID
	pv["og:image:type"] = m.ContentType
	pv["matrix:image:size"] = m.Size
	if f, err := p.Media.Open(ctx, m); err == nil {
		if cfg, _, err := image.DecodeConfig(f); err == nil {
			pv["og:image:width"], pv["og:image:height"] = cfg.Width, cfg.Height
		}
		f.Close()
	}
}

// parseOpenGraph reads the OpenGraph properties of an HTML page's head:
// <meta property="og:…">, with <title> and <meta name="description"> as
// og:title and og:description when the page has none. Pages in other
// encodings than UTF-8 are read as they are: their ASCII survives, other
// bytes are dropped.
func parseOpenGraph(r io.Reader) map[string]string {
	props := map[string]string{}
	var title, description string
	z := html.NewTokenizer(r)
	inTitle := false
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return finishOpenGraph(props, title, description)
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			switch atom.Lookup(name) {
			case atom.Body:
				return finishOpenGraph(props, title, description)
			case atom.Title:
				inTitle = tt == html.StartTagToken
			case atom.Meta:
				var prop, metaName, content string
				for hasAttr {
					var k, v []byte
					k, v, hasAttr = z.TagAttr()
					switch strings.ToLower(string(k)) {
					case "property":
						prop = strings.ToLower(string(v))
					case "name":
						metaName = strings.ToLower(string(v))
					case "content":
						content = string(v)
					}
				}
				if prop == "" && strings.HasPrefix(metaName, "og:") {
					prop = metaName
				}
				content = clip(strings.TrimSpace(content))
				switch {
				case strings.HasPrefix(prop, "og:") && content != "" && len(props) < maxPreviewProps:
					if _, dup := props[prop]; !dup {
						props[prop] = content
					}
				case metaName == "description" && description == "":
					description = content
				}
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			switch atom.Lookup(name) {
			case atom.Head:
				return finishOpenGraph(props, title, description)
			case atom.Title:
				inTitle = false
			}
		case html.TextToken:
			if inTitle && title == "" {
				title = clip(strings.Join(strings.Fields(string(z.Text())), " "))
			}
		}
	}
}

func finishOpenGraph(props map[string]string, title, description string) map[string]string {
	if _, ok := props["og:title"]; !ok && title != "" {
		props["og:title"] = title
	}
	if _, ok := props["og:description"]; !ok && description != "" {
		props["og:description"] = description
	}
	return props
}

// clip cuts a value to maxPreviewValue bytes, dropping a rune cut in
// half (and any invalid UTF-8).
func clip(s string) string {
	if len(s) > maxPreviewValue {
		s = s[:maxPreviewValue]
	}
	return strings.ToValidUTF8(s, "")
}
