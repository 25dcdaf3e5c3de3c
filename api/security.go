package api

import "time"

// AuditRecord is one state-changing API call (any method but GET and
// HEAD), as GET /v1/audit and gantry audit report it.
type AuditRecord struct {
	ID   int64     `json:"id"`
	Time time.Time `json:"time"`
	// User is the caller's name ("" for a caller that did not
	// authenticate); node daemons with a certificate are "node:NAME".
	User  string `json:"user"`
	UID   uint32 `json:"uid"`
	Admin bool   `json:"admin"`
	// Remote is the peer's address, or "unix" for the local socket.
	Remote string `json:"remote"`
	Method string `json:"method"`
	Path   string `json:"path"`
	// Object is what the call acted on: "job 42", "node n1", "queue gpu",
	// "cron 3", "token 9f2c..." (empty when unknown).
	Object string `json:"object,omitempty"`
	// Status is the HTTP status of the answer; Error its error text.
	Status int    `json:"status"`
	Error  string `json:"error,omitempty"`
}

// AuditList answers GET /v1/audit.
type AuditList struct {
	Records []AuditRecord `json:"records"`
}

// Token kinds.
const (
	// TokenUser authenticates a remote CLI or script as its user.
	TokenUser = "user"
	// TokenJoin lets a node daemon obtain its client certificate.
	TokenJoin = "join"
)

// TokenRequest asks POST /v1/tokens for a new token.
type TokenRequest struct {
	// Kind is TokenUser (default) or TokenJoin (admins only).
	Kind string `json:"kind,omitempty"`
	// User is whom a user token acts as (default: the caller; admins may
	// name anyone the server's host knows).
	User string `json:"user,omitempty"`
	// TTLSeconds limits the token's life (0: no expiry).
	TTLSeconds  int64  `json:"ttl_seconds,omitempty"`
	Description string `json:"description,omitempty"`
}

// Token describes a token; the secret itself is shown only once, in
// TokenCreated.
type Token struct {
	ID          string     `json:"id"`
	Kind        string     `json:"kind"`
	User        string     `json:"user,omitempty"`
	Description string     `json:"description,omitempty"`
	CreatedBy   string     `json:"created_by"`
	Created     time.Time  `json:"created"`
	Expires     *time.Time `json:"expires,omitempty"`
	Revoked     *time.Time `json:"revoked,omitempty"`
	LastUsed    *time.Time `json:"last_used,omitempty"`
}

// Valid reports whether t may be used at now.
func (t Token) Valid(now time.Time) bool {
	return t.Revoked == nil && (t.Expires == nil || now.Before(*t.Expires))
}

// TokenCreated answers POST /v1/tokens: the token and, once, its secret.
type TokenCreated struct {
	Token
	Secret string `json:"secret"`
}

// TokenList answers GET /v1/tokens.
type TokenList struct {
	Tokens []Token `json:"tokens"`
}

// JoinRequest is a node's first contact over TCP (POST /v1/nodes/join,
// with a join token): a certificate signing request for its client
// certificate.
type JoinRequest struct {
	Name string `json:"name"`
	// CSR is a PEM "CERTIFICATE REQUEST".
	CSR string `json:"csr"`
}

// JoinResponse carries the node's certificate and the cluster CA, PEM.
type JoinResponse struct {
	Certificate string `json:"certificate"`
	CA          string `json:"ca"`
}
