package conntrack

import (
	"reflect"
	"testing"
	"unsafe"
)

// The table's big slices must be pointer-free so the garbage collector never scans them.
func TestRecordsArePointerFree(t *testing.T) {
	for _, v := range []any{Conn{}, slot{}, templateExtra{}, wheel{}} {
		if typ := reflect.TypeOf(v); hasPointers(typ) {
			t.Errorf("%v holds pointers", typ)
		}
	}
	if unsafe.Sizeof(Conn{}) != 128 || unsafe.Offsetof(Conn{}.Local) != 64 {
		t.Errorf("Conn is %d bytes with Local at %d; want 128 and 64", unsafe.Sizeof(Conn{}), unsafe.Offsetof(Conn{}.Local))
	}
}

func hasPointers(typ reflect.Type) bool {
	switch typ.Kind() {
	case reflect.Struct:
		for i := range typ.NumField() {
			if hasPointers(typ.Field(i).Type) {
				return true
			}
		}
		return false
	case reflect.Array:
		return hasPointers(typ.Elem())
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint,
		reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr, reflect.Float32,
		reflect.Float64:
		return false
	default:
		return true
	}
}
