package main

import (
	"github.com/stint-io/stint"
	"github.com/stint-io/stint/provider/exec"
	"github.com/stint-io/stint/provider/postgres"
	"github.com/stint-io/stint/provider/ssh"
	"github.com/stint-io/stint/provider/token"
)

// builtinProviders is the one visible list of the provider types Stint
// ships. A new provider is added here and nowhere else.
func builtinProviders() (map[string]stint.ProviderFactory, *token.Factory) {
	tok := token.NewFactory()
	fs := []stint.ProviderFactory{
		tok,
		exec.NewFactory(),
		postgres.NewFactory(),
		ssh.NewFactory(),
	}
	m := make(map[string]stint.ProviderFactory, len(fs))
	for _, f := range fs {
		m[f.Type()] = f
	}
	return m, tok
}
