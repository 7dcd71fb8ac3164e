package policy

import (
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/stint-io/stint"
)

// The CEL variables principal, request and event are objects with a fixed
// set of fields, declared to the type-checker so that a misspelt field
// (principal.nmae) is a compile error rather than a run-time denial. Their
// free-form parts, principal.claims and event.data, are map(string, dyn).
//
// At run time a field is read by a plain Go accessor (no reflection): the
// checked expression's field selections go through the FieldType.GetFrom of
// the declaration, which returns the Go value that CEL then adapts, exactly
// as it did for the map values these objects replace.

// CEL type names of the variables, as they appear in type errors.
const (
	principalTypeName = "stint.Principal"
	requestTypeName   = "stint.Request"
	eventTypeName     = "stint.Event"
)

var (
	stringMap = cel.MapType(cel.StringType, cel.DynType)
	noClaims  = map[string]any{}
)

// requestFields is what `request` exposes of an access request.
type requestFields struct {
	access, resource, role string
	reason, ticket         string
	ttl                    time.Duration
	time                   time.Time
}

var (
	principalType = declare(principalTypeName,
		field("name", cel.StringType, func(p *stint.Principal) any { return p.Name }),
		field("kind", cel.StringType, func(p *stint.Principal) any { return p.Kind }),
		field("issuer", cel.StringType, func(p *stint.Principal) any { return p.Issuer }),
		field("groups", cel.ListType(cel.StringType), func(p *stint.Principal) any {
			if p.Groups == nil {
				return []string{}
			}
			return p.Groups
		}),
		field("claims", stringMap, func(p *stint.Principal) any {
			if p.Claims == nil {
				return noClaims
			}
			return p.Claims
		}),
	)
	requestType = declare(requestTypeName,
		field("access", cel.StringType, func(r *requestFields) any { return r.access }),
		field("resource", cel.StringType, func(r *requestFields) any { return r.resource }),
		field("role", cel.StringType, func(r *requestFields) any { return r.role }),
		field("ttl", cel.DurationType, func(r *requestFields) any { return r.ttl }),
		field("reason", cel.StringType, func(r *requestFields) any { return r.reason }),
		field("ticket", cel.StringType, func(r *requestFields) any { return r.ticket }),
		field("time", cel.TimestampType, func(r *requestFields) any { return r.time }),
	)
	eventType = declare(eventTypeName,
		field("source", cel.StringType, func(e *Event) any { return e.Source }),
		field("type", cel.StringType, func(e *Event) any { return e.Type }),
		field("id", cel.StringType, func(e *Event) any { return e.ID }),
		field("key", cel.StringType, func(e *Event) any { return e.Key }),
		field("time", cel.TimestampType, func(e *Event) any { return e.Time.UTC() }),
		field("data", stringMap, func(e *Event) any {
			if e.Data == nil {
				return noClaims
			}
			return e.Data
		}),
	)
)

// principalValue is the value of `principal`; p must not change while it is
// in use.
func principalValue(p *stint.Principal) ref.Val { return &object[stint.Principal]{principalType, p} }

func requestValue(req stint.AccessRequest, ttl time.Duration, now time.Time) ref.Val {
	res, role := stint.SplitAccess(req.Access)
	return &object[requestFields]{requestType, &requestFields{
		access: req.Access, resource: res, role: role,
		reason: req.Reason, ticket: req.Ticket, ttl: ttl, time: now.UTC(),
	}}
}

func eventValue(ev Event) ref.Val { return &object[Event]{eventType, &ev} }

// objectType is the declaration of a CEL object type.
type objectType struct {
	t      *types.Type
	fields map[string]*types.FieldType
	names  []string
}

// fieldDef is one field of an object type over Go values of type T.
type fieldDef[T any] struct {
	name string
	t    *types.Type
	get  func(*T) any
}

func field[T any](name string, t *types.Type, get func(*T) any) fieldDef[T] {
	return fieldDef[T]{name, t, get}
}

func declare[T any](name string, defs ...fieldDef[T]) *objectType {
	ot := &objectType{t: types.NewObjectType(name), fields: make(map[string]*types.FieldType, len(defs))}
	for _, d := range defs {
		get := d.get
		ot.names = append(ot.names, d.name)
		ot.fields[d.name] = &types.FieldType{
			Type:  d.t,
			IsSet: func(any) bool { return true }, // every field is always present, as map keys were
			GetFrom: func(target any) (any, error) {
				o, ok := target.(*object[T])
				if !ok {
					return nil, fmt.Errorf("no such field %q on %T", d.name, target)
				}
				return get(o.v), nil
			},
		}
	}
	return ot
}

// object is the run-time CEL value of a variable of an object type.
type object[T any] struct {
	typ *objectType
	v   *T
}

func (o *object[T]) ConvertToNative(t reflect.Type) (any, error) {
	return nil, fmt.Errorf("type conversion error from %s to %v", o.typ.t, t)
}

func (o *object[T]) ConvertToType(t ref.Type) ref.Val {
	switch {
	case t == types.TypeType:
		return o.typ.t
	case t.TypeName() == o.typ.t.TypeName():
		return o
	}
	return types.NewErr("type conversion error from %s to %s", o.typ.t, t)
}

func (o *object[T]) Equal(other ref.Val) ref.Val { return types.Bool(o == other) }
func (o *object[T]) Type() ref.Type              { return o.typ.t }
func (o *object[T]) Value() any                  { return o }

// Get implements traits.Indexer, for field access that the checker could
// not resolve statically (on a dyn operand).
func (o *object[T]) Get(index ref.Val) ref.Val {
	name, ok := index.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(index)
	}
	ft, ok := o.typ.fields[string(name)]
	if !ok {
		return types.NewErr("no such field: %s", name)
	}
	v, err := ft.GetFrom(o)
	if err != nil {
		return types.WrapErr(err)
	}
	return types.DefaultTypeAdapter.NativeToValue(v)
}

// IsSet implements traits.FieldTester.
func (o *object[T]) IsSet(field ref.Val) ref.Val {
	name, ok := field.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(field)
	}
	_, ok = o.typ.fields[string(name)]
	return types.Bool(ok)
}

// objectProvider adds the object types to the environment's type provider.
type objectProvider struct {
	types.Provider
	objs map[string]*objectType
}

// objectTypes is an environment option declaring the object types.
func objectTypes(objs ...*objectType) cel.EnvOption {
	return func(env *cel.Env) (*cel.Env, error) {
		p := &objectProvider{Provider: env.CELTypeProvider(), objs: make(map[string]*objectType, len(objs))}
		for _, o := range objs {
			p.objs[o.t.TypeName()] = o
		}
		return cel.CustomTypeProvider(p)(env)
	}
}

func (p *objectProvider) FindStructType(name string) (*types.Type, bool) {
	if o, ok := p.objs[name]; ok {
		return types.NewTypeTypeWithParam(o.t), true
	}
	return p.Provider.FindStructType(name)
}

func (p *objectProvider) FindStructFieldNames(name string) ([]string, bool) {
	if o, ok := p.objs[name]; ok {
		return slices.Clone(o.names), true
	}
	return p.Provider.FindStructFieldNames(name)
}

func (p *objectProvider) FindStructFieldType(name, field string) (*types.FieldType, bool) {
	if o, ok := p.objs[name]; ok {
		ft, ok := o.fields[field]
		return ft, ok
	}
	return p.Provider.FindStructFieldType(name, field)
}

func (p *objectProvider) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if _, ok := p.objs[name]; ok {
		return types.NewErr("%s values cannot be constructed", name)
	}
	return p.Provider.NewValue(name, fields)
}
