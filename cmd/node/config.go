package main

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/knadh/koanf/parsers/toml/v2"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	gotoml "github.com/pelletier/go-toml/v2"
	"github.com/spf13/pflag"
)

// Where options come from, and which wins: flags > environment > config
// file > the flag's default. One name per option in all three: the flag
// --max-message-bytes, the variable WARREN_MAX_MESSAGE_BYTES (upper case,
// dashes as underscores) and the key max-message-bytes in the TOML file.
//
// koanf (github.com/knadh/koanf/v2) does the merging: the file, then the
// environment, then the flags that were given are loaded in that order
// into one koanf instance, each over the one before, and posflag takes
// only the flags the command line set, so a default never hides a value
// of the file or the environment. koanf rather than viper, which does the
// same job, because here (1) the precedence is the load order, visible in
// three lines, where viper decides it inside Get; (2) keys keep their
// case, where viper lower-cases every key (Data-Dir would pass); (3) each
// source is a small module (posflag for pflag, env, file, the TOML parser)
// where viper brings afero, cast, locafero, gotenv, a YAML library and
// fsnotify's watching with it; and (4) an unknown key is easy to find in
// the file's own koanf instance before merging, where viper needs its keys
// compared against a second instance.
//
// The values koanf merged are then set on the flags the command line left
// alone, as text, through the flags' own pflag.Values: a size, a duration
// or a bool parses the same way whichever source gave it (bytesize.Size
// for every size), and the program reads only the flags.

// envPrefix starts the environment variable of every option.
const envPrefix = "WARREN_"

// commandLineOnly are options that a config file must not hold: --config
// names the file, --version and --help are actions. The environment may
// name the file (WARREN_CONFIG) but not the actions: a WARREN_VERSION set
// for a build script must not turn the node into a version printer.
var commandLineOnly = map[string]bool{"config": true, "version": true, "help": true}

// sources records which options each source gave, for the start-up log.
type sources struct {
	file    string   // the config file, "" when none
	fromEnv []string // variables that set an option (WARREN_…)
	inFile  []string // keys of the file
}

// log reports the config file and the variables that set options (names
// only: a value may be a path to a secret, never a secret itself, but
// names are what an operator needs to find a surprise, such as a
// WARREN_TLS_CERT meant for the warren CLI).
func (s sources) log(logger hclog.Logger) {
	if s.file == "" && len(s.fromEnv) == 0 {
		return
	}
	logger.Info("configuration", "file", s.file, "file_keys", strings.Join(s.inFile, ","), "environment", strings.Join(s.fromEnv, ","))
}

// envName is the environment variable of option name.
func envName(name string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// loadConfig applies the environment and the config file to the flags of
// fs that the command line did not set. environ is the process's
// environment (os.Environ's form). A variable with the WARREN_ prefix that
// names no option is left alone: the warren CLI (WARREN_SERVER,
// WARREN_USER, …) and the tests use the same prefix.
func loadConfig(fs *pflag.FlagSet, environ []string) (sources, error) {
	var src sources
	envK := koanf.New(".")
	err := envK.Load(env.Provider(".", env.Opt{
		Prefix:      envPrefix,
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(k, v string) (string, any) {
			name := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(k, envPrefix)), "_", "-")
			if fs.Lookup(name) == nil || (commandLineOnly[name] && name != "config") || k != envName(name) {
				return "", nil
			}
			src.fromEnv = append(src.fromEnv, k)
			return name, v
		},
	}), nil)
	if err != nil {
		return src, fmt.Errorf("environment: %w", err)
	}
	slices.Sort(src.fromEnv)

	src.file = envK.String("config")
	if fs.Changed("config") {
		src.file, _ = fs.GetString("config")
	}
	envK.Delete("config")

	k := koanf.New(".")
	if src.file != "" {
		fileK := koanf.New(".")
		if err := fileK.Load(file.Provider(src.file), toml.Parser()); err != nil {
			return src, fmt.Errorf("config file %s: %s", src.file, describeTOMLError(err))
		}
		var unknown []string
		for _, key := range fileK.Keys() {
			if fs.Lookup(key) == nil || commandLineOnly[key] {
				unknown = append(unknown, key)
			}
		}
		if len(unknown) > 0 {
			slices.Sort(unknown)
			return src, fmt.Errorf("config file %s: unknown %s %s: keys are warren-node's option names without the dashes (warren-node --help lists them), and the file has no tables",
				src.file, plural(len(unknown), "key", "keys"), strings.Join(unknown, ", "))
		}
		src.inFile = fileK.Keys()
		if err := k.Merge(fileK); err != nil {
			return src, err
		}
	}
	if err := k.Merge(envK); err != nil {
		return src, err
	}
	err = k.Load(posflag.ProviderWithFlag(fs, ".", k, func(f *pflag.Flag) (string, any) {
		if !f.Changed {
			return "", nil // a default: the file's or the environment's value stays
		}
		return f.Name, f.Value.String()
	}), nil)
	if err != nil {
		return src, err
	}

	for _, key := range k.Keys() {
		f := fs.Lookup(key)
		if f.Changed {
			continue // given on the command line: already parsed
		}
		origin := "config file " + src.file + ": " + key
		if envK.Exists(key) {
			origin = "environment variable " + envName(key)
		}
		text, err := flagText(f, k.Get(key))
		if err != nil {
			return src, fmt.Errorf("%s: %w", origin, err)
		}
		if err := fs.Set(key, text); err != nil {
			return src, fmt.Errorf("%s: %w", origin, err) // pflag's error names the value and the flag
		}
	}
	return src, nil
}

// flagText turns a value of the environment (always a string) or of the
// TOML file (a string, an integer, a float, a bool, or an array of those
// for a list option such as join) into the text the flag parses.
func flagText(f *pflag.Flag, v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case []any:
		if f.Value.Type() != "stringSlice" {
			return "", fmt.Errorf("a list, but --%s takes one value", f.Name)
		}
		parts := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return "", fmt.Errorf("list item %v is not a string", e)
			}
			if strings.Contains(s, ",") {
				return "", fmt.Errorf("list item %q holds a comma: give one value per item", s)
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), nil
	default:
		return "", fmt.Errorf("a %T, but --%s takes a string, number or bool", v, f.Name)
	}
}

// describeTOMLError adds the line and column to a TOML syntax error.
func describeTOMLError(err error) string {
	var de *gotoml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		return fmt.Sprintf("line %d, column %d: %v", row, col, de)
	}
	return err.Error()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
