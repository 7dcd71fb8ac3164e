package config

import (
	"encoding/hex"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/stint-io/stint"
	"github.com/stint-io/stint/internal/policy"
)

// Parse parses and validates the configuration in data; filename is used in
// problems. factories are the known provider types, each of which validates
// its resources' configuration. On any problem it returns a *Error (code
// EINVALID) listing every problem; no partial Config is returned.
func Parse(filename string, data []byte, factories map[string]stint.ProviderFactory, opts Options) (*Config, error) {
	opts = opts.withDefaults()
	p := &parser{file: filename, opts: opts, secret: map[*yaml.Node]bool{}, secretPath: map[string]bool{}, flagged: map[string]bool{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		p.probs = append(p.probs, Problem{File: filename, Line: yamlErrorLine(err), Message: yamlErrorMessage(err)})
		return nil, newError(p.probs)
	}
	p.expand(&doc, "")
	root := resolve(&doc)
	if root == nil || root.Kind == 0 {
		root = &yaml.Node{Kind: yaml.MappingNode, Line: 1}
	}
	top := p.fields(root, "", "server", "storage", "auth", "resources", "events", "notify", "policies")
	c := &Config{File: filename}
	c.Server = p.server(top["server"], root)
	c.Storage = p.storage(top["storage"], root)
	c.Auth = p.auth(top["auth"])
	c.Resources, c.ResourceOrder = p.resources(top["resources"], factories, c.Server.URL)
	c.Events, c.EventOrder = p.events(top["events"])
	c.Notify = p.notify(top["notify"])
	c.Policy = p.policies(top["policies"], root, c)
	if len(p.probs) > 0 {
		return nil, newError(p.probs)
	}
	return c, nil
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

func yamlErrorLine(err error) int {
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

func yamlErrorMessage(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: ")
	s = yamlLineRE.ReplaceAllString(s, "")
	s = strings.TrimLeft(s, ": ")
	return "invalid YAML: " + s
}

func (p *parser) server(f *field, root *yaml.Node) ServerConfig {
	var s ServerConfig
	var n *yaml.Node = root
	if f != nil {
		n = f.key
	}
	fs := p.fields(valOf(f), "server", "listen", "url", "tls_cert", "tls_key")
	s.Listen, s.URL = p.str(fs["listen"]), p.str(fs["url"])
	s.TLSCert, s.TLSKey = p.str(fs["tls_cert"]), p.str(fs["tls_key"])
	if (s.TLSCert == "") != (s.TLSKey == "") {
		if s.TLSCert == "" {
			p.errorf(line(fs["tls_key"], n), "server.tls_cert", "required with tls_key")
		} else {
			p.errorf(line(fs["tls_cert"], n), "server.tls_key", "required with tls_cert")
		}
	}
	if s.Listen == "" {
		s.Listen = DefaultListen
	}
	host, port, err := net.SplitHostPort(s.Listen)
	if pn, perr := strconv.Atoi(port); err != nil || perr != nil || pn < 0 || pn > 65535 {
		p.errorf(line(fs["listen"], n), "server.listen", "must be HOST:PORT, for example 127.0.0.1:8270")
	} else if s.TLSCert == "" && !isLoopback(host) {
		p.errorf(line(fs["listen"], n), "server.listen", "plain HTTP is only allowed on a loopback address; set tls_cert and tls_key")
	}
	if s.URL == "" {
		scheme := "http"
		if s.TLSCert != "" {
			scheme = "https"
		}
		if host == "" || host == "0.0.0.0" || host == "::" || err != nil {
			host = "127.0.0.1"
		}
		s.URL = DefaultURL
		if err == nil && port != "" {
			s.URL = scheme + "://" + net.JoinHostPort(host, port)
		}
	} else if !p.validURL(s.URL, false) {
		p.errorf(fs["url"].val, "server.url", "must be an http or https URL")
	}
	s.URL = strings.TrimRight(s.URL, "/")
	return s
}

func valOf(f *field) *yaml.Node {
	if f == nil {
		return nil
	}
	return f.val
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validURL reports whether s is an absolute http(s) URL with a host;
// httpsOnly requires https except on loopback hosts.
func (p *parser) validURL(s string, httpsOnly bool) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	return !httpsOnly || u.Scheme == "https" || isLoopback(u.Hostname())
}

func (p *parser) storage(f *field, root *yaml.Node) string {
	s := p.str(f)
	if s == "" {
		if f == nil || !p.flagged["storage"] {
			if p.opts.DataDir != "" {
				return "sqlite:" + filepath.Join(p.opts.DataDir, "stint.db")
			}
			p.errorf(line(f, root), "storage", "required: sqlite:PATH or postgres://...")
		}
		return ""
	}
	switch {
	case strings.HasPrefix(s, "sqlite:"):
		if strings.TrimPrefix(s, "sqlite:") == "" {
			p.errorf(f.val, "storage", "sqlite: needs a path, for example sqlite:/var/lib/stint/stint.db")
		}
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		if u, err := url.Parse(s); err != nil || u.Host == "" {
			p.errorf(f.val, "storage", "invalid postgres URL")
		}
	default:
		p.errorf(f.val, "storage", "must start with sqlite: or postgres://")
	}
	return s
}

func (p *parser) auth(f *field) AuthConfig {
	var a AuthConfig
	fs := p.fields(valOf(f), "auth", "tokens", "oidc", "admins")
	subjects := map[string]bool{}
	hashes := map[string]bool{}
	for _, it := range p.items(fs["tokens"]) {
		tf := p.fields(it.val, it.path, "subject", "kind", "groups", "sha256")
		t := TokenConfig{Subject: p.str(tf["subject"]), Kind: p.str(tf["kind"]), Groups: p.strList(tf["groups"]), SHA256: strings.ToLower(p.str(tf["sha256"]))}
		switch {
		case t.Subject == "":
			p.errorf(line(tf["subject"], it.val), it.path+".subject", "required")
		case !policy.ValidPrincipalRef(t.Subject) || strings.HasPrefix(t.Subject, "group:"):
			p.errorf(tf["subject"].val, it.path+".subject", "must be a subject without spaces at the ends, not group:")
		case subjects[t.Subject]:
			p.errorf(tf["subject"].val, it.path+".subject", "duplicate subject %s", p.quote(resolve(tf["subject"].val)))
		}
		subjects[t.Subject] = true
		p.kind(tf["kind"], it, true)
		if b, err := hex.DecodeString(t.SHA256); err != nil || len(b) != 32 {
			p.errorf(line(tf["sha256"], it.val), it.path+".sha256", "must be 64 hex digits (the SHA-256 of the token)")
		} else if hashes[t.SHA256] {
			p.errorf(tf["sha256"].val, it.path+".sha256", "the same token is configured twice")
		}
		hashes[t.SHA256] = true
		a.Tokens = append(a.Tokens, t)
	}
	names := map[string]bool{}
	for _, it := range p.items(fs["oidc"]) {
		of := p.fields(it.val, it.path, "name", "issuer", "audience", "kind", "subject")
		o := OIDCConfig{Name: p.str(of["name"]), Issuer: p.str(of["issuer"]), Audience: p.str(of["audience"]), Kind: p.kind(of["kind"], it, false), Subject: p.str(of["subject"])}
		switch {
		case o.Name == "":
			p.errorf(line(of["name"], it.val), it.path+".name", "required")
		case !policy.ValidName(o.Name):
			p.errorf(of["name"].val, it.path+".name", "must be letters, digits, '-', '_' or '.'")
		case names[o.Name]:
			p.errorf(of["name"].val, it.path+".name", "duplicate name %q", o.Name)
		}
		names[o.Name] = true
		if !p.validURL(o.Issuer, true) {
			p.errorf(line(of["issuer"], it.val), it.path+".issuer", "must be an https URL")
		}
		if o.Audience == "" {
			p.errorf(line(of["audience"], it.val), it.path+".audience", "required")
		}
		expr, err := policy.CompileSubject(o.Subject)
		if err != nil {
			if n := valOf(of["subject"]); p.secret[resolve(n)] {
				p.errorf(n, it.path+".subject", "invalid expression")
			} else {
				p.errorf(n, it.path+".subject", "%s", stint.ErrorMessage(err))
			}
		}
		o.SubjectExpr = expr
		a.OIDC = append(a.OIDC, o)
	}
	for _, it := range p.items(fs["admins"]) {
		s := p.str(it)
		if !policy.ValidPrincipalRef(s) && !p.flagged[it.path] {
			p.errorf(it.val, it.path, "must be group:NAME or a subject")
		}
		a.Admins = append(a.Admins, s)
	}
	return a
}

// kind reads a principal kind; unset is an error when required, else workload.
func (p *parser) kind(f *field, parent *field, required bool) string {
	k := p.str(f)
	switch {
	case k == "" && !required && !p.flagged[parent.path+".kind"]:
		return stint.KindWorkload
	case k == stint.KindWorkload, k == stint.KindHuman:
		return k
	case k == "":
		p.errorf(line(f, parent.val), parent.path+".kind", "required: workload or human")
	default:
		p.errorf(f.val, parent.path+".kind", "must be workload or human, not %s", p.quote(resolve(f.val)))
	}
	return k
}
