package config

// Reading the configuration: the YAML file, FASTLVS_* environment variables
// and command-line flags are layered into one tree of plain values (later
// layers win), and a small decoder of our own fills the Config structs from
// it, so that every refused value - an unknown key, a port that is not a
// number, an address that does not parse - comes back as one line naming its
// path in the document. Field names come from the `mapstructure` struct tags.
//
// Why not viper: docs/OPERATIONS.md ("Why the configuration loader is not
// viper") has the measurements; in short its Unmarshal loses the path of a
// refused value, and the layering left to it was a map merge that brought
// in dozens of packages.

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// configEnvPrefix prefixes the environment overrides: FASTLVS_METRICS,
// FASTLVS_CONNTRACK_CAPACITY, FASTLVS_CONNTRACK_TIMEOUTS_TCP, ...
const configEnvPrefix = "FASTLVS_"

// configFlagKeys maps the command-line flags that override configuration keys.
var configFlagKeys = map[string]string{
	"iface":    "interfaces",
	"workers":  "workers",
	"cpus":     "cpus",
	"api":      "api",
	"metrics":  "metrics",
	"xdp-mode": "xdp_mode",
}

// RegisterConfigFlags defines the flags Load reads on fs: --iface
// (repeatable), --workers, --cpus, --api, --metrics and --xdp-mode. A flag
// overrides the file and the environment only when it is given.
func RegisterConfigFlags(fs *pflag.FlagSet) {
	fs.StringArray("iface", nil, "interface to serve (repeat for a two-arm director)")
	fs.String("workers", "", `number of packet workers, or "auto" for one per queue`)
	fs.IntSlice("cpus", nil, "CPUs to pin the workers to, e.g. 2,3")
	fs.String("api", "", "control API address: unix:///path or tcp://host:port")
	fs.String("metrics", "", "Prometheus endpoint host:port")
	fs.String("xdp-mode", "", "XDP attach mode: auto, native or generic")
}

// Load reads the YAML file at path (none when path is empty), applies
// FASTLVS_* environment overrides and then the flags of flags that were set
// (flags may be nil), and returns the validated configuration.
func Load(path string, flags *pflag.FlagSet) (*Config, error) {
	tree := configTree{}
	if path != "" {
		text, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		if tree, err = parseConfigYAML(text); err != nil {
			return nil, fmt.Errorf("parse config %s: %w", path, err)
		}
	}
	// FASTLVS_CONNTRACK_TIMEOUTS_TCP overrides conntrack.timeouts.tcp; an
	// empty variable counts as unset.
	for _, key := range configEnvKeys(reflect.TypeFor[Config](), "") {
		name := configEnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
		if value := os.Getenv(name); value != "" {
			tree.set(key, value)
		}
	}
	if flags != nil {
		for name, key := range configFlagKeys {
			flag := flags.Lookup(name)
			if flag == nil || !flag.Changed {
				continue
			}
			if slice, ok := flag.Value.(pflag.SliceValue); ok {
				tree.set(key, slice.GetSlice())
			} else {
				tree.set(key, flag.Value.String())
			}
		}
	}
	return decodeConfig(tree)
}

