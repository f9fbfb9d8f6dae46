package media

import (
	"net/url"
	"time"

	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// DefaultWait is how long a download of media reserved but not yet
// uploaded waits when the request names no timeout_ms.
const DefaultWait = 20 * time.Second

// WaitParam reads a download's timeout_ms query parameter (the client
// and federation media endpoints share it): DefaultWait when absent,
// capped at MaxWait, M_INVALID_PARAM when not a non-negative integer.
func WaitParam(q url.Values) (time.Duration, error) {
	ms, err := httpapi.NonNegativeParam(q, "timeout_ms", int(DefaultWait/time.Millisecond))
	if err != nil {
		return 0, err
	}
	return time.Duration(min(ms, int(MaxWait/time.Millisecond))) * time.Millisecond, nil
}

// ThumbnailParams reads a thumbnail request's width and height (required
// positive integers) and method (crop or scale, scale when absent), as
// the client and federation thumbnail endpoints take them.
func ThumbnailParams(q url.Values) (width, height int, method string, err error) {
	if width, err = httpapi.RequiredPositiveParam(q, "width"); err != nil {
		return 0, 0, "", err
	}
	if height, err = httpapi.RequiredPositiveParam(q, "height"); err != nil {
		return 0, 0, "", err
	}
	switch method = q.Get("method"); method {
	case "":
		method = MethodScale
	case MethodCrop, MethodScale:
	default:
		return 0, 0, "", matrixerr.InvalidParam("method must be crop or scale")
	}
	return width, height, method, nil
}
