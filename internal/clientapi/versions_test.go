package clientapi

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// routedOps returns the spec's operations that a real handler serves (not
// the unimplemented table).
func routedOps(t *testing.T) map[string]bool {
	t.Helper()
	rt := specRouter(t)
	out := map[string]bool{}
	for _, op := range loadSpecOps(t) {
		h, pattern := rt.Handler(httptest.NewRequest(op.Method, samplePath(op.Path), nil))
		if _, unimpl := h.(*unimplemented); pattern != "" && !unimpl {
			out[op.OperationID] = true
		}
	}
	return out
}

// specFiles sorts the spec's Client-Server OpenAPI files into the core
// API ("") and the modules of its "Modules" section (the module's name),
// as the spec's prose includes them. Appservice endpoints belong to the
// Application Service API. A file missing here fails the test.
var specFiles = map[string]string{
	"account_deactivation.yaml": "", "administrative_contact.yaml": "", "banning.yaml": "",
	"capabilities.yaml": "", "create_room.yaml": "", "directory.yaml": "", "filter.yaml": "",
	"inviting.yaml": "", "joining.yaml": "", "kicking.yaml": "", "knocking.yaml": "",
	"leaving.yaml": "", "list_joined_rooms.yaml": "", "list_public_rooms.yaml": "",
	"login.yaml": "", "login_token.yaml": "", "logout.yaml": "", "message_pagination.yaml": "",
	"oauth_server_metadata.yaml": "", "old_sync.yaml": "", "password_management.yaml": "",
	"policy_server.yaml": "", "profile.yaml": "", "redaction.yaml": "", "refresh.yaml": "",
	"registration.yaml": "", "registration_tokens.yaml": "", "relations.yaml": "",
	"room_event_by_timestamp.yaml": "", "room_initial_sync.yaml": "", "room_send.yaml": "",
	"room_state.yaml": "", "room_summary.yaml": "", "rooms.yaml": "", "support.yaml": "",
	"sync.yaml": "", "users.yaml": "", "versions.yaml": "", "wellknown.yaml": "", "whoami.yaml": "",

	"account-data.yaml":              "Client Config",
	"admin.yaml":                     "Server Administration",
	"authed-content-repo.yaml":       "Content Repository",
	"content-repo.yaml":              "Content Repository",
	"device_management.yaml":         "Device Management",
	"cross_signing.yaml":             "End-to-End Encryption",
	"key_backup.yaml":                "End-to-End Encryption",
	"keys.yaml":                      "End-to-End Encryption",
	"event_context.yaml":             "Event Context",
	"mutual_rooms.yaml":              "Mutual Rooms",
	"openid.yaml":                    "OpenID",
	"presence.yaml":                  "Presence",
	"notifications.yaml":             "Push Notifications",
	"pusher.yaml":                    "Push Notifications",
	"pushrules.yaml":                 "Push Notifications",
	"read_markers.yaml":              "Read and Unread Markers",
	"receipts.yaml":                  "Receipts",
	"report_content.yaml":            "Reporting Content",
	"peeking_events.yaml":            "Room Previews",
	"room_upgrades.yaml":             "Room Upgrades",
	"search.yaml":                    "Server Side Search",
	"to_device.yaml":                 "Send-to-Device Messaging",
	"space_hierarchy.yaml":           "Spaces",
	"sso_login_redirect.yaml":        "SSO Client Login/Authentication",
	"tags.yaml":                      "Room Tagging",
	"third_party_membership.yaml":    "Third-party Invites",
	"third_party_lookup.yaml":        "Third-party Networks",
	"threads_list.yaml":              "Threading",
	"typing.yaml":                    "Typing Notifications",
	"voip.yaml":                      "Voice over IP",
	"appservice_ping.yaml":           "Application Service API",
	"appservice_room_directory.yaml": "Application Service API",
}

// addedIn returns the spec version ("v1.6") that added op: its
// x-addedInMatrixVersion, corrected where the files leave it out, else
// v1.1.
func addedIn(op specOp) string {
	switch op.OperationID {
	case "getRelatingEvents", "getRelatingEventsWithRelType", "getRelatingEventsWithRelTypeAndEventType":
		return "v1.3" // MSC2675, in v1.3's changelog
	case "getAuthMetadata":
		return "v1.15" // MSC2965, in v1.15's changelog
	}
	if op.AddedIn != "" {
		return "v" + op.AddedIn
	}
	return "v1.1"
}

// allSpecVersions are the spec's v1.x versions, oldest first.
var allSpecVersions = []string{"v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9",
	"v1.10", "v1.11", "v1.12", "v1.13", "v1.14", "v1.15", "v1.16", "v1.17", "v1.18", "v1.19"}

