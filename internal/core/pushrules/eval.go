package pushrules

// Spec: Client-Server API § Push Rules (conditions, actions), Appendices
// § Glob-style matching, § Dot-separated property paths
// https://spec.matrix.org/v1.19/client-server-api/#conditions-1
// https://spec.matrix.org/v1.19/appendices/#dot-separated-property-paths

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// maxPropertyDepth bounds how deep NewEvent flattens content.
const maxPropertyDepth = 16

// Event is an event prepared for evaluation: its properties by
// dot-separated path. Prepare it once, then evaluate it for every user.
// It is safe for concurrent use.
type Event struct {
	// properties holds type, sender, room_id, state_key and content's
	// members, which the default rules ask for.
	properties
	roomID string
	sender string
	// body is content.body when it is a string.
	body    string
	hasBody bool

	// eventID and pdu are the event's ID and JSON, from which the other
	// top-level properties (others) are read once a condition asks for
	// one of them.
	eventID    string
	pdu        json.RawMessage
	othersOnce sync.Once
	others     properties
}

// properties are JSON values by dot-separated path (as escapeKey writes
// the property names).
type properties struct {
	props map[string]json.RawMessage
	// strs holds the properties that are JSON strings, decoded once for
	// every user's conditions.
	strs map[string]string
}

// eagerRoots are the top-level properties NewEvent reads from its
// arguments; the others are read from the event's JSON when needed.
var eagerRoots = map[string]bool{"type": true, "sender": true, "room_id": true, "state_key": true, "content": true}

// NewEvent prepares an event of type typ; stateKey is nil for a message
// event. Content that is no JSON object has no properties. eventID is the
// event's ID and pdu its JSON (the PDU; nil for none), from which
// conditions read the event's other top-level properties, such as
// origin_server_ts or redacts; unsigned is not one of them.
func NewEvent(typ, sender, roomID string, stateKey *string, content json.RawMessage, eventID string, pdu json.RawMessage) *Event {
	e := &Event{roomID: roomID, sender: sender, eventID: eventID, pdu: pdu}
	e.props = map[string]json.RawMessage{}
	e.props["type"] = mustJSON(typ)
	e.props["sender"] = mustJSON(sender)
	e.props["room_id"] = mustJSON(roomID)
	if stateKey != nil {
		e.props["state_key"] = mustJSON(*stateKey)
	}
	e.flatten("content", content, 0)
	e.decodeStrings()
	e.body, e.hasBody = e.strs["content.body"]
	return e
}

// lookup returns the properties holding the paths under a top-level
// property other than those NewEvent reads eagerly (others true).
func (e *Event) lookup(others bool) *properties {
	if !others {
		return &e.properties
	}
	e.othersOnce.Do(e.readOthers)
	return &e.others
}

// readOthers reads the top-level properties of the event's JSON that
// NewEvent did not, except unsigned: that is no part of the event itself
// (a client sees the unsigned data its server writes, not the PDU's).
func (e *Event) readOthers() {
	o := &e.others
	o.props = map[string]json.RawMessage{}
	var top map[string]json.RawMessage
	if t := bytes.TrimSpace(e.pdu); len(t) > 0 && t[0] == '{' && json.Unmarshal(t, &top) == nil {
		for k, v := range top {
			if eagerRoots[k] || k == "unsigned" {
				continue
			}
			path := escapeKey(k)
			o.props[path] = v
			if t := bytes.TrimSpace(v); len(t) > 0 && t[0] == '{' {
				o.flatten(path, t, 0)
			}
		}
	}
	if e.eventID != "" {
		o.props["event_id"] = mustJSON(e.eventID)
	}
	o.decodeStrings()
}

func (p *properties) decodeStrings() {
	p.strs = make(map[string]string, len(p.props))
	for k, v := range p.props {
		if s, ok := jsonString(v); ok {
			p.strs[k] = s
		}
	}
}

func (p *properties) flatten(prefix string, raw json.RawMessage, depth int) {
	if depth >= maxPropertyDepth {
		return
	}
	var obj map[string]json.RawMessage
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' || json.Unmarshal(t, &obj) != nil {
		return
	}
	for k, v := range obj {
		path := prefix + "." + escapeKey(k)
		p.props[path] = v
		if t := bytes.TrimSpace(v); len(t) > 0 && t[0] == '{' {
			p.flatten(path, t, depth+1)
		}
	}
}

