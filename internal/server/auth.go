package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/pier-registry/pier/internal/auth"
	"github.com/pier-registry/pier/internal/config"
	"github.com/pier-registry/pier/internal/httpapi"
	"github.com/pier-registry/pier/internal/randid"
	"github.com/pier-registry/pier/internal/store"
	"github.com/pier-registry/pier/internal/store/awsstore"
)

// newAuth builds the access control that cfg asks for, over the
// identities ids; nil when cfg.Auth is "none".
func newAuth(ctx context.Context, cfg config.Config, ids store.Identities, log *slog.Logger) (*httpapi.Auth, error) {
	if cfg.Auth == "none" {
		log.Warn("auth is off: anyone who reaches this registry may pull, push and delete", "auth", "none")
		return nil, nil
	}
	for _, p := range cfg.PublicPatterns() {
		if err := auth.CheckPattern(p); err != nil {
			return nil, fmt.Errorf("PIER_PUBLIC: %w", err)
		}
	}
	key, err := signingKey(ctx, cfg)
	if err != nil {
		return nil, err
	}
	signer, err := auth.NewSigner(key, "pier")
	if err != nil {
		return nil, err
	}
	log.Info("auth", "auth", "token", "public", cfg.PublicPatterns(), "token_ttl", cfg.TokenTTL.String())
	return &httpapi.Auth{
		Verifier: auth.NewVerifier(ids, auth.VerifierOptions{}),
		Signer:   signer,
		Policy:   auth.Policy{Public: cfg.PublicPatterns()},
		Limiter:  auth.NewLimiter(auth.LimiterOptions{}),
		TokenTTL: cfg.TokenTTL,
	}, nil
}

// signingKey loads the token signing key: from Secrets Manager
// (PIER_AUTH_SECRET), or from a file (PIER_AUTH_KEY_FILE, by default
// auth.key in the local backend's data directory), made with 32 random
// bytes when it does not exist.
func signingKey(ctx context.Context, cfg config.Config) ([]byte, error) {
	if cfg.AuthSecret != "" {
		key, err := awsstore.ReadSecret(ctx, cfg.LoadAWS, cfg.AuthSecret)
		if err != nil {
			return nil, fmt.Errorf("token signing key: %w", err)
		}
		return key, nil
	}
	file := cfg.AuthKeyFile
	if file == "" {
		if cfg.Backend != "local" {
			return nil, errors.New("auth needs a token signing key: PIER_AUTH_SECRET (Secrets Manager) or PIER_AUTH_KEY_FILE")
		}
		file = filepath.Join(cfg.DataDir, "auth.key")
	}
	key, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		key = randid.Bytes(32)
		if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
			return nil, fmt.Errorf("token signing key: %w", err)
		}
		// Written whole to a file of its own, then linked to its name,
		// which fails when the name exists: processes that start together
		// (the execution environments of make local-api) all read the key
		// of the one that linked first, never a file half written.
		f, err := os.CreateTemp(filepath.Dir(file), ".auth-key-*")
		if err != nil {
			return nil, fmt.Errorf("token signing key: %w", err)
		}
		defer os.Remove(f.Name())
		_, err = f.Write(key)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Link(f.Name(), file)
		}
		if errors.Is(err, fs.ErrExist) {
			return signingKey(ctx, cfg) // made meanwhile by another process
		}
		if err != nil {
			return nil, fmt.Errorf("token signing key: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("token signing key: %w", err)
	}
	return key, nil
}
