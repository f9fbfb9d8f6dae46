package media

import (
	"net/url"
	"strconv"
	"time"

	"github.com/hafenchat/hafen/internal/matrixerr"
)

// DefaultWait is how long a download of media reserved but not yet
// uploaded waits when the request names no timeout_ms.
const DefaultWait = 20 * time.Second

// WaitParam reads a download's timeout_ms query parameter (the client
// and federation media endpoints share it): DefaultWait when absent,
// capped at MaxWait, M_INVALID_PARAM when not a non-negative integer.
func WaitParam(q url.Values) (time.Duration, error) {
	v := q.Get("timeout_ms")
	if v == "" {
		return DefaultWait, nil
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms < 0 {
		return 0, matrixerr.InvalidParam("timeout_ms must be a non-negative integer")
	}
	return time.Duration(min(ms, int64(MaxWait/time.Millisecond))) * time.Millisecond, nil
}

// ThumbnailParams reads a thumbnail request's width and height (required
// positive integers) and method (crop or scale, scale when absent), as
// the client and federation thumbnail endpoints take them.
func ThumbnailParams(q url.Values) (width, height int, method string, err error) {
	dim := func(name string) (int, error) {
		v := q.Get(name)
		if v == "" {
			return 0, matrixerr.MissingParam(name)
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return 0, matrixerr.InvalidParam("%s must be a positive integer", name)
		}
		return n, nil
	}
	if width, err = dim("width"); err != nil {
		return 0, 0, "", err
	}
	if height, err = dim("height"); err != nil {
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
