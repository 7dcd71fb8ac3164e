package policy

import (
	"fmt"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
	"github.com/stint-io/stint"
)

// costLimit bounds the work of one evaluation, so that a pathological
// condition cannot stall the broker; exceeding it is a runtime error, which
// fails closed.
const costLimit = 100_000

// DefaultSubject is the subject expression of an OIDC issuer that sets none.
const DefaultSubject = `name + ":" + claims.sub`

// envs holds one CEL environment per kind of expression, each declaring only
// the variables that kind may use.
type envs struct {
	who, when, event, subject *cel.Env
}

func newEnvs() (*envs, error) {
	common := []cel.EnvOption{
		objectTypes(principalType, requestType, eventType),
		ext.Strings(), cel.CrossTypeNumericComparisons(true),
	}
	mk := func(opts ...cel.EnvOption) (*cel.Env, error) {
		return cel.NewEnv(append(common, opts...)...)
	}
	principal := cel.Variable("principal", principalType.t)
	var e envs
	var err error
	if e.who, err = mk(principal); err != nil {
		return nil, err
	}
	if e.when, err = mk(principal, cel.Variable("request", requestType.t)); err != nil {
		return nil, err
	}
	if e.event, err = mk(cel.Variable("event", eventType.t)); err != nil {
		return nil, err
	}
	if e.subject, err = mk(cel.Variable("name", cel.StringType), cel.Variable("claims", stringMap)); err != nil {
		return nil, err
	}
	return &e, nil
}

// compileExpr compiles src in env; the result type must be want or dyn (a
// dyn result is checked at evaluation).
func compileExpr(env *cel.Env, src string, want *cel.Type) (cel.Program, error) {
	ast, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("%s", oneLine(iss.Err().Error()))
	}
	if out := ast.OutputType(); !out.IsExactType(want) && !out.IsExactType(cel.DynType) {
		return nil, fmt.Errorf("must be a %s expression, not %s", want, out)
	}
	prg, err := env.Program(ast, cel.CostLimit(costLimit), cel.InterruptCheckFrequency(100))
	if err != nil {
		return nil, fmt.Errorf("%s", oneLine(err.Error()))
	}
	return prg, nil
}

// oneLine flattens CEL's multi-line error text (with its source excerpt and
// caret) to one line.
func oneLine(s string) string {
	var parts []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "|") {
			continue
		}
		l = strings.TrimPrefix(l, "ERROR: <input>:")
		parts = append(parts, l)
	}
	return strings.Join(parts, "; ")
}

func evalBool(prg cel.Program, vars map[string]any) (bool, error) {
	out, _, err := prg.Eval(vars)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("result is %s, not bool", out.Type().TypeName())
	}
	return bool(b), nil
}

func evalString(prg cel.Program, vars map[string]any) (string, error) {
	out, _, err := prg.Eval(vars)
	if err != nil {
		return "", err
	}
	s, ok := out.(types.String)
	if !ok {
		return "", fmt.Errorf("result is %s, not string", out.Type().TypeName())
	}
	return string(s), nil
}

// Subject is a compiled OIDC subject expression: CEL over `name` (the
// issuer's configured name) and `claims` (the verified token claims),
// yielding the principal's subject string.
type Subject struct {
	Source string
	prg    cel.Program
}

// CompileSubject compiles an OIDC subject expression; "" means
// DefaultSubject. Returns EINVALID when it does not compile or is not a
// string expression.
func CompileSubject(src string) (*Subject, error) {
	if strings.TrimSpace(src) == "" {
		src = DefaultSubject
	}
	e, err := newEnvs()
	if err != nil {
		return nil, stint.Errorf(stint.EINTERNAL, "cel: %v", err)
	}
	prg, err := compileExpr(e.subject, src, cel.StringType)
	if err != nil {
		return nil, stint.Errorf(stint.EINVALID, "%v", err)
	}
	return &Subject{Source: src, prg: prg}, nil
}

// Eval returns the subject for a token of issuer name with claims. Returns
// EUNAUTHORIZED when the expression fails (a missing claim) or yields "".
func (s *Subject) Eval(name string, claims map[string]any) (string, error) {
	if claims == nil {
		claims = map[string]any{}
	}
	v, err := evalString(s.prg, map[string]any{"name": name, "claims": claims})
	if err != nil {
		return "", stint.Errorf(stint.EUNAUTHORIZED, "subject expression: %v", err)
	}
	if v == "" {
		return "", stint.Errorf(stint.EUNAUTHORIZED, "subject expression yields an empty subject")
	}
	return v, nil
}
