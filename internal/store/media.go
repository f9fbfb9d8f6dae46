package store

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// media holds the metadata of the content repository: one row per media ID
// (local uploads, and IDs reserved by POST /_matrix/media/v1/create whose
// content has not arrived yet: sha256 is then empty). The bytes live in the
// media service's file store under their SHA-256, so identical uploads share
// one file. media_thumbnails holds the thumbnails generated for a media ID,
// one per (width, height, method).
const mediaSchema = `
CREATE TABLE media (
	server_name  TEXT NOT NULL,
	media_id     TEXT NOT NULL,
	user_id      TEXT NOT NULL,
	content_type TEXT NOT NULL,
	upload_name  TEXT NOT NULL,
	size         BIGINT NOT NULL,
	sha256       TEXT NOT NULL,
	created_ts   BIGINT NOT NULL,
	expires_ts   BIGINT NOT NULL,
	PRIMARY KEY (server_name, media_id)
);
CREATE INDEX media_pending ON media (user_id, expires_ts);
CREATE TABLE media_thumbnails (
	server_name  TEXT NOT NULL,
	media_id     TEXT NOT NULL,
	width        BIGINT NOT NULL,
	height       BIGINT NOT NULL,
	method       TEXT NOT NULL,
	content_type TEXT NOT NULL,
	size         BIGINT NOT NULL,
	sha256       TEXT NOT NULL,
	PRIMARY KEY (server_name, media_id, width, height, method)
)`

// Media is the metadata of one media ID. SHA256 is empty while an
// asynchronous upload is pending; ExpiresTS (milliseconds) is then the time
// after which the reservation lapses, and 0 once the content is there.
type Media struct {
	ServerName  id.ServerName
	MediaID     string
	UserID      id.UserID
	ContentType string
	UploadName  string
	Size        int64
	SHA256      string
	CreatedTS   int64
	ExpiresTS   int64
	// Quarantined media is kept but served to nobody (an administrator's
	// decision); a quarantined row may have no content.
	Quarantined bool
}

// Uploaded reports whether the content has arrived.
func (m Media) Uploaded() bool { return m.SHA256 != "" }

// Thumbnail is the metadata of one generated thumbnail.
type Thumbnail struct {
	Width       int
	Height      int
	Method      string
	ContentType string
	Size        int64
	SHA256      string
}

const mediaColumns = `server_name, media_id, user_id, content_type, upload_name, size, sha256, created_ts, expires_ts, quarantined`

// AddMedia stores a media row (complete, or pending when SHA256 is empty):
// this server's uploads, and other servers' media cached here (UserID
// empty, CreatedTS the time it was fetched).
// It returns an error wrapping ErrExists when the media ID is taken.
func (t *Tx) AddMedia(ctx context.Context, m Media) error {
	_, err := t.q.ExecContext(ctx, `INSERT INTO media (`+mediaColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		string(m.ServerName), m.MediaID, string(m.UserID), m.ContentType, m.UploadName, m.Size, m.SHA256, m.CreatedTS, m.ExpiresTS, m.Quarantined)
	if t.d.isUniqueViolation(err) {
		return fmt.Errorf("add media %s/%s: %w", m.ServerName, m.MediaID, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("add media %s/%s: %w", m.ServerName, m.MediaID, err)
	}
	return nil
}

// CompleteMedia fills in the content of a pending media ID and reports
// whether it did: false means the row is not pending (any more).
func (t *Tx) CompleteMedia(ctx context.Context, m Media) (bool, error) {
	res, err := t.q.ExecContext(ctx, `
		UPDATE media SET content_type = $1, upload_name = $2, size = $3, sha256 = $4, expires_ts = 0
		WHERE server_name = $5 AND media_id = $6 AND sha256 = ''`,
		m.ContentType, m.UploadName, m.Size, m.SHA256, string(m.ServerName), m.MediaID)
	if err != nil {
		return false, fmt.Errorf("complete media %s/%s: %w", m.ServerName, m.MediaID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("complete media %s/%s: %w", m.ServerName, m.MediaID, err)
	}
	return n == 1, nil
}

// Media returns the metadata of a media ID, or an error wrapping
// ErrNotFound.
func (r reader) Media(ctx context.Context, serverName id.ServerName, mediaID string) (Media, error) {
	var m Media
	var srv, user string
	err := r.q.QueryRowContext(ctx, `SELECT `+mediaColumns+` FROM media WHERE server_name = $1 AND media_id = $2`,
		string(serverName), mediaID).Scan(&srv, &m.MediaID, &user, &m.ContentType, &m.UploadName, &m.Size, &m.SHA256, &m.CreatedTS, &m.ExpiresTS, &m.Quarantined)
	if err != nil {
		return Media{}, fmt.Errorf("load media %s/%s: %w", serverName, mediaID, notFound(err))
	}
	m.ServerName, m.UserID = id.ServerName(srv), id.UserID(user)
	return m, nil
}

// PendingMediaCount returns how many unexpired pending media IDs (at now,
// milliseconds) a user holds.
func (r reader) PendingMediaCount(ctx context.Context, userID id.UserID, now int64) (int, error) {
	var n int
	err := r.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM media WHERE user_id = $1 AND sha256 = '' AND expires_ts > $2`,
		string(userID), now).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count pending media of %s: %w", userID, err)
	}
	return n, nil
}

// AddThumbnail stores a thumbnail's metadata, replacing one of the same
// size and method.
func (t *Tx) AddThumbnail(ctx context.Context, serverName id.ServerName, mediaID string, th Thumbnail) error {
	if _, err := t.q.ExecContext(ctx, `DELETE FROM media_thumbnails
		WHERE server_name = $1 AND media_id = $2 AND width = $3 AND height = $4 AND method = $5`,
		string(serverName), mediaID, th.Width, th.Height, th.Method); err != nil {
		return fmt.Errorf("replace thumbnail of %s/%s: %w", serverName, mediaID, err)
	}
	if _, err := t.q.ExecContext(ctx, `INSERT INTO media_thumbnails
		(server_name, media_id, width, height, method, content_type, size, sha256) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		string(serverName), mediaID, th.Width, th.Height, th.Method, th.ContentType, th.Size, th.SHA256); err != nil {
		return fmt.Errorf("add thumbnail of %s/%s: %w", serverName, mediaID, err)
	}
	return nil
}

// Thumbnails returns every thumbnail of a media ID.
func (r reader) Thumbnails(ctx context.Context, serverName id.ServerName, mediaID string) ([]Thumbnail, error) {
	rows, err := r.q.QueryContext(ctx, `SELECT width, height, method, content_type, size, sha256
		FROM media_thumbnails WHERE server_name = $1 AND media_id = $2`, string(serverName), mediaID)
	if err != nil {
		return nil, fmt.Errorf("load thumbnails of %s/%s: %w", serverName, mediaID, err)
	}
	defer rows.Close()
	var out []Thumbnail
	for rows.Next() {
		var th Thumbnail
		if err := rows.Scan(&th.Width, &th.Height, &th.Method, &th.ContentType, &th.Size, &th.SHA256); err != nil {
			return nil, fmt.Errorf("load thumbnails of %s/%s: %w", serverName, mediaID, err)
		}
		out = append(out, th)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load thumbnails of %s/%s: %w", serverName, mediaID, err)
	}
	return out, nil
}
