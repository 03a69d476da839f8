package store

import (
	"context"
	"time"
)

// Kinds of identity.
const (
	// KindUser is a person, who logs in with a password.
	KindUser = "user"
	// KindRobot is a robot (CI) token: a high-entropy secret.
	KindRobot = "robot"
)

// Identity is who may log in to the registry, and what it may do.
type Identity struct {
	// Name is the login name: a user's name, or a robot token's id.
	Name string
	// Kind is KindUser or KindRobot.
	Kind string
	// Secret is the bcrypt hash of a user's password, or the hex SHA-256
	// of a robot token's secret. Never the password or secret itself.
	Secret string
	// Grants are what the identity may do.
	Grants []Grant
	// Created is when the identity was made.
	Created time.Time
	// Expires is when a robot token stops working; zero: never.
	Expires time.Time
}

// Grant allows actions on the repositories whose names match Pattern.
type Grant struct {
	// Pattern is a repository name pattern: a name, or a prefix ending
	// in "/*" ("team/*"), or "*" for every repository.
	Pattern string
	// Actions are "pull", "push" and "delete".
	Actions []string
}

// Identities holds the registry's users and robot tokens. Every read sees
// every write that finished before it started. Times are kept to the
// second; an empty name is never found (and cannot be put). Stores check
// nothing else of a name: the admin commands (cmd/pier) check names with
// auth.CheckName before they put an identity.
type Identities interface {
	// PutIdentity creates or replaces the identity named id.Name.
	PutIdentity(ctx context.Context, id Identity) error
	// Identity returns the identity called name, or ErrNotFound.
	Identity(ctx context.Context, name string) (Identity, error)
	// DeleteIdentity removes the identity called name, or returns
	// ErrNotFound.
	DeleteIdentity(ctx context.Context, name string) error
	// ListIdentities returns every identity, in byte order of name.
	ListIdentities(ctx context.Context) ([]Identity, error)
}
