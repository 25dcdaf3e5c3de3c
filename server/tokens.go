package server

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/store"
)

// Tokens are PREFIX ID _ SECRET: the prefix says the kind (gtu_ user,
// gtj_ join), the ID (12 hex digits) names the token in gantry token ls
// and revoke, and the store keeps only the sha256 of the whole string.
const (
	userPrefix = "gtu_"
	joinPrefix = "gtj_"
)

// joinTTL is the default life of a join token made by gantry token
// create --node.
const joinTTL = 24 * time.Hour

func newSecret(prefix string) string {
	id := make([]byte, 6)
	secret := make([]byte, 24)
	rand.Read(id)
	rand.Read(secret)
	return prefix + hex.EncodeToString(id) + "_" + hex.EncodeToString(secret)
}

func tokenID(tok string) string {
	rest := strings.TrimPrefix(strings.TrimPrefix(tok, userPrefix), joinPrefix)
	id, _, _ := strings.Cut(rest, "_")
	return id
}

func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// errBadToken is the one answer for every unusable token, so that a
// caller learns nothing about which tokens exist.
var errBadToken = errors.New("unauthenticated: the token is unknown, revoked or expired")

// tokenCaller authenticates a bearer token: a user token makes the caller
// that user, resolved in the host's user database like a local caller; a
// join token (stored, or the standing one in STATE/join-token) may only
// join a node.
func (s *Server) tokenCaller(r *http.Request, tok string) (Caller, error) {
	remote := r.RemoteAddr
	if strings.HasPrefix(tok, joinPrefix) {
		if file, err := readSecretFile(filepath.Join(s.cfg.StateDir, JoinTokenFile)); err == nil && file != "" &&
			subtle.ConstantTimeCompare([]byte(file), []byte(tok)) == 1 {
			return Caller{User: "join-token", UID: noUID, GID: noUID, Join: true, Remote: remote}, nil
		}
	}
	t, err := s.store.TokenByHash(r.Context(), hashToken(tok))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return Caller{}, errBadToken
		}
		return Caller{}, err
	}
	now := s.now()
	if !t.Valid(now) {
		return Caller{}, errBadToken
	}
	if err := s.store.TouchToken(r.Context(), t.ID, now); err != nil {
		s.log.Warn("record token use", "token", t.ID, "err", err)
	}
	switch t.Kind {
	case api.TokenJoin:
		return Caller{User: "join-token:" + t.ID, UID: noUID, GID: noUID, Join: true, Remote: remote}, nil
	case api.TokenUser:
		u, err := user.Lookup(t.User)
		if err != nil {
			return Caller{}, fmt.Errorf("unauthenticated: token %s: user %s: %v", t.ID, t.User, err)
		}
		c, err := lookupUser(u)
		if err != nil {
			return Caller{}, fmt.Errorf("unauthenticated: token %s: %v", t.ID, err)
		}
		c.Remote = remote
		return c, nil
	}
	return Caller{}, errBadToken
}

