package clientapi

import (
	"net/http/httptest"
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

// TestAdvertisedVersionsAreImplemented ties /versions to the router: every
// advertised version's operations, and those of every earlier version, are
// served by a handler, and the list stops only at a version whose
// operations are not (so it grows when they are).
func TestAdvertisedVersionsAreImplemented(t *testing.T) {
	routed := routedOps(t)
	known := map[string]bool{}
	for _, op := range loadSpecOps(t) {
		known[op.OperationID] = true
	}
	var honest []string
	complete := true
	for _, req := range versionRequirements {
		for _, op := range req.ops {
			if !known[op] {
				t.Errorf("%s requires %s, which is no operation of the spec", req.version, op)
			}
			if !routed[op] {
				if slices.Contains(specVersions, req.version) {
					t.Errorf("/versions advertises %s, but its operation %s is not implemented", req.version, op)
				}
				complete = false
			}
		}
		if complete {
			honest = append(honest, req.version)
		}
	}
	if !slices.Equal(specVersions, honest) {
		t.Errorf("/versions advertises %v; the implemented versions are %v", specVersions, honest)
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
