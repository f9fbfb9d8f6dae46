package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMemoryLimit checks memory_limit from every source: sizes with a
// binary unit, "off", and the refusals (no unit, unknown unit, too small).
func TestMemoryLimit(t *testing.T) {
	if _, err := (&Config{MemoryLimit: DefaultMemoryLimit}).MemoryLimitBytes(); err != nil {
		t.Fatalf("default memory_limit %q: %v", DefaultMemoryLimit, err)
	}
	for _, tc := range []struct {
		name string
		file string
		env  map[string]string
		args []string
		want int64
		err  bool
	}{
		{"default", "", nil, nil, 24 << 20, false},
		{"flag MiB", "", nil, []string{"--memory-limit", "64MiB"}, 64 << 20, false},
		{"env GiB", "", map[string]string{"HAFEN_MEMORY_LIMIT": "1GiB"}, nil, 1 << 30, false},
		{"file KiB", "memory_limit: 32768KiB\n", nil, nil, 32 << 20, false},
		{"off", "memory_limit: \"off\"\n", nil, nil, 0, false},
		{"no unit", "", nil, []string{"--memory-limit", "64000000"}, 0, true},
		{"decimal unit", "", nil, []string{"--memory-limit", "64MB"}, 0, true},
		{"too small", "", nil, []string{"--memory-limit", "8MiB"}, 0, true},
		{"negative", "", nil, []string{"--memory-limit", "-1GiB"}, 0, true},
		{"empty", "memory_limit: \"\"\n", nil, nil, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			e := map[string]string{"HAFEN_DATA_DIR": dir}
			for k, v := range tc.env {
				e[k] = v
			}
			if tc.file != "" {
				if err := os.WriteFile(filepath.Join(dir, FileName), []byte(tc.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			l, err := Load("serve", tc.args, env(e))
			if tc.err {
				if err == nil || !strings.Contains(err.Error(), "memory_limit") {
					t.Fatalf("Load = %v, want an error about memory_limit", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, err := l.Config.MemoryLimitBytes(); err != nil || got != tc.want {
				t.Errorf("MemoryLimitBytes() = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}