// handleCreateToken makes a token. Users make user tokens for themselves,
// over the Unix socket only (a stolen token cannot mint more); admins
// make them for anyone and make join tokens, from anywhere.
func (s *Server) handleCreateToken(w http.ResponseWriter, r *http.Request, c Caller) {
	var req api.TokenRequest
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if req.Kind == "" {
		req.Kind = api.TokenUser
	}
	switch {
	case req.Kind != api.TokenUser && req.Kind != api.TokenJoin:
		writeError(w, http.StatusBadRequest, fmt.Errorf("token kind %q: want %s or %s", req.Kind, api.TokenUser, api.TokenJoin))
		return
	case req.TTLSeconds < 0:
		writeError(w, http.StatusBadRequest, fmt.Errorf("token ttl %ds: must not be negative", req.TTLSeconds))
		return
	case len(req.Description) > 256 || strings.ContainsAny(req.Description, "\x00\n"):
		writeError(w, http.StatusBadRequest, errors.New("token description: at most 256 bytes on one line"))
		return
	case !c.Admin && c.Remote != "unix":
		writeError(w, http.StatusForbidden, fmt.Errorf("user %s may create tokens only over the local socket", c.User))
		return
	case req.Kind == api.TokenJoin && !c.Admin:
		writeError(w, http.StatusForbidden, fmt.Errorf("user %s may not create join tokens: admins only", c.User))
		return
	}
	now := s.now().UTC()
	t := api.Token{Kind: req.Kind, Description: req.Description, CreatedBy: c.User, Created: now}
	prefix := joinPrefix
	if req.Kind == api.TokenUser {
		prefix = userPrefix
		t.User = req.User
		if t.User == "" {
			t.User = c.User
		}
		if t.User != c.User && !c.Admin {
			writeError(w, http.StatusForbidden, fmt.Errorf("user %s may not create a token for %s: admins only", c.User, t.User))
			return
		}
		if _, err := user.Lookup(t.User); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("token for %s: no such user on the server's host", t.User))
			return
		}
	} else if req.User != "" {
		writeError(w, http.StatusBadRequest, errors.New("join tokens are for nodes: give no user"))
		return
	}
	ttl := time.Duration(req.TTLSeconds) * time.Second
	if ttl == 0 && req.Kind == api.TokenJoin {
		ttl = joinTTL
	}
	if ttl > 0 {
		exp := now.Add(ttl)
		t.Expires = &exp
	}
	secret := newSecret(prefix)
	t.ID = tokenID(secret)
	if err := s.store.AddToken(r.Context(), t, hashToken(secret)); err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	s.log.Info("token created", "token", t.ID, "kind", t.Kind, "user", t.User, "by", c.User, "expires", t.Expires)
	writeJSON(w, http.StatusCreated, api.TokenCreated{Token: t, Secret: secret})
}

// handleListTokens lists tokens: an admin's ?user=all (default) or one
// user's, a user's own (made for or by them).
func (s *Server) handleListTokens(w http.ResponseWriter, r *http.Request, c Caller) {
	who := r.URL.Query().Get("user")
	switch {
	case who == "all":
		who = ""
	case who == "" && !c.Admin:
		who = c.User
	}
	if !c.Admin && who != c.User {
		writeError(w, http.StatusForbidden, fmt.Errorf("user %s may list only their own tokens", c.User))
		return
	}
	ts, err := s.store.Tokens(r.Context(), who)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	if ts == nil {
		ts = []api.Token{}
	}
	writeJSON(w, http.StatusOK, api.TokenList{Tokens: ts})
}

// handleRevokeToken revokes a token: its user's, its creator's or an
// admin's call.
func (s *Server) handleRevokeToken(w http.ResponseWriter, r *http.Request, c Caller) {
	id := r.PathValue("id")
	t, err := s.store.Token(r.Context(), id)
	if err != nil {
		writeStoreError(w, err)
		return
	}
	if !c.Admin && t.User != c.User && t.CreatedBy != c.User {
		writeError(w, http.StatusForbidden, fmt.Errorf("user %s may not revoke token %s", c.User, id))
		return
	}
	if err := s.store.RevokeToken(r.Context(), id, s.now()); err != nil {
		writeStoreError(w, err)
		return
	}
	t, err = s.store.Token(r.Context(), id)
	if err != nil {
		writeStoreError(w, err)
		return
	}
	s.log.Info("token revoked", "token", id, "by", c.User)
	writeJSON(w, http.StatusOK, t)
}

// handleJoin issues a node's client certificate on its first contact:
// the caller holds a join token (or is an admin), the body names the
// node and carries a CSR; the certificate says CN=name.
func (s *Server) handleJoin(w http.ResponseWriter, r *http.Request, c Caller) {
	if !c.Join && !c.Admin {
		writeError(w, http.StatusForbidden, fmt.Errorf("user %s may not join nodes: give a join token", c.User))
		return
	}
	if s.pki == nil {
		writeError(w, http.StatusConflict, errors.New("this server has no cluster CA: run gantry server init"))
		return
	}
	var req api.JoinRequest
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if !nodeName.MatchString(req.Name) {
		writeError(w, http.StatusBadRequest, fmt.Errorf("node name %q: want letters, digits, '.', '_' or '-', at most 63", req.Name))
		return
	}
	cert, err := signNodeCSR(s.pki.ca, s.pki.caKey, req.Name, []byte(req.CSR), s.now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	s.log.Info("node joined: certificate issued", "node", req.Name, "by", c.User, "remote", c.Remote)
	writeJSON(w, http.StatusOK, api.JoinResponse{Certificate: string(cert), CA: string(s.pki.caPEM)})
}
