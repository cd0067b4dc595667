// Package ledger is the policy ledger's CEL environment over cel-go: the
// declared variables of a custom_cel policy (domain/app_policy/expression.h),
// the one extension function, the limits, and check/compile/evaluate. The C
// ABI in ../cabi wraps it for the C++ services; nothing here knows about C.
//
// The CEL type names of the two objects come from this package's name:
// `ledger.Request` and `ledger.Actor`.
package ledger

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"
)

// MaxExpressionLength is the longest expression accepted, in Unicode code
// points (the parser refuses longer ones before doing any work).
const MaxExpressionLength = 4096

// MaxNesting is the deepest expression tree the parser accepts.
const MaxNesting = 64

// Request is the `request` variable: an object with fixed, type-checked
// fields (`request.modell` is a check error, not a runtime surprise).
type Request struct {
	Time            time.Time `cel:"time"`
	Model           string    `cel:"model"`
	SizeBytes       int64     `cel:"size_bytes"`
	EstimatedTokens int64     `cel:"estimated_tokens"`
	ActualTokens    int64     `cel:"actual_tokens"`
}

// Actor is the `actor` variable.
type Actor struct {
	ID   string `cel:"id"`
	Type string `cel:"type"`
}

// Input carries the values of the declared variables for one evaluation.
type Input struct {
	AppID, OrgID, ActorID, ActorType, Model string
	TimeUnixMs, SizeBytes, EstimatedTokens  int64
	ActualTokens                            int64
}

// Issue is one parse or check error, at a character (code point) offset of
// the expression, -1 when cel-go gives no location.
type Issue struct {
	Message  string
	Position int64
}

// ErrCostExceeded is returned (wrapped) when an evaluation goes over the cost limit.
var ErrCostExceeded = errors.New("cel_cost_exceeded")

// BaseOptions is what every environment of the ledger has, the conformance
// runner's included: the CEL standard library (cel.NewEnv's default), the
// parser limits and the `timestamp.getDayOfWeek` extension.
func BaseOptions() []cel.EnvOption {
	return []cel.EnvOption{
		cel.ParserExpressionSizeLimit(MaxExpressionLength),
		cel.ParserRecursionLimit(MaxNesting),
		dayOfWeekExtension(),
	}
}

// dayOfWeekExtension declares `timestamp.getDayOfWeek(t)`, the spelling the
// seed writes, as a namespaced function with exactly the meaning of the
// standard `t.getDayOfWeek()`: the day of the week in UTC, 0 = Sunday.
func dayOfWeekExtension() cel.EnvOption {
	return cel.Function("timestamp.getDayOfWeek",
		cel.Overload("ledger_timestamp_get_day_of_week_timestamp",
			[]*cel.Type{cel.TimestampType}, cel.IntType,
			cel.UnaryBinding(func(v ref.Val) ref.Val {
				ts, ok := v.(types.Timestamp)
				if !ok {
					return types.MaybeNoSuchOverloadErr(v)
				}
				return types.Int(int64(ts.Time.UTC().Weekday()))
			})))
}

// Engine holds the ledger's environment; safe for concurrent use.
type Engine struct {
	env       *cel.Env
	costLimit uint64
}

// NewEngine builds the environment with the declared variables.
func NewEngine(costLimit uint64) (*Engine, error) {
	opts := append(BaseOptions(),
		ext.NativeTypes(ext.ParseStructTags(true), reflect.TypeOf(Request{}), reflect.TypeOf(Actor{})),
		cel.Variable("request", cel.ObjectType("ledger.Request")),
		cel.Variable("actor", cel.ObjectType("ledger.Actor")),
		cel.Variable("estimated_tokens", cel.IntType),
		cel.Variable("actual_tokens", cel.IntType),
		cel.Variable("model", cel.StringType),
		cel.Variable("app_id", cel.StringType),
		cel.Variable("org_id", cel.StringType),
	)
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, err
	}
	return &Engine{env: env, costLimit: costLimit}, nil
}

