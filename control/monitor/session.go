package monitor

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

const (
	sessionCookie = "fastlvs_session"
	// loginCookie carries the login form's CSRF token before there is a session.
	loginCookie = "fastlvs_login"
	csrfHeader  = "X-CSRF-Token"
	csrfField   = "csrf"

	// sessionIdle ends a session nobody used for this long; the live stream
	// counts as use, so an open page stays logged in up to sessionMax.
	sessionIdle = 30 * time.Minute
	sessionMax  = 12 * time.Hour

	// A source address gets loginFailures failed logins per loginWindow.
	loginFailures = 5
	loginWindow   = time.Minute
)

// session is one logged-in browser.
type session struct {
	user     string
	role     Role
	csrf     string
	started  time.Time
	lastSeen time.Time
}

// sessions are kept in memory: a restart logs everyone out.
type sessions struct {
	mu   sync.Mutex
	byID map[string]*session
	now  func() time.Time
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{byID: map[string]*session{}, now: now}
}

// randomToken is 256 random bits, URL-safe.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *sessions) start(user string, role Role) (id string, sess *session) {
	now := s.now()
	id = randomToken()
	sess = &session{user: user, role: role, csrf: randomToken(), started: now, lastSeen: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropExpiredLocked(now)
	s.byID[id] = sess
	return id, sess
}

// get returns the live session of a request, refreshing its idle timer.
func (s *sessions) get(r *http.Request) (string, *session) {
	cookie, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", nil
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.byID[cookie.Value]
	if !ok {
		return "", nil
	}
	if sess.expired(now) {
		delete(s.byID, cookie.Value)
		return "", nil
	}
	sess.lastSeen = now
	copied := *sess
	return cookie.Value, &copied
}

func (s *sessions) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byID, id)
}

func (s *session) expired(now time.Time) bool {
	return now.Sub(s.lastSeen) > sessionIdle || now.Sub(s.started) > sessionMax
}

func (s *sessions) dropExpiredLocked(now time.Time) {
	for id, sess := range s.byID {
		if sess.expired(now) {
			delete(s.byID, id)
		}
	}
}

// sameToken compares two tokens in constant time; empty never matches.
func sameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// secureCookie is how every cookie of the monitor is set.
func secureCookie(name, value string, maxAge time.Duration) *http.Cookie {
	return &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: int(maxAge / time.Second),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	}
}

// loginLimiter counts failed logins per source address.
type loginLimiter struct {
	mu       sync.Mutex
	failures map[string][]time.Time
	now      func() time.Time
}

func newLoginLimiter(now func() time.Time) *loginLimiter {
	return &loginLimiter{failures: map[string][]time.Time{}, now: now}
}

// blocked says whether source has used up its failures, and for how long.
func (l *loginLimiter) blocked(source string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	recent := l.recentLocked(source, now)
	if len(recent) < loginFailures {
		return false, 0
	}
	return true, recent[0].Add(loginWindow).Sub(now)
}

func (l *loginLimiter) fail(source string) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures[source] = append(l.recentLocked(source, now), now)
	if len(l.failures) > 10000 { // bound the memory an address scan can take
		for addr := range l.failures {
			if len(l.recentLocked(addr, now)) == 0 {
				delete(l.failures, addr)
			}
		}
	}
}

// recentLocked drops source's failures older than the window.
func (l *loginLimiter) recentLocked(source string, now time.Time) []time.Time {
	times := l.failures[source]
	i := 0
	for i < len(times) && now.Sub(times[i]) >= loginWindow {
		i++
	}
	times = times[i:]
	if len(times) == 0 {
		delete(l.failures, source)
		return nil
	}
	l.failures[source] = times
	return times
}
