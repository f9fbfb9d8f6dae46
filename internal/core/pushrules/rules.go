// Package pushrules is the pure logic of Matrix push rules: the
// server-default rules, a user's ruleset and the edits the push rules API
// makes to it (Ruleset.Put, Delete, SetEnabled, SetActions), and the
// evaluation of a ruleset against an event (Compile, Evaluator.Evaluate).
//
// It does no I/O: the store keeps a user's ruleset as JSON (the content of
// their m.push_rules account data), and callers pass the room's facts
// (member count, the sender's notification permission, the user's display
// name) to the evaluator.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#push-rules
package pushrules

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Errors of the rule edits (possibly wrapped).
var (
	// ErrNotFound: no rule of that kind has that ID.
	ErrNotFound = errors.New("push rule not found")
	// ErrInvalid: the kind, rule ID, pattern, conditions or actions are
	// not acceptable.
	ErrInvalid = errors.New("invalid push rule")
	// ErrDefaultRule: the edit would add, replace, delete or position
	// against a server-default rule, which the API forbids.
	ErrDefaultRule = errors.New("server-default push rule")
	// ErrRelative: the before or after rule does not exist.
	ErrRelative = errors.New("before or after rule not found")
)

// Kinds of rules, in the order they are checked.
const (
	KindOverride  = "override"
	KindContent   = "content"
	KindRoom      = "room"
	KindSender    = "sender"
	KindUnderride = "underride"
)

// Condition kinds.
const (
	CondEventMatch                   = "event_match"
	CondEventPropertyIs              = "event_property_is"
	CondEventPropertyContains        = "event_property_contains"
	CondContainsDisplayName          = "contains_display_name"
	CondRoomMemberCount              = "room_member_count"
	CondSenderNotificationPermission = "sender_notification_permission"
)

// Condition is one condition of an override or underride rule. Conditions
// of unknown kinds are kept (and never match).
type Condition struct {
	Kind    string          `json:"kind"`
	Key     string          `json:"key,omitempty"`
	Pattern *string         `json:"pattern,omitempty"`
	Value   json.RawMessage `json:"value,omitempty"`
	Is      string          `json:"is,omitempty"`
}

// Rule is one push rule. Conditions is nil for content, room and sender
// rules (it is then left out of the JSON), and Pattern is set only for
// content rules.
type Rule struct {
	RuleID     string            `json:"rule_id"`
	Default    bool              `json:"default"`
	Enabled    bool              `json:"enabled"`
	Actions    []json.RawMessage `json:"actions"`
	Conditions []Condition       `json:"-"`
	Pattern    *string           `json:"pattern,omitempty"`
}

type ruleJSON struct {
	RuleID     string            `json:"rule_id"`
	Default    bool              `json:"default"`
	Enabled    bool              `json:"enabled"`
	Actions    []json.RawMessage `json:"actions"`
	Conditions *[]Condition      `json:"conditions,omitempty"`
	Pattern    *string           `json:"pattern,omitempty"`
}

