package api

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
)

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

// decodeStrict decodes body into dst and reports the first problem as a
// *FieldError naming the JSON path ("real_servers[0].weight"): encoding/json
// alone names neither unknown nested fields nor addresses that fail to parse.
func decodeStrict(body []byte, dst any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return invalid("", "empty request body")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return invalid("", "bad JSON: %v", err)
	}
	if dec.More() {
		return invalid("", "bad JSON: trailing data after the object")
	}
	if err := checkValue(tree, reflect.TypeOf(dst).Elem(), ""); err != nil {
		return err
	}
	strict := json.NewDecoder(bytes.NewReader(body))
	strict.DisallowUnknownFields()
	if err := strict.Decode(dst); err != nil {
		return invalid("", "bad JSON: %v", err)
	}
	return nil
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// checkValue walks a generic JSON tree against the Go type it will decode into.
func checkValue(v any, t reflect.Type, path string) error {
	if v == nil {
		return nil
	}
	if reflect.PointerTo(t).Implements(textUnmarshalerType) {
		s, ok := v.(string)
		if !ok {
			return invalid(path, "must be a string")
		}
		target := reflect.New(t).Interface().(encoding.TextUnmarshaler)
		if err := target.UnmarshalText([]byte(s)); err != nil {
			return invalid(path, "invalid value %q", s)
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return checkValue(v, t.Elem(), path)
	case reflect.Struct:
		object, ok := v.(map[string]any)
		if !ok {
			return invalid(path, "must be an object")
		}
		fields := jsonFields(t)
		for name, value := range object {
			field, ok := fields[name]
			if !ok {
				return invalid(join(path, name), "unknown field")
			}
			if err := checkValue(value, field.Type, join(path, name)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice:
		array, ok := v.([]any)
		if !ok {
			return invalid(path, "must be an array")
		}
		for i, element := range array {
			if err := checkValue(element, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	case reflect.String:
		if _, ok := v.(string); !ok {
			return invalid(path, "must be a string")
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return invalid(path, "must be true or false")
		}
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(json.Number)
		if !ok {
			return invalid(path, "must be a number")
		}
		if _, err := strconv.ParseUint(n.String(), 10, t.Bits()); err != nil {
			return invalid(path, "must be an integer 0-%d, not %s", uint64(math.MaxUint64)>>(64-t.Bits()), n)
		}
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			return invalid(path, "must be a number")
		}
		if _, err := strconv.ParseInt(n.String(), 10, t.Bits()); err != nil {
			return invalid(path, "must be an integer of %d bits, not %s", t.Bits(), n)
		}
	}
	return nil
}

// jsonFields maps the JSON names of t's exported fields to the fields.
func jsonFields(t reflect.Type) map[string]reflect.StructField {
	fields := make(map[string]reflect.StructField, t.NumField())
	for i := range t.NumField() {
		field := t.Field(i)
		if !field.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(field.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = field.Name
		}
		fields[name] = field
	}
	return fields
}
