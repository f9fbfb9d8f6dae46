package media

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// FuzzFederationMultipart: any answer of a federation media endpoint is
// read without panicking, and never yields more content than it holds.
func FuzzFederationMultipart(f *testing.F) {
	f.Add("b", "--b\r\nContent-Type: application/json\r\n\r\n{}\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--\r\n")
	f.Add("b", "--b\r\nContent-Type: application/json\r\n\r\n{}\r\n--b\r\nLocation: https://cdn.example/abc\r\n\r\n\r\n--b--\r\n")
	f.Add("b", "--b\r\nContent-Type: text/plain\r\n\r\nno json first\r\n--b--\r\n")
	f.Fuzz(func(t *testing.T, boundary, body string) {
		ff := FederationFetcher{Client: &fakeFed{urls: map[string]string{"https://cdn.example/abc": "located"}}}
		resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"multipart/mixed; boundary=\"" + boundary + "\""}},
			Body: io.NopCloser(strings.NewReader(body))}
		rf, err := ff.multipart(context.Background(), resp, 1<<20)
		if err != nil {
			return
		}
		data, _ := io.ReadAll(rf.Body)
		rf.Body.Close()
		if len(data) > len(body) && string(data) != "located" {
			t.Fatalf("%d bytes of content from a %d-byte answer", len(data), len(body))
		}
	})
}
