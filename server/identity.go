package server

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"os/user"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Caller is who made a request. Local callers are identified by the
// kernel (SO_PEERCRED on the Unix socket); TCP callers by the cluster
// token, which makes them act as root.
type Caller struct {
	UID    uint32
	GID    uint32
	User   string
	Groups []uint32
	// Admin callers may act on every job and on nodes.
	Admin bool
	// Remote is the peer's address ("unix" for the socket).
	Remote string
}

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
	c.User = u.Username
	if g, err := strconv.ParseUint(u.Gid, 10, 32); err == nil {
		c.GID = uint32(g)
	}
	if ids, err := u.GroupIds(); err == nil {
		c.Groups = c.Groups[:0]
		for _, s := range ids {
			if g, err := strconv.ParseUint(s, 10, 32); err == nil {
				c.Groups = append(c.Groups, uint32(g))
			}
		}
	}
	return c
}

// authenticate returns the caller of r, or false when r carries no
// identity: a TCP request without the cluster token.
func (s *Server) authenticate(r *http.Request) (Caller, bool) {
	if c, ok := r.Context().Value(callerKey{}).(Caller); ok {
		return c, true
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if ok && s.token != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.token)) == 1 {
		return Caller{User: "root", Admin: true, Groups: []uint32{0}, Remote: r.RemoteAddr}, true
	}
	return Caller{}, false
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
