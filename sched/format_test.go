package sched

import (
	"bytes"
	"go/format"
	"os"
	"path/filepath"
	"testing"
)

func TestGofmt(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		source, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		formatted, err := format.Source(source)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(source, formatted) {
			t.Errorf("%s is not gofmt-clean", name)
		}
	}
}
