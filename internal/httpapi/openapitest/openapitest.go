// Package openapitest reads the operations of the spec's OpenAPI files, for
// tests that check a router against them.
package openapitest

import (
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// Op is one operation of the spec's OpenAPI files.
type Op struct {
	// File is the name of the file that defines the operation.
	File string
	// OperationID is the operation's operationId.
	OperationID string
	// Method is the HTTP method, upper case.
	Method string
	// Path is the file's base path (from its servers block) and the
	// operation's path: "/_matrix/client/v3/devices/{deviceId}". Spaces
	// around the path are dropped: the spec writes "/events " and
	// "/rooms/{roomId}/invite " with a trailing space where a second file
	// defines another operation on the same route (peeking_events.yaml
	// beside old_sync.yaml, inviting.yaml beside third_party_membership.yaml).
	Path string
	// AddedIn is the spec version that added the operation
	// (x-addedInMatrixVersion, e.g. "1.6"); "" when the file does not
	// say, which for most operations means it predates v1.1.
	AddedIn string
	// Deprecated is the operation's deprecated flag.
	Deprecated bool
	// Params are the operation's parameters written out in its file
	// (those of its path item first); parameters given by $ref are left
	// out.
	Params []Param
	// BodyProperties are the names of the top-level properties of the
	// operation's JSON request body, when its file writes the body's
	// schema out (not by $ref), sorted.
	BodyProperties []string
}

// Param is one parameter of an operation.
type Param struct {
	// Name is the parameter's name; In is where it goes: "path",
	// "query" or "header".
	Name, In string
	// Enum lists the values the parameter may take, when the spec lists
	// them; Example is the spec's example value, if a string.
	Enum    []string
	Example string
}

// paramNode is a parameter as the OpenAPI files write it.
type paramNode struct {
	Name    string `yaml:"name"`
	In      string `yaml:"in"`
	Example any    `yaml:"example"`
	Schema  struct {
		Enum []string `yaml:"enum"`
	} `yaml:"schema"`
}

// param converts a parameter node, reporting false for one given by $ref
// (whose name the node does not hold).
func (p paramNode) param() (Param, bool) {
	if p.Name == "" {
		return Param{}, false
	}
	example, _ := p.Example.(string)
	return Param{Name: p.Name, In: p.In, Enum: p.Schema.Enum, Example: example}, true
}

// String names the operation, its file, method and path.
func (op Op) String() string {
	return op.OperationID + " (" + op.File + ": " + op.Method + " " + op.Path + ")"
}

// openAPIFile is the part of an OpenAPI file the route check reads.
type openAPIFile struct {
	Servers []struct {
		URL       string `yaml:"url"`
		Variables map[string]struct {
			Default string `yaml:"default"`
		} `yaml:"variables"`
	} `yaml:"servers"`
	// Paths maps a path to its path item, whose keys are methods and
	// other fields ("parameters", "summary").
	Paths map[string]map[string]yaml.Node `yaml:"paths"`
}

// openAPIMethods are the keys of an OpenAPI path item that are operations.
var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// Load returns every operation of the OpenAPI files in specDir, once for
// each server (base path) its file names, sorted by file and path. The
// spec's LICENSE must sit beside the files.
func Load(t testing.TB, specDir string) []Op {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(specDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no OpenAPI files in %s", specDir)
	}
	if _, err := os.Stat(filepath.Join(specDir, "LICENSE")); err != nil {
		t.Errorf("the spec's LICENSE must sit next to its copied files: %v", err)
	}
	var ops []Op
	for _, file := range files {
		name := filepath.Base(file)
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var doc openAPIFile
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(doc.Paths) == 0 {
			t.Errorf("%s: no paths", name)
			continue
		}
		if len(doc.Servers) == 0 {
			t.Errorf("%s: no servers block, so no base path", name)
			continue
		}
		for _, srv := range doc.Servers {
			base := basePath(t, name, srv.URL, func(v string) string { return srv.Variables[v].Default })
			for path, item := range doc.Paths {
				for _, method := range openAPIMethods {
					node, ok := item[method]
					if !ok {
						continue
					}
					var op struct {
						OperationID string      `yaml:"operationId"`
						AddedIn     string      `yaml:"x-addedInMatrixVersion"`
						Deprecated  bool        `yaml:"deprecated"`
						Parameters  []paramNode `yaml:"parameters"`
						RequestBody struct {
							Content map[string]struct {
								Schema struct {
									Properties map[string]yaml.Node `yaml:"properties"`
								} `yaml:"schema"`
							} `yaml:"content"`
						} `yaml:"requestBody"`
					}
					if err := node.Decode(&op); err != nil {
						t.Fatalf("%s: %s %s: %v", name, method, path, err)
					}
					var itemParams []paramNode
					if pn, ok := item["parameters"]; ok {
						if err := pn.Decode(&itemParams); err != nil {
							t.Fatalf("%s: %s parameters: %v", name, path, err)
						}
					}
					var params []Param
					for _, pn := range append(itemParams, op.Parameters...) {
						if p, ok := pn.param(); ok {
							params = append(params, p)
						}
					}
					var props []string
					for prop := range op.RequestBody.Content["application/json"].Schema.Properties {
						props = append(props, prop)
					}
					slices.Sort(props)
					if op.OperationID == "" {
						t.Errorf("%s: %s %s has no operationId", name, method, path)
					}
					ops = append(ops, Op{
						File:           name,
						OperationID:    op.OperationID,
						Method:         strings.ToUpper(method),
						Path:           base + strings.TrimSpace(path),
						AddedIn:        op.AddedIn,
						Deprecated:     op.Deprecated,
						Params:         params,
						BodyProperties: props,
					})
				}
			}
		}
	}
	slices.SortFunc(ops, func(a, b Op) int {
		return strings.Compare(a.File+" "+a.Path+" "+a.Method, b.File+" "+b.Path+" "+b.Method)
	})
	return ops
}

// basePath expands a server URL such as "{protocol}://{hostname}{basePath}"
// with its variables' defaults and returns its path.
func basePath(t testing.TB, file, rawURL string, defaultOf func(string) string) string {
	t.Helper()
	expanded := rawURL
	for {
		open := strings.Index(expanded, "{")
		end := strings.Index(expanded, "}")
		if open < 0 || end < open {
			break
		}
		expanded = expanded[:open] + defaultOf(expanded[open+1:end]) + expanded[end+1:]
	}
	u, err := url.Parse(expanded)
	if err != nil || !strings.HasPrefix(u.Path, "/") {
		t.Fatalf("%s: server URL %q expands to %q, which has no base path", file, rawURL, expanded)
	}
	return strings.TrimSuffix(u.Path, "/")
}