// keyEscaper is the replacer of escapeKey, built once.
var keyEscaper = strings.NewReplacer(`\`, `\\`, `.`, `\.`)

// escapeKey escapes a property name for a dot-separated path: "\" and "."
// get a backslash before them.
func escapeKey(k string) string {
	if !strings.ContainsAny(k, `.\`) {
		return k
	}
	return keyEscaper.Replace(k)
}

// normalizePath returns a condition's dot-separated property path in the
// form the properties of an Event are kept in, and the name of its
// top-level property. In a path, `\.` is a dot and `\\` a backslash of a
// property name; any other backslash is itself, so `content.m\x` and
// `content.m\\x` are both the property `m\x` of content.
func normalizePath(key string) (path, root string) {
	if !strings.Contains(key, `\`) {
		root, _, _ = strings.Cut(key, ".")
		return key, root
	}
	names := SplitPath(key)
	root = names[0]
	for i, n := range names {
		names[i] = escapeKey(n)
	}
	return strings.Join(names, "."), root
}

// SplitPath splits a dot-separated property path (of a push rule
// condition's key, or a filter's event_fields) into property names: `\.`
// is a dot and `\\` a backslash of a name; any other backslash is itself.
func SplitPath(p string) []string {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '\\' && i+1 < len(p) && (p[i+1] == '.' || p[i+1] == '\\'):
			cur.WriteByte(p[i+1])
			i++
		case c == '.':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(parts, cur.String())
}

// Context is what the evaluation of one event for one user needs besides
// the rules and the event.
type Context struct {
	// UserID is the user whose rules are evaluated.
	UserID string
	// DisplayName is the user's display name in the room ("" for none).
	DisplayName string
	// MemberCount returns the room's number of joined members; it is
	// called only when a room_member_count condition is reached.
	MemberCount func() int
	// SenderMayNotify reports whether the sender's power level reaches
	// the room's notifications level for key; called only when a
	// sender_notification_permission condition is reached.
	SenderMayNotify func(key string) bool
}

// Result is the outcome of evaluating an event: the first matching rule
// and what its actions mean.
type Result struct {
	// Kind and RuleID name the matching rule; both are empty if none
	// matched.
	Kind, RuleID string
	// Actions are the rule's actions.
	Actions []json.RawMessage
	// Notify reports a "notify" action; Highlight a highlight tweak whose
	// value is true (or absent).
	Notify, Highlight bool
}

// Evaluator is a user's ruleset compiled for evaluation. It is immutable
// and safe for concurrent use.
type Evaluator struct {
	rules []compiledRule
}

type compiledRule struct {
	kind, id string
	actions  []json.RawMessage
	notify   bool
	high     bool
	conds    []compiledCond
	// body is the compiled pattern of a content rule.
	body *regexp.Regexp
}

type compiledCond struct {
	c Condition
	// key is the property path of event_match and event_property_is/contains
	// as the Event keeps it; others says it is under a top-level property
	// the Event reads when needed.
	key    string
	others bool
	re     *regexp.Regexp // event_match
	// literal is an event_match pattern without wildcards outside
	// content.body, matched by case-insensitive equality; isLiteral says
	// it is used.
	literal   string
	isLiteral bool
	// value is the parsed value of event_property_is/contains; ok says
	// it is a non-compound value the spec allows.
	value   any
	valueOK bool
	// op and n are room_member_count's comparison.
	op string
	n  int
	// unknown conditions (or malformed ones) never match.
	never bool
	// forUser: the pattern or value is userPlaceholder, which stands for
	// Context.UserID (the shared default rules, see CompileFor).
	forUser bool
}

// Compile prepares rs for evaluation: the enabled rules in the order they
// are checked, with their patterns compiled.
func Compile(rs Ruleset) *Evaluator {
	ev := &Evaluator{}
	for _, k := range []string{KindOverride, KindContent, KindRoom, KindSender, KindUnderride} {
		for _, r := range *rs.kind(k) {
			if !r.Enabled {
				continue
			}
			cr := compiledRule{kind: k, id: r.RuleID, actions: r.Actions}
			cr.notify, cr.high = actionFlags(r.Actions)
			switch k {
			case KindContent:
				if r.Pattern == nil {
					continue
				}
				cr.body = globRegexp(*r.Pattern, true)
			case KindOverride, KindUnderride:
				for _, c := range r.Conditions {
					cr.conds = append(cr.conds, compileCond(c))
				}
			}
			ev.rules = append(ev.rules, cr)
		}
	}
	return ev
}

// userPlaceholder stands for the user whose rules are evaluated in the
// default rules compiled once for every user (CompileFor): no Matrix user
// ID contains a NUL.
const userPlaceholder = "\x00user"

// sharedDefaults is the default rules compiled once, with the user left
// to the Context; an Evaluator is immutable, so every user whose rules
// are the defaults shares it.
var sharedDefaults = sync.OnceValue(func() *Evaluator { return Compile(Defaults(userPlaceholder)) })

// CompileFor compiles a user's rules from the content of their
// m.push_rules account data (nil for none), like
// Compile(FromAccountData(raw, user)). A user without account data (most
// users: it exists once they changed a rule) gets the default rules
// compiled once for all users, which read the user from
// Context.UserID, so that a server keeps one copy of them, not one per
// user.
func CompileFor(raw []byte, user string) *Evaluator {
	if rs, ok := accountRules(raw, user); ok {
		return Compile(rs)
	}
	return sharedDefaults()
}

func compileCond(c Condition) compiledCond {
	cc := compiledCond{c: c}
	switch c.Kind {
	case CondEventMatch, CondEventPropertyIs, CondEventPropertyContains:
		var root string
		cc.key, root = normalizePath(c.Key)
		cc.others = !eagerRoots[root]
	}
	switch c.Kind {
	case CondEventMatch:
		if c.Key == "" || c.Pattern == nil {
			cc.never = true
			break
		}
		if cc.key != "content.body" && !strings.ContainsAny(*c.Pattern, "*?") {
			cc.literal, cc.isLiteral = *c.Pattern, true
			cc.forUser = *c.Pattern == userPlaceholder
			break
		}
		cc.re = globRegexp(*c.Pattern, cc.key == "content.body")
	case CondEventPropertyIs, CondEventPropertyContains:
		cc.value, cc.valueOK = scalar(c.Value)
		cc.never = c.Key == "" || !cc.valueOK
		cc.forUser = cc.value == userPlaceholder
	case CondRoomMemberCount:
		is := c.Is
		for _, op := range []string{"==", "<=", ">=", "<", ">"} {
			if strings.HasPrefix(is, op) {
				cc.op, is = op, is[len(op):]
				break
			}
		}
		if cc.op == "" {
			cc.op = "=="
		}
		n, err := strconv.Atoi(is)
		cc.n, cc.never = n, err != nil
	case CondContainsDisplayName:
	case CondSenderNotificationPermission:
		cc.never = c.Key == ""
	default:
		cc.never = true
	}
	return cc
}

// actionFlags reads whether actions notify and highlight.
func actionFlags(actions []json.RawMessage) (notify, highlight bool) {
	for _, a := range actions {
		if s, ok := jsonString(a); ok {
			notify = notify || s == "notify"
			continue
		}
		var t struct {
			SetTweak string          `json:"set_tweak"`
			Value    json.RawMessage `json:"value"`
		}
		if json.Unmarshal(a, &t) != nil || t.SetTweak != "highlight" {
			continue
		}
		v := bytes.TrimSpace(t.Value)
		highlight = len(v) == 0 || bytes.Equal(v, []byte("true"))
	}
	return notify, highlight
}

// Evaluate returns the result of the first enabled rule that matches e.
// The caller skips events the user sent themselves, which never notify.
func (ev *Evaluator) Evaluate(e *Event, ctx *Context) Result {
	for i := range ev.rules {
		r := &ev.rules[i]
		if r.matches(e, ctx) {
			return Result{Kind: r.kind, RuleID: r.id, Actions: r.actions, Notify: r.notify, Highlight: r.notify && r.high}
		}
	}
	return Result{}
}

func (r *compiledRule) matches(e *Event, ctx *Context) bool {
	switch r.kind {
	case KindContent:
		return e.hasBody && r.body.MatchString(e.body)
	case KindRoom:
		return e.roomID == r.id
	case KindSender:
		return e.sender == r.id
	}
	for i := range r.conds {
		if !r.conds[i].matches(e, ctx) {
			return false
		}
	}
	return true
}

func (c *compiledCond) matches(e *Event, ctx *Context) bool {
	if c.never {
		return false
	}
	switch c.c.Kind {
	case CondEventMatch:
		s, ok := e.lookup(c.others).strs[c.key]
		if c.forUser {
			return ok && strings.EqualFold(s, ctx.UserID)
		}
		if c.isLiteral {
			return ok && strings.EqualFold(s, c.literal)
		}
		return ok && c.re.MatchString(s)
	case CondEventPropertyIs:
		want := c.value
		if c.forUser {
			want = ctx.UserID
		}
		p := e.lookup(c.others)
		if s, ok := p.strs[c.key]; ok {
			return s == want
		}
		v, ok := scalar(p.props[c.key])
		return ok && v == want
	case CondEventPropertyContains:
		var arr []json.RawMessage
		raw := e.lookup(c.others).props[c.key]
		if len(raw) == 0 || json.Unmarshal(raw, &arr) != nil {
			return false
		}
		want := c.value
		if c.forUser {
			want = ctx.UserID
		}
		for _, a := range arr {
			if v, ok := scalar(a); ok && v == want {
				return true
			}
		}
		return false
	case CondContainsDisplayName:
		return e.hasBody && ctx.DisplayName != "" && containsWord(e.body, ctx.DisplayName)
	case CondRoomMemberCount:
		if ctx.MemberCount == nil {
			return false
		}
		n := ctx.MemberCount()
		switch c.op {
		case "<":
			return n < c.n
		case ">":
			return n > c.n
		case "<=":
			return n <= c.n
		case ">=":
			return n >= c.n
		}
		return n == c.n
	case CondSenderNotificationPermission:
		return ctx.SenderMayNotify != nil && ctx.SenderMayNotify(c.c.Key)
	}
	return false
}

// scalar decodes a non-compound canonical JSON value (string, integer
// within ±(2^53-1), boolean or null) into a comparable Go value.
func scalar(raw json.RawMessage) (any, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, false
	}
	switch raw[0] {
	case '"':
		return jsonString(raw)
	case 't', 'f', 'n':
		var v any
		if json.Unmarshal(raw, &v) != nil {
			return nil, false
		}
		return v, true
	case '{', '[':
		return nil, false
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || n > 1<<53-1 || n < -(1<<53-1) {
		return nil, false
	}
	return n, true
}

// jsonString returns the value of a JSON string.
func jsonString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	if len(raw) >= 2 && raw[len(raw)-1] == '"' && plainJSONString(raw[1:len(raw)-1]) {
		return string(raw[1 : len(raw)-1]), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// plainJSONString reports whether b, the inside of a JSON string, has no
// escapes, control characters or invalid UTF-8, so that it is its own
// value.
func plainJSONString(b []byte) bool {
	ascii := true
	for _, c := range b {
		if c < 0x20 || c == '\\' || c == '"' {
			return false
		}
		ascii = ascii && c < utf8.RuneSelf
	}
	return ascii || utf8.Valid(b)
}

// wordBoundary is a character that is not in [A-Za-z0-9_], the spec's
// word boundary for content.body.
const wordBoundary = `[^A-Za-z0-9_]`

// globRegexp compiles a glob pattern ("*" any run of characters, "?" one
// character) for a case-insensitive match of the whole value, or with
// words of any substring that starts and ends at a word boundary.
func globRegexp(pattern string, words bool) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`(?is)`)
	if words {
		b.WriteString(`(?:^|` + wordBoundary + `)`)
	} else {
		b.WriteString(`^`)
	}
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	if words {
		b.WriteString(`(?:$|` + wordBoundary + `)`)
	} else {
		b.WriteString(`$`)
	}
	return regexp.MustCompile(b.String()) // every piece is quoted or a fixed construct
}

// containsWord reports whether text contains word, case-insensitively,
// starting and ending at word boundaries.
func containsWord(text, word string) bool {
	text, word = strings.ToLower(text), strings.ToLower(word)
	if word == "" {
		return false
	}
	for from := 0; from <= len(text)-len(word); {
		i := strings.Index(text[from:], word)
		if i < 0 {
			return false
		}
		start, end := from+i, from+i+len(word)
		if (start == 0 || !isWordByte(text[start-1])) && (end == len(text) || !isWordByte(text[end])) {
			return true
		}
		from = start + 1
	}
	return false
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
