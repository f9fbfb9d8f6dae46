package main

import "bytes"

// withoutMembers returns data, a JSON document, without the object members
// named name, at any depth. The syncers read only the timelines of /sync
// answers, and with --receipts most of each answer is the room's
// m.receipt events: checking and skipping those with encoding/json cost
// the load tool as much CPU as the receipts cost the server, and on a
// machine shared with the server that was measured as the server's loss.
// The bytes are still read off the connection; only their decoding is
// skipped. data must be valid JSON, as a 2xx answer of the server is
// (the decoder of the result checks the part it reads); for any other
// input the result is unspecified but never longer than data.
func withoutMembers(data []byte, name string) []byte {
	key := []byte(`"` + name + `"`)
	if !bytes.Contains(data, key) {
		return data
	}
	out := make([]byte, 0, len(data))
	i := 0
	for i < len(data) {
		c := data[i]
		if c != '"' {
			out = append(out, c)
			i++
			continue
		}
		end := stringEnd(data, i)
		colon := skipSpace(data, end)
		if !bytes.Equal(data[i:end], key) || colon >= len(data) || data[colon] != ':' {
			out = append(out, data[i:end]...)
			i = end
			continue
		}
		// A member named name: drop it with the comma that joins it to
		// its neighbours.
		i = valueEnd(data, skipSpace(data, colon+1))
		if k := lastNonSpace(out); k >= 0 && out[k] == ',' {
			out = out[:k]
		} else if j := skipSpace(data, i); j < len(data) && data[j] == ',' {
			i = j + 1
		}
	}
	return out
}

// stringEnd returns the index after the JSON string that starts at i.
func stringEnd(data []byte, i int) int {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(data)
}

// valueEnd returns the index after the JSON value that starts at i.
func valueEnd(data []byte, i int) int {
	depth := 0
	for i < len(data) {
		switch c := data[i]; c {
		case '"':
			i = stringEnd(data, i)
			if depth == 0 {
				return i
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				// The end of the object or array around a scalar.
				return i
			}
			depth--
			if depth == 0 {
				return i + 1
			}
		case ',':
			if depth == 0 {
				return i
			}
		}
		i++
	}
	return len(data)
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// lastNonSpace returns the index of the last byte of b that is not JSON
// white space, or -1.
func lastNonSpace(b []byte) int {
	k := len(b) - 1
	for k >= 0 && (b[k] == ' ' || b[k] == '\t' || b[k] == '\n' || b[k] == '\r') {
		k--
	}
	return k
}