// TestAdvertisedVersionsAreImplemented ties /versions to the router and
// the spec: a version is advertised exactly when every core operation it
// or an earlier version added is routed to a handler or listed in
// coreGaps (see versions.go), so the list grows when the missing
// operations are implemented and shrinks if one stops being served.
func TestAdvertisedVersionsAreImplemented(t *testing.T) {
	routed := routedOps(t)
	missing := map[string][]string{} // version → core operations not served
	core := map[string]bool{}
	for _, op := range loadSpecOps(t) {
		module, ok := specFiles[op.File]
		if !ok {
			t.Errorf("%s: sort the file into the core or a module in specFiles", op.File)
			continue
		}
		if module != "" {
			continue
		}
		core[op.OperationID] = true
		v := addedIn(op)
		if !slices.Contains(allSpecVersions, v) {
			t.Errorf("%s: unknown version %s", op, v)
		}
		if !routed[op.OperationID] && coreGaps[op.OperationID] == "" && !slices.Contains(missing[v], op.OperationID) {
			missing[v] = append(missing[v], op.OperationID)
		}
	}
	var honest []string
	for _, v := range allSpecVersions {
		if len(missing[v]) > 0 {
			break
		}
		honest = append(honest, v)
	}
	if !slices.Equal(specVersions, honest) {
		t.Errorf("/versions advertises %v; the served versions are %v", specVersions, honest)
	}
	for _, v := range allSpecVersions {
		if len(missing[v]) > 0 {
			t.Logf("%s needs core operations not served: %v", v, missing[v])
		}
	}
	for op := range coreGaps {
		switch {
		case !core[op]:
			t.Errorf("coreGaps lists %s, which is no core operation of the spec", op)
		case routed[op]:
			t.Errorf("coreGaps lists %s, which is served now: delete it from the list", op)
		}
	}
	rt := specRouter(t)
	for flag, routes := range unstableFeatures {
		for _, route := range routes {
			method, path, _ := strings.Cut(route, " ")
			h, pattern := rt.Handler(httptest.NewRequest(method, samplePath(path), nil))
			if _, unimpl := h.(*unimplemented); pattern != route || unimpl {
				t.Errorf("unstable feature %s needs %s, which is not implemented (routed to %q)", flag, route, pattern)
			}
		}
	}
}

func TestVersionsEndpoint(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do("GET", "/_matrix/client/versions", "", nil)
	e.expect(r, 200, "")
	got, _ := r.body["versions"].([]any)
	if len(got) != len(specVersions) {
		t.Fatalf("versions = %v, want %v", got, specVersions)
	}
	for i, v := range got {
		if v != specVersions[i] {
			t.Fatalf("versions = %v, want %v", got, specVersions)
		}
	}
	flags, ok := r.body["unstable_features"].(map[string]any)
	if !ok || len(flags) != len(unstableFeatures) {
		t.Errorf("unstable_features = %v, want an object with %d flags", r.body["unstable_features"], len(unstableFeatures))
	}
	for flag := range unstableFeatures {
		if flags[flag] != true {
			t.Errorf("unstable_features[%s] = %v, want true", flag, flags[flag])
		}
	}
}

// versionBehaviourTests names, for each version from v1.10 on, the tests
// (package directory from the repository root, test name) of the
// behaviour that version changed and versions.go lists: the operations
// alone do not tell whether a version's changes are served.
var versionBehaviourTests = map[string][]string{
	"v1.10": {"cmd/hafen TestWellknownSupportEndToEnd", "internal/clientapi TestAccountDataAndTags",
		"internal/clientapi TestRelationsThreadsAndAggregations"},
	"v1.11": {"internal/clientapi TestMediaAuthRequired", "internal/clientapi TestUnsignedMembershipOnReadEndpoints",
		"internal/clientapi TestCrossSigningUpload"},
	"v1.12": {"internal/clientapi TestCapabilitiesMatchEndpoints", "internal/core/pushrules TestDefaultRules"},
	"v1.13": {"internal/clientapi TestKeysClaimedInUploadOrder", "internal/clientapi TestReportContent",
		"internal/clientapi TestRouterErrorsAndCORS"},
	"v1.14": {"internal/clientapi TestReportContent"},
	"v1.15": {"internal/clientapi TestRoomSummary", "internal/clientapi TestSpaceHierarchy"},
	"v1.16": {"internal/clientapi TestProfileTimeZoneChecked", "internal/clientapi TestExtendedProfileFields",
		"internal/clientapi TestSyncUseStateAfter", "internal/clientapi TestUpgradeRoom",
		"internal/clientapi TestStateReadsCarryPrevContentAndRedactions"},
	"v1.17": {"internal/core/pushrules TestDefaultRules"},
	"v1.18": {"internal/clientapi TestSendRedaction"},
	"v1.19": {"internal/clientapi TestCurrentStateReadsFollowChanges"},
}

// TestAdvertisedVersionsHaveBehaviourTests checks that every advertised
// version from v1.10 on names the tests of its behaviour changes, and
// that those tests exist.
func TestAdvertisedVersionsHaveBehaviourTests(t *testing.T) {
	root := filepath.Join("..", "..")
	for _, v := range specVersions {
		if slices.Index(allSpecVersions, v) < slices.Index(allSpecVersions, "v1.10") {
			continue
		}
		tests := versionBehaviourTests[v]
		if len(tests) == 0 {
			t.Errorf("%s is advertised without tests of its behaviour changes in versionBehaviourTests", v)
		}
		for _, entry := range tests {
			dir, name, _ := strings.Cut(entry, " ")
			files, err := filepath.Glob(filepath.Join(root, dir, "*_test.go"))
			if err != nil || len(files) == 0 {
				t.Errorf("%s: no tests in %s", v, dir)
				continue
			}
			re := regexp.MustCompile(`(?m)^func ` + regexp.QuoteMeta(name) + `\(t \*testing\.T\)`)
			found := false
			for _, f := range files {
				src, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if re.Match(src) {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("%s names %s in %s, which does not exist", v, name, dir)
			}
		}
	}
}