// Parse reads a configuration from YAML text alone (no environment, no
// flags) and returns it validated.
func Parse(yamlText []byte) (*Config, error) {
	tree, err := parseConfigYAML(yamlText)
	if err != nil {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	return decodeConfig(tree)
}

// configTree is the layered document: YAML mappings as map[string]any with
// the keys of nested mappings (outside lists) in lower case, so a layer's
// dotted key finds the mapping the file spelled with capitals.
type configTree map[string]any

func parseConfigYAML(text []byte) (configTree, error) {
	var tree map[string]any
	// An empty document decodes to io.EOF: it means "all defaults".
	if err := yaml.Unmarshal(text, &tree); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return lowerKeys(tree), nil
}

// lowerKeys lower-cases the keys of m and of the mappings nested in it. Two
// keys that differ only in case keep the value of the later one in sort
// order.
func lowerKeys(m map[string]any) configTree {
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	out := make(configTree, len(m))
	for _, key := range keys {
		value := m[key]
		if nested, ok := value.(map[string]any); ok {
			value = map[string]any(lowerKeys(nested))
		}
		out[strings.ToLower(key)] = value
	}
	return out
}

// set puts value at the dotted key, making the mappings on the way (and
// replacing a non-mapping that stands where one is needed).
func (t configTree) set(key string, value any) {
	parts := strings.Split(key, ".")
	node := map[string]any(t)
	for _, part := range parts[:len(parts)-1] {
		next, ok := node[part].(map[string]any)
		if !ok {
			next = map[string]any{}
			node[part] = next
		}
		node = next
	}
	node[parts[len(parts)-1]] = value
}

func decodeConfig(tree configTree) (*Config, error) {
	cfg := DefaultConfig()
	d := configDecoder{}
	if err := d.decodeStruct("", map[string]any(tree), reflect.ValueOf(&cfg).Elem()); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// configEnvKeys lists the dotted keys of every scalar or scalar-list field
// reachable from t without crossing a list of structs: the keys an
// environment variable can override.
func configEnvKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for i := range t.NumField() {
		field := t.Field(i)
		name := configKey(field)
		if name == "" {
			continue
		}
		switch {
		case field.Type.Kind() == reflect.Struct && !configLeafType(field.Type):
			keys = append(keys, configEnvKeys(field.Type, prefix+name+".")...)
		case field.Type.Kind() == reflect.Slice && field.Type.Elem().Kind() == reflect.Struct && !configLeafType(field.Type.Elem()):
		case field.Type.Kind() == reflect.Pointer:
		default:
			keys = append(keys, prefix+name)
		}
	}
	return keys
}

func configKey(field reflect.StructField) string {
	name, _, _ := strings.Cut(field.Tag.Get("mapstructure"), ",")
	if name == "-" {
		return ""
	}
	return name
}

var (
	configAddrType     = reflect.TypeFor[netip.Addr]()
	configDurationType = reflect.TypeFor[time.Duration]()
)

// configLeafType reports the struct types decoded from one scalar.
func configLeafType(t reflect.Type) bool { return t == configAddrType }

// configDecoder fills Config structs from a configTree.
type configDecoder struct {
	// serviceCheck is the health check of the service being decoded: a real
	// server's override starts from it.
	serviceCheck *HealthCheckConfig
}

func (d *configDecoder) decodeStruct(path string, raw any, dst reflect.Value) error {
	tree, ok := raw.(map[string]any)
	if !ok {
		return Errorf(path, "must be a mapping (got %s)", configDescribe(raw))
	}
	if service, ok := dst.Addr().Interface().(*ServiceConfig); ok {
		d.serviceCheck = &service.HealthCheck
	}
	t := dst.Type()
	known := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		if name := configKey(t.Field(i)); name != "" {
			known[name] = i
		}
	}
	keys := make([]string, 0, len(tree))
	for key := range tree {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	values := make(map[string]any, len(tree))
	for _, key := range keys {
		lower := strings.ToLower(key)
		if _, ok := known[lower]; !ok {
			return Errorf(configJoinPath(path, key), "unknown key%s", configSuggestKey(lower, known))
		}
		values[lower] = tree[key]
	}
	// Fields in declaration order, so a service's health check is decoded
	// before its real servers inherit it.
	for i := range t.NumField() {
		field := t.Field(i)
		name := configKey(field)
		value, present := values[name]
		if name == "" || !present || value == nil {
			continue
		}
		if err := d.decodeValue(configJoinPath(path, name), field.Tag.Get("fastlvs"), value, dst.Field(i)); err != nil {
			return err
		}
	}
	return nil
}

func (d *configDecoder) decodeValue(path, option string, raw any, dst reflect.Value) error {
	switch dst.Type() {
	case configAddrType:
		text, ok := raw.(string)
		if !ok {
			return Errorf(path, "%s is not an IP address", configQuote(raw))
		}
		addr, err := netip.ParseAddr(strings.TrimSpace(text))
		if err != nil || addr.Zone() != "" {
			return Errorf(path, "%q is not an IP address", text)
		}
		dst.Set(reflect.ValueOf(addr.Unmap()))
		return nil
	case configDurationType:
		duration, err := parseConfigDuration(raw, option == "booldur")
		if err != nil {
			return Errorf(path, "%v", err)
		}
		dst.SetInt(int64(duration))
		return nil
	}
	switch dst.Kind() {
	case reflect.String:
		switch raw.(type) {
		case map[string]any, []any, []string:
			return Errorf(path, "must be a string (got %s)", configDescribe(raw))
		}
		dst.SetString(fmt.Sprint(raw))
	case reflect.Bool:
		switch value := raw.(type) {
		case bool:
			dst.SetBool(value)
		case string:
			parsed, err := strconv.ParseBool(value)
			if err != nil {
				return Errorf(path, "%q is not a boolean (true or false)", value)
			}
			dst.SetBool(parsed)
		default:
			return Errorf(path, "%s is not a boolean (true or false)", configQuote(raw))
		}
	case reflect.Int:
		if text, ok := raw.(string); ok && option == "auto" && strings.EqualFold(strings.TrimSpace(text), "auto") {
			dst.SetInt(0)
			return nil
		}
		number, ok := configInt(raw)
		if !ok {
			want := "an integer"
			if option == "auto" {
				want = `an integer or "auto"`
			}
			return Errorf(path, "%s is not %s", configQuote(raw), want)
		}
		dst.SetInt(number)
	case reflect.Float64:
		number, ok := configFloat(raw)
		if !ok {
			return Errorf(path, "%s is not a number", configQuote(raw))
		}
		dst.SetFloat(number)
	case reflect.Slice:
		items, ok := configList(raw)
		if !ok {
			return Errorf(path, "must be a list (got %s)", configDescribe(raw))
		}
		slice := reflect.MakeSlice(dst.Type(), len(items), len(items))
		for i, item := range items {
			element := slice.Index(i)
			itemPath := fmt.Sprintf("%s[%d]", path, i)
			switch element.Addr().Interface().(type) {
			case *ServiceConfig:
				element.Set(reflect.ValueOf(DefaultService()))
			case *RealServerConfig:
				element.Set(reflect.ValueOf(DefaultRealServer()))
			}
			if element.Kind() == reflect.Struct && !configLeafType(element.Type()) {
				if err := d.decodeStruct(itemPath, item, element); err != nil {
					return err
				}
				continue
			}
			if item == nil {
				return Errorf(itemPath, "must not be empty")
			}
			if err := d.decodeValue(itemPath, option, item, element); err != nil {
				return err
			}
		}
		dst.Set(slice)
	case reflect.Pointer:
		fresh := reflect.New(dst.Type().Elem())
		if check, ok := fresh.Interface().(*HealthCheckConfig); ok && d.serviceCheck != nil {
			*check = inheritedCheck(*d.serviceCheck, raw)
		}
		if err := d.decodeStruct(path, raw, fresh.Elem()); err != nil {
			return err
		}
		dst.Set(fresh)
	case reflect.Struct:
		return d.decodeStruct(path, raw, dst)
	default:
		return Errorf(path, "cannot decode into %s", dst.Type())
	}
	return nil
}

// inheritedCheck is where a real server's health-check override starts: the
// service's whole check, or only its timing when the override names another
// type (a path or a command of another check type would be meaningless).
func inheritedCheck(service HealthCheckConfig, override any) HealthCheckConfig {
	tree, _ := override.(map[string]any)
	for key, value := range tree {
		if strings.EqualFold(key, "type") && fmt.Sprint(value) != service.Type {
			return HealthCheckConfig{
				Interval: service.Interval, Timeout: service.Timeout,
				Rise: service.Rise, Fall: service.Fall,
				InhibitOnFailure: service.InhibitOnFailure,
			}
		}
	}
	return service
}

// parseConfigDuration accepts Go durations ("2s", "500ms") and plain numbers
// of seconds; persistence also accepts true (360s, like ipvsadm -p) and false.
func parseConfigDuration(raw any, boolAllowed bool) (time.Duration, error) {
	want := "a duration (e.g. 2s, 500ms)"
	if boolAllowed {
		want = "a duration (e.g. 300s) or true"
	}
	if text, ok := raw.(string); ok && boolAllowed {
		if parsed, err := strconv.ParseBool(text); err == nil {
			raw = parsed
		}
	}
	switch value := raw.(type) {
	case bool:
		if !boolAllowed {
			break
		}
		if value {
			return DefaultPersistenceTrue, nil
		}
		return 0, nil
	case string:
		text := strings.TrimSpace(value)
		if seconds, err := strconv.ParseInt(text, 10, 64); err == nil {
			return time.Duration(seconds) * time.Second, nil
		}
		duration, err := time.ParseDuration(text)
		if err != nil {
			return 0, fmt.Errorf("%q is not %s", value, want)
		}
		return duration, nil
	default:
		if seconds, ok := configInt(raw); ok {
			return time.Duration(seconds) * time.Second, nil
		}
	}
	return 0, fmt.Errorf("%s is not %s", configQuote(raw), want)
}

// configInt converts the integer forms a YAML tree, an environment variable
// or a flag can hold.
func configInt(raw any) (int64, bool) {
	switch value := raw.(type) {
	case int:
		return int64(value), true
	case int64:
		return value, true
	case uint64:
		if value > 1<<62 {
			return 0, false
		}
		return int64(value), true
	case float64:
		if value != float64(int64(value)) {
			return 0, false
		}
		return int64(value), true
	case string:
		number, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		return number, err == nil
	}
	return 0, false
}

// configFloat converts the number forms a YAML tree, an environment
// variable or a flag can hold.
func configFloat(raw any) (float64, bool) {
	switch value := raw.(type) {
	case float64:
		return value, true
	case string:
		number, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		return number, err == nil
	}
	number, ok := configInt(raw)
	return float64(number), ok
}

// configList accepts YAML lists, flag slices, and the comma or space
// separated strings of environment variables.
func configList(raw any) ([]any, bool) {
	switch value := raw.(type) {
	case []any:
		return value, true
	case []string:
		items := make([]any, len(value))
		for i, item := range value {
			items[i] = item
		}
		return items, true
	case string:
		fields := strings.FieldsFunc(value, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
		items := make([]any, len(fields))
		for i, field := range fields {
			items[i] = field
		}
		return items, true
	}
	return nil, false
}

func configJoinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func configDescribe(raw any) string {
	switch raw.(type) {
	case map[string]any:
		return "a mapping"
	case []any, []string:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case nil:
		return "nothing"
	}
	return "a number"
}

func configQuote(raw any) string {
	switch value := raw.(type) {
	case string:
		return strconv.Quote(value)
	case map[string]any, []any, []string:
		return configDescribe(raw)
	}
	return fmt.Sprint(raw)
}

// configSuggestKey names a known key within two edits of an unknown one.
func configSuggestKey(unknown string, known map[string]int) string {
	best, bestDistance := "", 3
	for key := range known {
		if distance := configEditDistance(unknown, key); distance < bestDistance || distance == bestDistance && key < best {
			best, bestDistance = key, distance
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

func configEditDistance(a, b string) int {
	previous := make([]int, len(b)+1)
	current := make([]int, len(b)+1)
	for j := range previous {
		previous[j] = j
	}
	for i := 1; i <= len(a); i++ {
		current[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			current[j] = min(previous[j]+1, current[j-1]+1, previous[j-1]+cost)
		}
		previous, current = current, previous
	}
	return previous[len(b)]
}
