package header

import (
	"bytes"
	"go/format"
	"os"
	"path/filepath"
	"testing"
)

// TestFormatting fails when a file in this package is not gofmt-clean.
func TestFormatting(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		formatted, err := format.Source(src)
		if err != nil {
			t.Fatalf("format %s: %v", name, err)
		}
		if !bytes.Equal(src, formatted) {
			t.Errorf("%s is not gofmt-clean", name)
		}
	}
}
