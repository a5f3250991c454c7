package monitor

// The users file, htpasswd-like: one user a line,
//
//	name:bcrypt-hash:role
//
// where role is admin (may change weights) or viewer (sees only). Blank lines
// and lines starting with # are ignored. `fastlvs passwd` writes it; the
// monitor rereads it when it changes, so a new password needs no restart.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Role is what a user may do.
type Role string

const (
	RoleAdmin  Role = "admin"
	RoleViewer Role = "viewer"
)

// bcryptCost is the work factor of new hashes (~50 ms on the director).
const bcryptCost = 10

var userNamePattern = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

type user struct {
	hash []byte
	role Role
}

// parseUsers reads a users file's text; errors name the line.
func parseUsers(text []byte) (map[string]user, error) {
	users := map[string]user{}
	scanner := bufio.NewScanner(bytes.NewReader(text))
	for n := 1; scanner.Scan(); n++ {
		line := strings.TrimSpace(scanner.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, rest, ok1 := strings.Cut(line, ":")
		hash, role, ok2 := strings.Cut(rest, ":")
		switch {
		case !ok1 || !ok2:
			return nil, fmt.Errorf("line %d: want name:bcrypt-hash:role", n)
		case !userNamePattern.MatchString(name):
			return nil, fmt.Errorf("line %d: bad user name %q", n, name)
		case Role(role) != RoleAdmin && Role(role) != RoleViewer:
			return nil, fmt.Errorf("line %d: role %q is not admin or viewer", n, role)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("line %d: password hash of %s is not bcrypt (%v)", n, name, err)
		}
		users[name] = user{hash: []byte(hash), role: Role(role)}
	}
	return users, scanner.Err()
}

// userFile is the users file, reread when its size or time changes.
type userFile struct {
	path string

	mu      sync.Mutex
	users   map[string]user
	modTime time.Time
	size    int64
}

func loadUserFile(path string) (*userFile, error) {
	f := &userFile{path: path}
	if err := f.refresh(); err != nil {
		return nil, err
	}
	return f, nil
}

// refresh rereads the file if it changed; a file that no longer parses
// keeps the users last read.
func (f *userFile) refresh() error {
	info, err := os.Stat(f.path)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.users != nil && info.ModTime().Equal(f.modTime) && info.Size() == f.size {
		return nil
	}
	text, err := os.ReadFile(f.path)
	if err != nil {
		return err
	}
	users, err := parseUsers(text)
	if err != nil {
		return fmt.Errorf("%s: %w", f.path, err)
	}
	f.users, f.modTime, f.size = users, info.ModTime(), info.Size()
	return nil
}

// errBadLogin is the one answer to a wrong name or a wrong password.
var errBadLogin = errors.New("wrong user name or password")

// authenticate checks a password. An unknown user costs a bcrypt comparison
// too, so the answer's timing does not tell which names exist.
func (f *userFile) authenticate(name, password string) (Role, error) {
	_ = f.refresh() // on error the users last read stay in force
	f.mu.Lock()
	u, ok := f.users[name]
	f.mu.Unlock()
	if !ok {
		u.hash = dummyHash
	}
	if err := bcrypt.CompareHashAndPassword(u.hash, []byte(password)); err != nil || !ok {
		return "", errBadLogin
	}
	return u.role, nil
}

// role is a user's role now, false when the user is gone: a session ends
// when its user is removed from the file and follows a changed role.
func (f *userFile) role(name string) (Role, bool) {
	_ = f.refresh()
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[name]
	return u.role, ok
}

var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("no such user"), bcryptCost)

// SetUser adds name to the users file at path with role and password, or
// replaces its hash and role; the file is created (mode 0600) if missing and
// replaced atomically.
func SetUser(path, name string, role Role, password string) error {
	if !userNamePattern.MatchString(name) {
		return fmt.Errorf("bad user name %q (letters, digits and ._@- only)", name)
	}
	if role != RoleAdmin && role != RoleViewer {
		return fmt.Errorf("role %q is not admin or viewer", role)
	}
	if password == "" {
		return errors.New("empty password")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	if err != nil {
		return err
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if _, err := parseUsers(old); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	entry := name + ":" + string(hash) + ":" + string(role)
	var out []string
	replaced := false
	for line := range strings.Lines(string(old)) {
		line = strings.TrimRight(line, "\r\n")
		if before, _, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && before == name && !strings.HasPrefix(line, "#") {
			line, replaced = entry, true
		}
		out = append(out, line)
	}
	if !replaced {
		out = append(out, entry)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".users-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(strings.Join(out, "\n") + "\n"); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
