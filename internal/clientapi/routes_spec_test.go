package clientapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/httpapi/openapitest"
	"github.com/hafenchat/hafen/internal/media"
)

// specDir holds the spec's Client-Server OpenAPI files (see its README).
const specDir = "testdata/openapi"

// specOp is one operation of the spec's OpenAPI files.
type specOp = openapitest.Op

// loadSpecOps returns every operation of the OpenAPI files in specDir.
func loadSpecOps(t *testing.T) []specOp { return openapitest.Load(t, specDir) }

// muxPath returns the ServeMux form of a spec path: a trailing slash
// matches only itself ("{$}"), not the subtree below it.
func muxPath(specPath string) string {
	if strings.HasSuffix(specPath, "/") {
		return specPath + "{$}"
	}
	return specPath
}

// samplePath fills each {param} of a spec path with a value of its own, so
// that it does not collide with a literal segment of another route.
func samplePath(specPath string) string {
	segs := strings.Split(specPath, "/")
	for i, seg := range segs {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			segs[i] = "_" + strings.Trim(seg, "{}")
		}
	}
	return strings.Join(segs, "/")
}

// specRouter returns a router with every route Hafen can register, in the
// order cmd/hafen registers them: real routes first, then the unimplemented
// ones. Registration calls none of the dependencies, so they are left
// empty, except that the room endpoints need a non-nil Rooms to register.
func specRouter(t *testing.T) *httpapi.Router {
	t.Helper()
	newServer := func() *Server {
		return &Server{
			ServerName:   "hafen.test",
			Media:        &media.Service{},
			Registration: Registration{Enabled: true, SharedSecret: "registers the Synapse admin routes too"},
		}
	}
	rt := httpapi.NewRouter()
	newServer().Routes(rt)
	h, pattern := rt.Handler(httptest.NewRequest(http.MethodPost, "/_matrix/client/v3/createRoom", nil))
	if _, unimpl := h.(*unimplemented); pattern != "" && !unimpl {
		return rt
	}
	// Routes has not registered the room endpoints: register them first,
	// so that they too come before the unimplemented routes.
	rt = httpapi.NewRouter()
	s := newServer()
	s.roomRoutes(rt, &Rooms{})
	s.Routes(rt)
	return rt
}

// unimplementedSet returns the lines of unimplementedOps as
// "operationId METHOD path", failing on a duplicate line. An operation is
// listed when the set holds it with the route its spec file gives it.
func unimplementedSet(t *testing.T) map[string]bool {
	t.Helper()
	set := make(map[string]bool, len(unimplementedOps))
	for _, op := range unimplementedOps {
		key := op.operationID + " " + op.pattern()
		if set[key] {
			t.Errorf("unimplemented.go lists %s twice", key)
		}
		set[key] = true
	}
	return set
}

// pattern returns the ServeMux pattern of op, as unimplemented.go writes it.
func opPattern(op specOp) string { return op.Method + " " + muxPath(op.Path) }

// TestSpecOperationsAreRouted checks that every operation of the spec is
// served by exactly one of a real handler and the unimplemented table.
func TestSpecOperationsAreRouted(t *testing.T) {
	ops := loadSpecOps(t)
	rt := specRouter(t)
	listed := unimplementedSet(t)

	seen := make(map[string]specOp)
	var routed, unimpl int
	for _, op := range ops {
		if prev, dup := seen[op.OperationID]; dup && prev.File != op.File {
			t.Errorf("operationId %s is used by two files: %v and %v", op.OperationID, prev, op)
		}
		seen[op.OperationID] = op

		h, pattern := rt.Handler(httptest.NewRequest(op.Method, samplePath(op.Path), nil))
		u, isUnimpl := h.(*unimplemented)
		isListed := listed[op.OperationID+" "+opPattern(op)]
		switch {
		case pattern == "":
			t.Errorf("%v is not routed: route it in routes.go or list it in unimplemented.go", op)
		case isUnimpl && !slices.ContainsFunc(u.ops, func(l unimplementedOp) bool { return l.operationID == op.OperationID }):
			t.Errorf("%v is answered by the unimplemented route %q of %v but is not listed with it in unimplemented.go",
				op, pattern, u.ops)
		case isUnimpl:
			unimpl++
		case isListed:
			t.Errorf("%v is routed to a handler by %q and also listed in unimplemented.go: delete its line there", op, pattern)
		default:
			routed++
		}
	}
	t.Logf("%d operations in %s: %d routed to a handler, %d answered as unimplemented", len(ops), specDir, routed, unimpl)
}