// MarshalJSON writes conditions when they are not nil, even when empty
// (.m.rule.master has "conditions": []).
func (r Rule) MarshalJSON() ([]byte, error) {
	j := ruleJSON{RuleID: r.RuleID, Default: r.Default, Enabled: r.Enabled, Actions: r.Actions, Pattern: r.Pattern}
	if j.Actions == nil {
		j.Actions = []json.RawMessage{}
	}
	if r.Conditions != nil {
		j.Conditions = &r.Conditions
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads a rule as MarshalJSON writes it.
func (r *Rule) UnmarshalJSON(b []byte) error {
	var j ruleJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*r = Rule{RuleID: j.RuleID, Default: j.Default, Enabled: j.Enabled, Actions: j.Actions, Pattern: j.Pattern}
	if j.Conditions != nil {
		r.Conditions = *j.Conditions
	}
	return nil
}

// Ruleset is the global ruleset of a user: each kind's rules in priority
// order.
type Ruleset struct {
	Override  []Rule `json:"override"`
	Content   []Rule `json:"content"`
	Room      []Rule `json:"room"`
	Sender    []Rule `json:"sender"`
	Underride []Rule `json:"underride"`
}

// Rules is the body of GET /pushrules/ and the content of m.push_rules.
type Rules struct {
	Global Ruleset `json:"global"`
}

// kind returns the list of a kind, or nil for an unknown kind.
func (rs *Ruleset) kind(kind string) *[]Rule {
	switch kind {
	case KindOverride:
		return &rs.Override
	case KindContent:
		return &rs.Content
	case KindRoom:
		return &rs.Room
	case KindSender:
		return &rs.Sender
	case KindUnderride:
		return &rs.Underride
	}
	return nil
}

// ValidKind reports whether kind is one of the five kinds.
func ValidKind(kind string) bool { return (&Ruleset{}).kind(kind) != nil }

// Clone returns a copy of rs that shares no slice with it.
func (rs Ruleset) Clone() Ruleset {
	out := rs
	for _, k := range []string{KindOverride, KindContent, KindRoom, KindSender, KindUnderride} {
		p := out.kind(k)
		*p = slices.Clone(*p)
		if *p == nil {
			*p = []Rule{}
		}
	}
	return out
}

// Merge lays a stored ruleset over the current server defaults for user:
// the user's own rules in their stored order, and every default rule of
// today's spec with the enabled flag and actions the user gave it. Default
// rules the stored set has but today's defaults do not are dropped, so a
// ruleset stored under an older version follows the spec's changes.
// .m.rule.master comes first and the other default rules after the user's
// rules of their kind.
func Merge(stored *Ruleset, user string) Ruleset {
	out := Defaults(user)
	if stored == nil {
		return out
	}
	for _, k := range []string{KindOverride, KindContent, KindRoom, KindSender, KindUnderride} {
		defs := *out.kind(k)
		saved := map[string]Rule{}
		var own []Rule
		for _, r := range *stored.kind(k) {
			if strings.HasPrefix(r.RuleID, ".") {
				saved[r.RuleID] = r
			} else {
				r.Default = false
				own = append(own, r)
			}
		}
		for i := range defs {
			if s, ok := saved[defs[i].RuleID]; ok {
				defs[i].Enabled = s.Enabled
				if s.Actions != nil {
					defs[i].Actions = s.Actions
				}
			}
		}
		merged := make([]Rule, 0, len(defs)+len(own))
		if k == KindOverride && len(defs) > 0 && defs[0].RuleID == Master {
			merged = append(merged, defs[0])
			defs = defs[1:]
		}
		merged = append(merged, own...)
		merged = append(merged, defs...)
		*out.kind(k) = merged
	}
	return out
}

// Get returns the rule of kind with ID ruleID.
func (rs *Ruleset) Get(kind, ruleID string) (Rule, error) {
	l := rs.kind(kind)
	if l == nil {
		return Rule{}, fmt.Errorf("%w: unknown kind %q", ErrInvalid, kind)
	}
	for _, r := range *l {
		if r.RuleID == ruleID {
			return r, nil
		}
	}
	return Rule{}, fmt.Errorf("%w: %s/%s", ErrNotFound, kind, ruleID)
}

func (rs *Ruleset) index(kind, ruleID string) (*[]Rule, int, error) {
	l := rs.kind(kind)
	if l == nil {
		return nil, 0, fmt.Errorf("%w: unknown kind %q", ErrInvalid, kind)
	}
	for i, r := range *l {
		if r.RuleID == ruleID {
			return l, i, nil
		}
	}
	return l, -1, fmt.Errorf("%w: %s/%s", ErrNotFound, kind, ruleID)
}

// SetEnabled enables or disables a rule, default rules included.
func (rs *Ruleset) SetEnabled(kind, ruleID string, enabled bool) error {
	l, i, err := rs.index(kind, ruleID)
	if err != nil {
		return err
	}
	(*l)[i].Enabled = enabled
	return nil
}

// SetActions replaces a rule's actions, default rules included.
func (rs *Ruleset) SetActions(kind, ruleID string, actions []json.RawMessage) error {
	acts, err := ValidateActions(actions)
	if err != nil {
		return err
	}
	l, i, err := rs.index(kind, ruleID)
	if err != nil {
		return err
	}
	(*l)[i].Actions = acts
	return nil
}

// Delete removes a user-defined rule.
func (rs *Ruleset) Delete(kind, ruleID string) error {
	l, i, err := rs.index(kind, ruleID)
	if err != nil {
		return err
	}
	if (*l)[i].Default || strings.HasPrefix(ruleID, ".") {
		return fmt.Errorf("%w: %s cannot be deleted", ErrDefaultRule, ruleID)
	}
	*l = slices.Delete(*l, i, i+1)
	return nil
}

// NewRule is the body of PUT /pushrules/global/{kind}/{ruleId}.
type NewRule struct {
	Actions    []json.RawMessage `json:"actions"`
	Conditions []Condition       `json:"conditions"`
	Pattern    *string           `json:"pattern"`
}

// Put adds a user-defined rule, or replaces the one with the same ID of
// the same kind (keeping its enabled flag and, without before and after,
// its place). A new rule is enabled; without before and after it becomes
// the most important user-defined rule of its kind. before places it
// right before (more important than) that rule, after right after it;
// when both are given, before wins.
func (rs *Ruleset) Put(kind, ruleID string, nr NewRule, before, after string) error {
	l := rs.kind(kind)
	if l == nil {
		return fmt.Errorf("%w: unknown kind %q", ErrInvalid, kind)
	}
	if err := validateRuleID(kind, ruleID); err != nil {
		return err
	}
	acts, err := ValidateActions(nr.Actions)
	if err != nil {
		return err
	}
	rule := Rule{RuleID: ruleID, Enabled: true, Actions: acts}
	switch kind {
	case KindContent:
		if nr.Pattern == nil {
			return fmt.Errorf("%w: content rules need a pattern", ErrInvalid)
		}
		rule.Pattern = nr.Pattern
	case KindOverride, KindUnderride:
		rule.Conditions = nr.Conditions
		if rule.Conditions == nil {
			rule.Conditions = []Condition{}
		}
		for _, c := range rule.Conditions {
			if c.Kind == "" {
				return fmt.Errorf("%w: a condition has no kind", ErrInvalid)
			}
		}
	}
	for _, rel := range []string{before, after} {
		if strings.HasPrefix(rel, ".") {
			return fmt.Errorf("%w: cannot place a rule relative to %s", ErrDefaultRule, rel)
		}
	}
	cur := slices.Clone(*l) // *l changes only when the edit succeeds
	old := slices.IndexFunc(cur, func(r Rule) bool { return r.RuleID == ruleID })
	if old >= 0 {
		rule.Enabled = cur[old].Enabled
		if before == "" && after == "" {
			cur[old] = rule
			*l = cur
			return nil
		}
		cur = slices.Delete(cur, old, old+1)
	}
	at := 0
	switch {
	case before != "" || after != "":
		rel, off := before, 0
		if rel == "" {
			rel, off = after, 1
		}
		i := slices.IndexFunc(cur, func(r Rule) bool { return r.RuleID == rel })
		if i < 0 {
			return fmt.Errorf("%w: %q", ErrRelative, rel)
		}
		at = i + off
	case kind == KindOverride:
		// After .m.rule.master, which always comes first.
		if len(cur) > 0 && cur[0].RuleID == Master {
			at = 1
		}
	}
	*l = slices.Insert(cur, at, rule)
	return nil
}

// validateRuleID checks a user-defined rule's ID: no leading dot (the
// server-default namespace), no slash or backslash, and for room and
// sender rules the room or user ID the rule applies to.
// MaxRuleIDBytes bounds a user-defined rule's ID: room and sender rules
// are named by IDs of at most 255 bytes, and others need no more.
const MaxRuleIDBytes = 255

func validateRuleID(kind, ruleID string) error {
	switch {
	case ruleID == "":
		return fmt.Errorf("%w: empty rule ID", ErrInvalid)
	case len(ruleID) > MaxRuleIDBytes:
		return fmt.Errorf("%w: rule ID longer than %d bytes", ErrInvalid, MaxRuleIDBytes)
	case strings.HasPrefix(ruleID, "."):
		return fmt.Errorf("%w: %s is reserved for server-default rules", ErrDefaultRule, ruleID)
	case strings.ContainsAny(ruleID, `/\`):
		return fmt.Errorf("%w: rule ID %q has a slash or backslash", ErrInvalid, ruleID)
	case kind == KindRoom && !strings.HasPrefix(ruleID, "!"):
		return fmt.Errorf("%w: room rule ID %q is not a room ID", ErrInvalid, ruleID)
	case kind == KindSender && !strings.HasPrefix(ruleID, "@"):
		return fmt.Errorf("%w: sender rule ID %q is not a user ID", ErrInvalid, ruleID)
	}
	return nil
}

// ValidateActions checks a rule's actions: "notify", or a set_tweak
// object with a string tweak name. The historical actions "dont_notify"
// and "coalesce" are stripped, as the spec requires.
func ValidateActions(actions []json.RawMessage) ([]json.RawMessage, error) {
	if actions == nil {
		return nil, fmt.Errorf("%w: actions are required", ErrInvalid)
	}
	out := make([]json.RawMessage, 0, len(actions))
	for _, a := range actions {
		var s string
		if json.Unmarshal(a, &s) == nil {
			switch s {
			case "notify":
				out = append(out, json.RawMessage(`"notify"`))
			case "dont_notify", "coalesce":
			default:
				return nil, fmt.Errorf("%w: unknown action %q", ErrInvalid, s)
			}
			continue
		}
		var tweak map[string]json.RawMessage
		if json.Unmarshal(a, &tweak) != nil {
			return nil, fmt.Errorf("%w: action is neither a string nor an object", ErrInvalid)
		}
		var name string
		if json.Unmarshal(tweak["set_tweak"], &name) != nil || name == "" {
			return nil, fmt.Errorf("%w: object action without a set_tweak name", ErrInvalid)
		}
		out = append(out, a)
	}
	return out, nil
}

// FromAccountData reads the content of a user's m.push_rules account data
// (nil when they have none) as their ruleset, laid over today's defaults
// (Merge). Content that cannot be read yields the defaults.
func FromAccountData(raw []byte, user string) Ruleset {
	if rs, ok := accountRules(raw, user); ok {
		return rs
	}
	return Defaults(user)
}

// accountRules returns the rules of m.push_rules account data merged
// over the defaults, and false when there is none or it is unreadable
// (the defaults apply).
func accountRules(raw []byte, user string) (Ruleset, bool) {
	if raw == nil {
		return Ruleset{}, false
	}
	var r Rules
	if err := json.Unmarshal(raw, &r); err != nil {
		return Ruleset{}, false
	}
	return Merge(&r.Global, user), true
}
