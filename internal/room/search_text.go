package room

// Spec: Client-Server API § Server Side Search (the keys searched)
// https://spec.matrix.org/v1.19/client-server-api/#server-side-search

import (
	"encoding/json"
	"strings"

	"github.com/hafenchat/hafen/internal/core/event"
)

// searchKeys maps the event types whose text clients search to the content
// key holding it (content.body, content.name, content.topic).
var searchKeys = map[string]string{
	"m.room.message": "body",
	"m.room.name":    "name",
	"m.room.topic":   "topic",
}

// SearchKeyTypes maps the keys of a search request to the event type whose
// text they search.
var SearchKeyTypes = map[string]string{
	"content.body":  "m.room.message",
	"content.name":  "m.room.name",
	"content.topic": "m.room.topic",
}

// SearchText returns the text of an event that full-text search indexes,
// if it has any (search.Indexer writes it).
func SearchText(pdu *event.PDU) (string, bool) {
	key, ok := searchKeys[pdu.Type()]
	if !ok {
		return "", false
	}
	var c map[string]json.RawMessage
	if json.Unmarshal(pdu.Content(), &c) != nil {
		return "", false
	}
	var s string
	if json.Unmarshal(c[key], &s) != nil {
		s = ""
	}
	if pdu.Type() == "m.room.topic" {
		// "In m.room.topic, content.topic as well as the body of the
		// text/plain representation in content['m.topic']."
		if plain := plainTopic(c["m.topic"]); plain != "" && plain != s {
			s = strings.TrimSpace(s + "\n" + plain)
		}
	}
	return s, s != ""
}

// plainTopic returns the bodies of the text/plain representations of an
// m.topic content block (a representation without a mimetype is
// text/plain), joined by newlines.
func plainTopic(raw json.RawMessage) string {
	var block struct {
		Text []struct {
			MimeType *string `json:"mimetype"`
			Body     string  `json:"body"`
		} `json:"m.text"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &block) != nil {
		return ""
	}
	var out []string
	for _, t := range block.Text {
		if (t.MimeType == nil || *t.MimeType == "text/plain") && t.Body != "" {
			out = append(out, t.Body)
		}
	}
	return strings.Join(out, "\n")
}
