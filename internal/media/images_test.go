package media

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"testing"
)

// testImage returns a w×h image with a gradient, so that scaling has
// something to do.
func testImage(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8(x + y), 255})
		}
	}
	return img
}

// encodeImage returns a w×h test image in format (jpeg, png, gif or webp,
// the last a fixed 300×? fixture whatever w and h).
func encodeImage(t testing.TB, format string, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	var err error
	switch format {
	case "jpeg":
		err = jpeg.Encode(&buf, testImage(w, h), nil)
	case "png":
		err = png.Encode(&buf, testImage(w, h))
	case "gif":
		err = gif.Encode(&buf, testImage(w, h), nil)
	case "webp":
		data, err := os.ReadFile("testdata/blue-purple-pink.lossy.webp")
		if err != nil {
			t.Fatal(err)
		}
		return data
	default:
		t.Fatalf("unknown format %s", format)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
