package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// FileName is the name of the configuration file in DataDir, used when no
// path is given with --config or HAFEN_CONFIG.
const FileName = "hafen.yaml"

// Loaded is the result of Load.
type Loaded struct {
	// Config is the validated configuration.
	Config Config
	// Path is the configuration file that was read or, when FileExists is
	// false, that should be written (see Example).
	Path string
	// FileExists reports whether Path existed.
	FileExists bool
}

// Load builds the configuration from its four sources: Defaults, the YAML
// file, the environment (lookupEnv, usually os.LookupEnv) and the flags in
// args. The file is the one named by --config or HAFEN_CONFIG, else
// hafen.yaml in the data directory that the environment and flags select;
// a missing file is not an error. Every problem found (unknown keys, values
// of the wrong type, failed validation) is reported in one joined error.
//
// A --help flag returns flag.ErrHelp after printing the flags to the flag
// set's output (os.Stderr).
func Load(name string, args []string, lookupEnv func(string) (string, bool)) (*Loaded, error) {
	fs, flags := NewFlagSet(name)
	if err := ParseFlags(fs, args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return flags.Load(lookupEnv)
}

// Flags holds the flags parsed by a FlagSet from NewFlagSet until Load
// applies them after the file and the environment.
type Flags struct {
	configPath string
	set        []flagValue // in command-line order
}

type flagValue struct {
	path  []string
	value string
}

// NewFlagSet returns a flag set with one flag per setting plus --config.
// Parse it (with ParseFlags), then call Flags.Load.
func NewFlagSet(name string) (*flag.FlagSet, *Flags) {
	return NewFlagSetFor(name)
}

// NewFlagSetFor is NewFlagSet with flags for the named settings only (YAML
// paths such as "data_dir"; none means all), for commands that need a
// few: their --help then lists only what they use. The file and the
// environment still set every setting.
func NewFlagSetFor(name string, only ...string) (*flag.FlagSet, *Flags) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	f := &Flags{}
	fs.StringVar(&f.configPath, "config", "", "configuration file (default: "+FileName+" in the data directory; env HAFEN_CONFIG)")
	defaults := Defaults()
	for _, s := range settings(&defaults) {
		if len(only) > 0 && !slices.Contains(only, strings.Join(s.path, ".")) {
			continue
		}
		fv := &settingFlag{flags: f, path: s.path, isBool: s.value.Kind() == reflect.Bool}
		usage := "sets " + strings.Join(s.path, ".") + " (env " + envName(s.path) + ")"
		fs.Var(fv, flagName(s.path), usage)
		if s.path[len(s.path)-1] == "enabled" && len(s.path) > 1 {
			fs.Var(fv, flagName(s.path[:len(s.path)-1]), "same as --"+flagName(s.path))
		}
		if alias := flagAlias(strings.Join(s.path, ".")); alias != "" {
			fs.Var(fv, alias, "same as --"+flagName(s.path))
		}
	}
	return fs, f
}

// ParseFlags parses args into fs. Unlike fs.Parse it prints nothing on a
// mistake: the error it returns names the bad flag, suggests the closest
// defined one and says how to list them all. --help prints the usage to
// fs's output and returns flag.ErrHelp.
func ParseFlags(fs *flag.FlagSet, args []string) error {
	out, usage := fs.Output(), fs.Usage
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.SetOutput(out)
	fs.Usage = usage
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		if usage != nil {
			usage()
		} else {
			fmt.Fprintf(out, "Usage of %s:\n", fs.Name())
			fs.PrintDefaults()
		}
		return err
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		msg = "unknown flag --" + name
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		if s := closest(name, names); s != "" {
			msg += " (did you mean --" + s + "?)"
		}
	}
	return fmt.Errorf("%s\nrun \"%s --help\" to list the flags", msg, fs.Name())
}

// flagAlias returns an extra flag name for the setting at path, or "".
// --open-registration says plainly what turning registration on means: with
// no token required, anyone who can reach the server may create an account.
func flagAlias(path string) string {
	switch path {
	case "registration.enabled":
		return "open-registration"
	}
	return ""
}