// TestUnimplementedTableMatchesSpec checks each line of unimplemented.go
// against the spec, so a line cannot route a path the spec does not have.
func TestUnimplementedTableMatchesSpec(t *testing.T) {
	paths := make(map[string][]string)
	for _, op := range loadSpecOps(t) {
		paths[op.OperationID] = append(paths[op.OperationID], opPattern(op))
	}
	unimplementedSet(t)
	for _, line := range unimplementedOps {
		want, ok := paths[line.operationID]
		switch {
		case !ok:
			t.Errorf("unimplemented.go lists %s, which is no operation of the spec", line.operationID)
		case !slices.Contains(want, line.pattern()):
			t.Errorf("unimplemented.go routes %s as %q, want %q", line.operationID, line.pattern(), want)
		}
	}
}

// TestUnimplementedRoutesAnswerUnrecognized checks the answer of every
// unimplemented operation: 404 M_UNRECOGNIZED (Common error codes), with no
// access token needed to learn it, naming the operation and the reason it
// is left out.
func TestUnimplementedRoutesAnswerUnrecognized(t *testing.T) {
	h := httpapi.Middleware(nil, specRouter(t))
	for _, op := range unimplementedOps {
		t.Run(op.operationID, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(op.method, samplePath(strings.TrimSuffix(op.path, "{$}")), nil))
			var body struct {
				Errcode string `json:"errcode"`
				Error   string `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q is not JSON: %v", rec.Body.String(), err)
			}
			if rec.Code != http.StatusNotFound || body.Errcode != "M_UNRECOGNIZED" {
				t.Errorf("%s = %d %s, want 404 M_UNRECOGNIZED", op.pattern(), rec.Code, body.Errcode)
			}
			if !strings.Contains(body.Error, op.operationID) {
				t.Errorf("error = %q, want it to name %s", body.Error, op.operationID)
			}
			if strings.TrimSpace(op.reason) == "" || !strings.Contains(body.Error, op.reason) {
				t.Errorf("error = %q, want it to give the reason %q (every line of unimplementedOps has one)", body.Error, op.reason)
			}
		})
	}
}

func TestRouteKey(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		want    string
	}{
		{"wildcard names are dropped", "GET /a/{x}/b", "GET /a/{}/b"},
		{"a rest wildcard stays distinct", "GET /a/{x...}", "GET /a/{...}"},
		{"end anchor is kept", "GET /a/{$}", "GET /a/{$}"},
		{"literal segments are kept", "PUT /_matrix/client/v3/sync", "PUT /_matrix/client/v3/sync"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := routeKey(tc.pattern); got != tc.want {
				t.Errorf("routeKey(%q) = %q, want %q", tc.pattern, got, tc.want)
			}
		})
	}
}

// TestRegisterUnimplementedSkipsTakenRoutes checks that a table line whose
// route a real handler already serves (under other wildcard names) is
// skipped instead of making registration panic, and that the rest of the
// table is still registered.
func TestRegisterUnimplementedSkipsTakenRoutes(t *testing.T) {
	i := slices.IndexFunc(unimplementedOps, func(op unimplementedOp) bool {
		return strings.Contains(op.path, "}") && !strings.Contains(op.path, "{$}")
	})
	if i < 0 {
		t.Skip("no unimplemented operation has a path parameter")
	}
	op := unimplementedOps[i]
	rt := httpapi.NewRouter()
	rt.Handle(strings.ReplaceAll(op.pattern(), "{", "{other_"), http.NotFoundHandler())
	registerUnimplemented(rt)

	h, _ := rt.Handler(httptest.NewRequest(op.method, samplePath(op.path), nil))
	if _, ok := h.(*unimplemented); ok {
		t.Errorf("%s is answered as unimplemented, want the handler registered first", op.pattern())
	}
	keys := make(map[string]bool)
	for _, line := range unimplementedOps {
		keys[routeKey(line.pattern())] = true
	}
	if got, want := len(rt.Patterns()), len(keys); got != want {
		t.Errorf("%d routes registered, want %d: the real one and every other route of the table", got, want)
	}
}
