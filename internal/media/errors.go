package media

import "errors"

// Sentinel errors of the media service, returned wrapped.
var (
	// ErrNotFound: the media ID does not exist, has expired or is remote.
	ErrNotFound = errors.New("media not found")
	// ErrTooLarge: the upload is larger than the maximum upload size.
	ErrTooLarge = errors.New("media too large")
	// ErrForbidden: the user may not upload to this media ID.
	ErrForbidden = errors.New("media upload forbidden")
	// ErrCannotOverwrite: the media ID already has content.
	ErrCannotOverwrite = errors.New("media already uploaded")
	// ErrNotYetUploaded: the content of a reserved media ID did not arrive
	// within the time the client would wait.
	ErrNotYetUploaded = errors.New("media not yet uploaded")
	// ErrTooManyPending: the user holds too many reserved media IDs.
	ErrTooManyPending = errors.New("too many pending media uploads")
	// ErrNotImage: the content cannot be thumbnailed (not an image of a
	// supported format, or malformed).
	ErrNotImage = errors.New("media is not a supported image")
	// ErrImageTooLarge: the image declares more pixels than the service
	// decodes.
	ErrImageTooLarge = errors.New("image too large to thumbnail")
	// ErrThumbnailTimeout: generating the thumbnail took too long.
	ErrThumbnailTimeout = errors.New("thumbnail generation timed out")
	// ErrRemoteTooLarge: another server's media is larger than the
	// service fetches.
	ErrRemoteTooLarge = errors.New("remote media too large")
	// ErrRemoteUnavailable: another server did not answer a media fetch.
	ErrRemoteUnavailable = errors.New("remote media server unavailable")
	// ErrQuotaExceeded: the upload would take the user past their
	// storage quota.
	ErrQuotaExceeded = errors.New("media storage quota exceeded")
)
