package core_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// forbidden lists the packages the protocol core must not import, with the
// reason (ARCHITECTURE.md, CONTRIBUTING.md: the core does no I/O).
var forbidden = map[string]string{
	"os":           "the core does no file or process I/O",
	"net":          "the core does no network I/O",
	"net/http":     "the core does no network I/O",
	"database/sql": "storage lives in store, not the core",
	"log":          "the core never logs; it returns errors",
	"log/slog":     "the core never logs; it returns errors",
	"io/fs":        "the core does no file I/O",
}

type listedPackage struct {
	ImportPath string
	DepOnly    bool // listed only as a dependency of a ./... package
	Standard   bool
	Imports    []string
	Deps       []string
	Error      *struct{ Err string }
}

// TestCoreDoesNoIO checks, in the style of Tailscale's deptest, that no
// package under ./core/... imports a forbidden package, directly or through
// a non-standard dependency. It uses `go list -deps` without -test, so tests
// may use anything.
//
// The standard library itself is not judged: fmt and crypto/ed25519 import
// os internally, yet using them does no I/O. What counts is that no core
// (or third-party) code reaches a forbidden package.
func TestCoreDoesNoIO(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	cmd := exec.Command("go", "list", "-deps", "-e", "-json=ImportPath,DepOnly,Standard,Imports,Deps,Error", "./...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := decodePackages(t, out)
	if len(pkgs) == 0 {
		t.Fatal("go list listed no packages")
	}
	byPath := map[string]listedPackage{}
	for _, p := range pkgs {
		byPath[p.ImportPath] = p
	}
	// "./..." run from core/ names exactly the core packages; -deps adds
	// their dependencies, marked DepOnly.
	coreRoots := 0
	for _, p := range pkgs {
		if p.DepOnly {
			continue
		}
		coreRoots++
		// The core package and every non-standard package it depends on.
		judged := []string{p.ImportPath}
		for _, d := range p.Deps {
			if dp, ok := byPath[d]; ok && !dp.Standard {
				judged = append(judged, d)
			}
		}
		for _, j := range judged {
			for _, imp := range byPath[j].Imports {
				if why, bad := forbidden[imp]; bad && j == p.ImportPath {
					t.Errorf("%s imports %s: %s", p.ImportPath, imp, why)
				} else if bad {
					t.Errorf("%s depends on %s, which imports %s: %s", p.ImportPath, j, imp, why)
				}
			}
		}
	}
	if coreRoots == 0 {
		t.Fatal("found no core packages; is the test running in the module?")
	}
	t.Logf("checked %d core packages", coreRoots)
}

func decodePackages(t *testing.T, out []byte) []listedPackage {
	t.Helper()
	var pkgs []listedPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		if p.Error != nil {
			// A package that does not build (for example this directory,
			// which holds only tests) is still listed with its imports.
			t.Logf("go list: %s: %s", p.ImportPath, p.Error.Err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}
