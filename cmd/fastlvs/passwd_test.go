package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPasswdAddsAUserFromStdin(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users")
	var stdout, stderr bytes.Buffer
	code := runPasswd([]string{"--users-file", users, "--role", "admin", "ann"}, strings.NewReader("s3cret pass\n"), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	text, err := os.ReadFile(users)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(text), "ann:$2") || !strings.HasSuffix(string(text), ":admin\n") || strings.Contains(string(text), "s3cret") {
		t.Fatalf("users file %q, want ann:<bcrypt hash>:admin", text)
	}
	for _, args := range [][]string{
		{"--users-file", users, "--role", "root", "eve"},
		{"--users-file", users, "bad:name"},
	} {
		stderr.Reset()
		if code := runPasswd(args, strings.NewReader("pw\n"), &stdout, &stderr); code != 1 || stderr.Len() == 0 {
			t.Errorf("%v: exit %d (%q), want 1 with a message", args, code, stderr.String())
		}
	}
	if code := runPasswd([]string{"--users-file", users, "ann"}, strings.NewReader("\n"), &stdout, &stderr); code != 1 {
		t.Errorf("an empty password: exit %d, want 1", code)
	}
}
