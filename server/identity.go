package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/user"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Caller is who made a request. Local callers are identified by the
// kernel (SO_PEERCRED on the Unix socket); TCP callers (TLS only) by a
// node's client certificate or a bearer token: a user token makes them
// that user, a join token may only join a node.
type Caller struct {
	UID    uint32
	GID    uint32
	User   string
	Groups []uint32
	// Admin callers may act on every job and on nodes.
	Admin bool
	// Remote is the peer's address ("unix" for the socket).
	Remote string
	// Node is set for a node daemon that presented its client
	// certificate (CN=node name); such a caller may use only the node
	// endpoints, for its own node.
	Node string
	// Join is set for a caller with a join token: it may only join.
	Join bool
}

// noUID is the uid of callers that are not users (nodes, join tokens):
// (uid_t)-1, which no job or file belongs to.
const noUID = ^uint32(0)

type callerKey struct{}

// peerCredContext is the http.Server ConnContext hook: it reads the peer's
// credentials once per connection.
func peerCredContext(ctx context.Context, c net.Conn) context.Context {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return ctx
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return ctx
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || credErr != nil {
		return ctx
	}
	return context.WithValue(ctx, callerKey{}, lookupCaller(uint32(cred.Uid), uint32(cred.Gid)))
}

// lookupCaller fills in the user name and supplementary groups of uid from
// the host's user database. A uid the database does not know still gets a
// caller, named by number, with only its primary group.
func lookupCaller(uid, gid uint32) Caller {
	c := Caller{UID: uid, GID: gid, User: strconv.FormatUint(uint64(uid), 10), Groups: []uint32{gid}, Admin: uid == 0, Remote: "unix"}
	u, err := user.LookupId(c.User)
	if err != nil {
		return c
	}
	if uc, err := lookupUser(u); err == nil {
		uc.Remote = c.Remote
		return uc
	}
	return c
}

// lookupUser makes a caller of a user of the host's database, with its
// primary and supplementary groups.
func lookupUser(u *user.User) (Caller, error) {
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return Caller{}, fmt.Errorf("user %s: uid %q: not a number", u.Username, u.Uid)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return Caller{}, fmt.Errorf("user %s: gid %q: not a number", u.Username, u.Gid)
	}
	c := Caller{UID: uint32(uid), GID: uint32(gid), User: u.Username, Groups: []uint32{uint32(gid)}, Admin: uid == 0}
	if ids, err := u.GroupIds(); err == nil {
		c.Groups = c.Groups[:0]
		for _, s := range ids {
			if g, err := strconv.ParseUint(s, 10, 32); err == nil {
				c.Groups = append(c.Groups, uint32(g))
			}
		}
	}
	return c, nil
}

// authenticate returns the caller of r: a local caller by its peer
// credentials; a TCP (TLS) caller by its verified node certificate or its
// bearer token. Members of the admin group are admins as root is.
func (s *Server) authenticate(r *http.Request) (Caller, error) {
	c, err := s.identify(r)
	if err != nil {
		return c, err
	}
	if !c.Admin && s.adminGID != nil && c.Node == "" && !c.Join && slices.Contains(c.Groups, *s.adminGID) {
		c.Admin = true
	}
	return c, nil
}

func (s *Server) identify(r *http.Request) (Caller, error) {
	if c, ok := r.Context().Value(callerKey{}).(Caller); ok {
		return c, nil
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		leaf := r.TLS.VerifiedChains[0][0]
		if !slices.Contains(leaf.Subject.Organization, nodeOrg) || !nodeName.MatchString(leaf.Subject.CommonName) {
			return Caller{}, fmt.Errorf("unauthenticated: certificate %q is not a node certificate", leaf.Subject)
		}
		name := leaf.Subject.CommonName
		return Caller{User: "node:" + name, UID: noUID, GID: noUID, Node: name, Remote: r.RemoteAddr}, nil
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && tok != "" {
		return s.tokenCaller(r, strings.TrimSpace(tok))
	}
	return Caller{}, errors.New("unauthenticated: TCP callers must send a token (Authorization: Bearer; see gantry token create) or a node certificate")
}

// uidOf looks up a user name (or a numeric uid) in the host's user
// database.
func uidOf(name string) (uint32, error) {
	if n, err := strconv.ParseUint(name, 10, 32); err == nil {
		return uint32(n), nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return 0, fmt.Errorf("user %q: no such user", name)
	}
	n, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("user %q: uid %q: %w", name, u.Uid, err)
	}
	return uint32(n), nil
}