// Load reads the file and the environment and applies the parsed flags.
func (f *Flags) Load(lookupEnv func(string) (string, bool)) (*Loaded, error) {
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	var errs []error

	// The data directory decides where the file is, so find it first from
	// the sources that outrank the file.
	path := f.configPath
	if path == "" {
		path, _ = lookupEnv("HAFEN_CONFIG")
	}
	// Only the default file may be missing (and is then written by
	// `hafen serve`); a file named explicitly must exist, so a typo in
	// its path is not silently replaced by a fresh example.
	explicit := path != ""
	if path == "" {
		probe := Defaults()
		errs = append(errs, applyEnv(&probe, lookupEnv)...)
		errs = append(errs, f.apply(&probe)...)
		path = filepath.Join(probe.DataDir, FileName)
	}

	cfg := Defaults()
	exists := true
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && explicit:
		errs = append(errs, fmt.Errorf("config file %s does not exist (only the default %s in the data directory is created when missing)", path, FileName))
	case errors.Is(err, fs.ErrNotExist):
		exists = false
	case err != nil:
		errs = append(errs, fmt.Errorf("read config file: %w", err))
	default:
		if err := decodeYAML(data, &cfg); err != nil {
			errs = append(errs, fmt.Errorf("config file %s: %w", path, err))
		}
	}
	if len(errs) == 0 {
		errs = append(errs, applyEnv(&cfg, lookupEnv)...)
		errs = append(errs, f.apply(&cfg)...)
	}
	if len(errs) == 0 {
		if err := cfg.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &Loaded{Config: cfg, Path: path, FileExists: exists}, nil
}

// decodeYAML decodes a configuration file into cfg, refusing unknown keys.
func decodeYAML(data []byte, cfg *Config) error {
	if err := checkKeys(data); err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	// An empty file, or one of comments only, is io.EOF: all defaults.
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

func (f *Flags) apply(cfg *Config) []error {
	var errs []error
	byPath := map[string]setting{}
	for _, s := range settings(cfg) {
		byPath[strings.Join(s.path, ".")] = s
	}
	for _, fv := range f.set {
		s := byPath[strings.Join(fv.path, ".")]
		if err := setValue(s.value, fv.value); err != nil {
			errs = append(errs, fmt.Errorf("flag --%s: %w", flagName(fv.path), err))
		}
	}
	return errs
}

func applyEnv(cfg *Config, lookupEnv func(string) (string, bool)) []error {
	var errs []error
	for _, s := range settings(cfg) {
		name := envName(s.path)
		v, ok := lookupEnv(name)
		if !ok {
			continue
		}
		if err := setValue(s.value, v); err != nil {
			errs = append(errs, fmt.Errorf("environment %s: %w", name, err))
		}
	}
	return errs
}

// settingFlag is the flag.Value of one setting. It records the value; Load
// applies it after the file and the environment.
type settingFlag struct {
	flags  *Flags
	path   []string
	isBool bool
}

func (sf *settingFlag) String() string { return "" }

func (sf *settingFlag) Set(v string) error {
	if sf.isBool {
		if _, err := strconv.ParseBool(v); err != nil {
			return err
		}
	}
	sf.flags.set = append(sf.flags.set, flagValue{path: sf.path, value: v})
	return nil
}

func (sf *settingFlag) IsBoolFlag() bool { return sf.isBool }

// setting is one leaf of the Config tree.
type setting struct {
	path  []string      // YAML keys from the root: ["rate_limit", "login", "burst"]
	value reflect.Value // the addressable field
	field reflect.StructField
}

// settings lists the leaves of cfg in declaration order.
func settings(cfg *Config) []setting {
	var out []setting
	walk(reflect.ValueOf(cfg).Elem(), nil, &out)
	return out
}

func walk(v reflect.Value, prefix []string, out *[]setting) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if key == "" || key == "-" {
			continue
		}
		path := append(append([]string{}, prefix...), key)
		if f.Type.Kind() == reflect.Struct {
			walk(v.Field(i), path, out)
			continue
		}
		*out = append(*out, setting{path: path, value: v.Field(i), field: f})
	}
}

func envName(path []string) string {
	return "HAFEN_" + strings.ToUpper(strings.Join(path, "_"))
}

func flagName(path []string) string {
	return strings.ReplaceAll(strings.Join(path, "-"), "_", "-")
}

// setValue parses s into v according to v's kind.
func setValue(v reflect.Value, s string) error {
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not a boolean", s)
		}
		v.SetBool(b)
	case reflect.Int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("%q is not an integer", s)
		}
		v.SetInt(int64(n))
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("settings of type %s cannot be set here", v.Type())
		}
		var list []string
		for _, item := range strings.Split(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				list = append(list, item)
			}
		}
		v.Set(reflect.ValueOf(list))
	case reflect.Float64:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		v.SetFloat(x)
	default:
		return fmt.Errorf("settings of type %s cannot be set here", v.Type())
	}
	return nil
}
