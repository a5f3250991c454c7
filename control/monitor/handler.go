package monitor

import (
	"encoding/json"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Handler routes the monitor's pages and endpoints. Every POST carries a
// CSRF token: the login form one bound to a pre-login cookie, the others
// the session's, in the X-CSRF-Token header.
func (m *Monitor) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, name := range []string{"app.js", "app.css"} {
		mux.HandleFunc("GET /static/"+name, func(w http.ResponseWriter, r *http.Request) { http.ServeFileFS(w, r, staticFiles, name) })
	}
	mux.HandleFunc("GET /login", m.loginPage)
	mux.HandleFunc("POST /login", m.login)
	mux.HandleFunc("GET /{$}", m.indexPage)
	mux.HandleFunc("POST /logout", m.withSession(m.logout))
	mux.HandleFunc("GET /api/session", m.withSession(m.sessionInfo))
	mux.HandleFunc("GET /api/state", m.withSession(m.state))
	mux.HandleFunc("GET /api/events", m.withSession(m.events))
	mux.HandleFunc("POST /api/real-server", m.withSession(m.adminOnly(m.changeRealServer)))
	return securityHeaders(mux)
}

// securityHeaders keep the page in its own origin: no inline script, no
// framing, no referrer, HTTPS remembered.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Strict-Transport-Security", "max-age=31536000")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

type sessionHandler func(w http.ResponseWriter, r *http.Request, id string, s *session)

// withSession answers 401 without a live session and 403 to a POST whose
// CSRF token is not the session's.
func (m *Monitor) withSession(next sessionHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, s := m.sessions.get(r)
		if s == nil {
			http.Error(w, "not logged in", http.StatusUnauthorized)
			return
		}
		role, ok := m.users.role(s.user)
		if !ok {
			m.sessions.end(id)
			http.Error(w, "user "+s.user+" no longer exists", http.StatusUnauthorized)
			return
		}
		s.role = role
		if r.Method == http.MethodPost && !sameToken(r.Header.Get(csrfHeader), s.csrf) {
			http.Error(w, "missing or wrong CSRF token", http.StatusForbidden)
			return
		}
		next(w, r, id, s)
	}
}

// adminOnly refuses viewers on the server, whatever the page shows them.
func (m *Monitor) adminOnly(next sessionHandler) sessionHandler {
	return func(w http.ResponseWriter, r *http.Request, id string, s *session) {
		if s.role != RoleAdmin {
			http.Error(w, "user "+s.user+" is a viewer and may not change anything", http.StatusForbidden)
			return
		}
		next(w, r, id, s)
	}
}

var loginTemplate = template.Must(template.ParseFS(assets, "assets/login.html"))

type loginView struct {
	CSRF, Error, User string
}

// loginPage sets a fresh pre-login token in a cookie and in the form.
func (m *Monitor) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, s := m.sessions.get(r); s != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	m.renderLogin(w, http.StatusOK, loginView{})
}

func (m *Monitor) renderLogin(w http.ResponseWriter, status int, view loginView) {
	view.CSRF = randomToken()
	http.SetCookie(w, secureCookie(loginCookie, view.CSRF, 10*time.Minute))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = loginTemplate.Execute(w, view)
}

// login checks the form's token against the pre-login cookie, the source's
// failure budget, then the password.
func (m *Monitor) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	cookie, err := r.Cookie(loginCookie)
	if err != nil || !sameToken(r.PostForm.Get(csrfField), cookie.Value) {
		m.renderLogin(w, http.StatusForbidden, loginView{Error: "The login form expired; try again."})
		return
	}
	source := sourceAddress(r)
	name := r.PostForm.Get("user")
	if blocked, wait := m.limiter.blocked(source); blocked {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)+1))
		m.renderLogin(w, http.StatusTooManyRequests, loginView{User: name, Error: fmt.Sprintf("Too many failed logins; wait %s.", wait.Round(time.Second))})
		return
	}
	role, err := m.users.authenticate(name, r.PostForm.Get("password"))
	if err != nil {
		m.limiter.fail(source)
		slog.Warn("monitor login refused", "user", name, "source", source)
		m.renderLogin(w, http.StatusUnauthorized, loginView{User: name, Error: "Wrong user name or password."})
		return
	}
	id, _ := m.sessions.start(name, role)
	slog.Info("monitor login", "user", name, "role", role, "source", source)
	http.SetCookie(w, secureCookie(sessionCookie, id, sessionMax))
	http.SetCookie(w, secureCookie(loginCookie, "", -1))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (m *Monitor) logout(w http.ResponseWriter, r *http.Request, id string, s *session) {
	m.sessions.end(id)
	slog.Info("monitor logout", "user", s.user)
	http.SetCookie(w, secureCookie(sessionCookie, "", -1))
	w.WriteHeader(http.StatusNoContent)
}

func (m *Monitor) indexPage(w http.ResponseWriter, r *http.Request) {
	if _, s := m.sessions.get(r); s == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	http.ServeFileFS(w, r, staticFiles, "index.html")
}

// sessionInfo tells the page who is logged in and the token its POSTs carry.
func (m *Monitor) sessionInfo(w http.ResponseWriter, _ *http.Request, _ string, s *session) {
	writeJSON(w, http.StatusOK, map[string]string{"user": s.user, "role": string(s.role), "csrf": s.csrf})
}

func sourceAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