// IssuesOf turns cel-go issues into messages with code point offsets.
func IssuesOf(src common.Source, iss *cel.Issues) []Issue {
	var out []Issue
	for _, e := range iss.Errors() {
		pos := int64(-1)
		if e.Location != nil && e.Location.Line() > 0 {
			if off, ok := src.LocationOffset(e.Location); ok {
				pos = int64(off)
			}
		}
		out = append(out, Issue{Message: e.Message, Position: pos})
	}
	return out
}

// compileAst parses and type-checks; the result must be a bool.
func (g *Engine) compileAst(expr string) (*cel.Ast, []Issue) {
	if n := len([]rune(expr)); n > MaxExpressionLength {
		return nil, []Issue{{Message: fmt.Sprintf("expression is %d characters long, the limit is %d", n, MaxExpressionLength), Position: MaxExpressionLength}}
	}
	if strings.TrimSpace(expr) == "" {
		return nil, []Issue{{Message: "expression is empty", Position: 0}}
	}
	src := common.NewTextSource(expr)
	ast, iss := g.env.CompileSource(src)
	if iss.Err() != nil {
		return nil, IssuesOf(src, iss)
	}
	if !ast.OutputType().IsExactType(cel.BoolType) && !ast.OutputType().IsExactType(cel.DynType) {
		return nil, []Issue{{Message: fmt.Sprintf("expression must be a bool, it is a %s", ast.OutputType()), Position: 0}}
	}
	return ast, nil
}

// Check parses and type-checks expr against the declared variables.
func (g *Engine) Check(expr string) []Issue {
	_, iss := g.compileAst(expr)
	return iss
}

// Program is a compiled expression; safe for concurrent evaluation.
type Program struct {
	prg cel.Program
}

// Compile checks expr and plans a program with the engine's cost limit.
func (g *Engine) Compile(expr string) (*Program, []Issue) {
	ast, iss := g.compileAst(expr)
	if iss != nil {
		return nil, iss
	}
	prg, err := g.env.Program(ast, cel.CostLimit(g.costLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, []Issue{{Message: err.Error(), Position: -1}}
	}
	return &Program{prg: prg}, nil
}

// Evaluate runs the program; the result must be a bool. Over the cost limit
// the error wraps ErrCostExceeded.
func (p *Program) Evaluate(in *Input) (bool, error) {
	out, _, err := p.prg.Eval(&inputActivation{in: in})
	if err != nil {
		return false, classify(err)
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("expression evaluated to %s, not a bool", out.Type().(ref.Type).TypeName())
	}
	return bool(b), nil
}

// inputActivation resolves the declared variables straight from the input,
// building only what an expression reads (no per-evaluation map).
type inputActivation struct {
	in *Input
}

func (a *inputActivation) ResolveName(name string) (any, bool) {
	in := a.in
	switch name {
	case "estimated_tokens":
		return types.Int(in.EstimatedTokens), true
	case "actual_tokens":
		return types.Int(in.ActualTokens), true
	case "model":
		return types.String(in.Model), true
	case "app_id":
		return types.String(in.AppID), true
	case "org_id":
		return types.String(in.OrgID), true
	case "request":
		return &Request{Time: time.UnixMilli(in.TimeUnixMs).UTC(), Model: in.Model, SizeBytes: in.SizeBytes,
			EstimatedTokens: in.EstimatedTokens, ActualTokens: in.ActualTokens}, true
	case "actor":
		return &Actor{ID: in.ActorID, Type: in.ActorType}, true
	}
	return nil, false
}

func (a *inputActivation) Parent() interpreter.Activation { return nil }

func classify(err error) error {
	var cancelled interpreter.EvalCancelledError
	if errors.As(err, &cancelled) && cancelled.Cause == interpreter.CostLimitExceeded {
		return fmt.Errorf("%w: %s", ErrCostExceeded, err.Error())
	}
	if strings.Contains(err.Error(), "cost limit exceeded") {
		return fmt.Errorf("%w: %s", ErrCostExceeded, err.Error())
	}
	return err
}
