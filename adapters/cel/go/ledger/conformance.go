package ledger

// The CEL specification's conformance suite (simple tests), run through the
// ledger's environment: BaseOptions() plus each test's own declarations and
// container, with the engine's cost limit. Tests only; the services never
// call this.

import (
	"bytes"
	"fmt"
	"math"
	"strings"

	celpb "cel.dev/expr"
	ctest "cel.dev/expr/conformance/test"
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"google.golang.org/protobuf/encoding/prototext"

	// The conformance files carry TestAllTypes values inside Any fields:
	// registered so that the files parse; the cases that need them are
	// skipped (the ledger's environments never declare these types).
	_ "cel.dev/expr/conformance/proto2"
	_ "cel.dev/expr/conformance/proto3"
)

// CaseResult is one test's outcome: "passed", "failed" or "skipped".
type CaseResult struct {
	Section string `json:"section"`
	Name    string `json:"name"`
	Outcome string `json:"outcome"`
	Detail  string `json:"detail,omitempty"`
}

// FileReport is one conformance file's outcome.
type FileReport struct {
	Name    string       `json:"name"`
	Passed  int          `json:"passed"`
	Failed  int          `json:"failed"`
	Skipped int          `json:"skipped"`
	Cases   []CaseResult `json:"cases"`
	Error   string       `json:"error,omitempty"`
}

// needsTestMessages says whether a test needs the conformance suite's own
// protobuf messages (cel.expr.conformance.proto2/proto3 TestAllTypes and
// friends), which the ledger does not expose.
func needsTestMessages(t *ctest.SimpleTest) bool {
	const marker = "cel.expr.conformance."
	if strings.Contains(t.GetContainer(), marker) || strings.Contains(t.GetExpr(), "TestAllTypes") {
		return true
	}
	var buf strings.Builder
	for _, d := range t.GetTypeEnv() {
		buf.WriteString(prototext.Format(d))
	}
	for _, b := range t.GetBindings() {
		buf.WriteString(prototext.Format(b))
	}
	if v := t.GetValue(); v != nil {
		buf.WriteString(prototext.Format(v))
	}
	s := buf.String()
	return strings.Contains(s, marker) || strings.Contains(s, "TestAllTypes")
}

// RunConformanceFile runs every test of one SimpleTestFile in text format.
func RunConformanceFile(textproto []byte, costLimit uint64) FileReport {
	var file ctest.SimpleTestFile
	if err := prototext.Unmarshal(textproto, &file); err != nil {
		return FileReport{Error: "cannot parse the test file: " + err.Error()}
	}
	rep := FileReport{Name: file.GetName()}
	for _, sec := range file.GetSection() {
		for _, t := range sec.GetTest() {
			res := CaseResult{Section: sec.GetName(), Name: t.GetName()}
			if needsTestMessages(t) {
				res.Outcome, res.Detail = "skipped", "needs the conformance TestAllTypes protobuf messages"
				rep.Skipped++
			} else if err := runCase(t, costLimit); err != nil {
				res.Outcome, res.Detail = "failed", err.Error()
				rep.Failed++
			} else {
				res.Outcome = "passed"
				rep.Passed++
			}
			rep.Cases = append(rep.Cases, res)
		}
	}
	return rep
}

func runCase(t *ctest.SimpleTest, costLimit uint64) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	opts := BaseOptions()
	if c := t.GetContainer(); c != "" {
		opts = append(opts, cel.Container(c))
	}
	if t.GetDisableMacros() {
		opts = append(opts, cel.ClearMacros())
	}
	for _, d := range t.GetTypeEnv() {
		o, err := cel.ProtoAsDeclaration(d)
		if err != nil {
			return fmt.Errorf("declaration %s: %v", d.GetName(), err)
		}
		opts = append(opts, o)
	}
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return fmt.Errorf("environment: %v", err)
	}
	var ast *cel.Ast
	var iss *cel.Issues
	if t.GetDisableCheck() {
		ast, iss = env.Parse(t.GetExpr())
	} else {
		ast, iss = env.Compile(t.GetExpr())
	}
	if iss.Err() != nil {
		return fmt.Errorf("compile: %v", iss.Err())
	}
	if t.GetCheckOnly() {
		if tr := t.GetTypedResult(); tr != nil && tr.GetDeducedType() != nil {
			want, err := types.ProtoAsType(tr.GetDeducedType())
			if err != nil {
				return err
			}
			if !ast.OutputType().IsExactType(want) {
				return fmt.Errorf("deduced type %s, want %s", ast.OutputType(), want)
			}
		}
		return nil
	}
	prg, err := env.Program(ast, cel.CostLimit(costLimit))
	if err != nil {
		return fmt.Errorf("program: %v", err)
	}
	vars := map[string]any{}
	for name, b := range t.GetBindings() {
		if b.GetValue() == nil {
			return fmt.Errorf("binding %s is not a value", name)
		}
		v, err := cel.ProtoAsValue(env.CELTypeAdapter(), b.GetValue())
		if err != nil {
			return fmt.Errorf("binding %s: %v", name, err)
		}
		vars[name] = v
	}
	out, _, evalErr := prg.Eval(vars)
	switch m := t.GetResultMatcher().(type) {
	case nil:
		return expectValue(out, evalErr, &celpb.Value{Kind: &celpb.Value_BoolValue{BoolValue: true}})
	case *ctest.SimpleTest_Value:
		return expectValue(out, evalErr, m.Value)
	case *ctest.SimpleTest_TypedResult:
		if tr := m.TypedResult; tr.GetDeducedType() != nil {
			want, err := types.ProtoAsType(tr.GetDeducedType())
			if err != nil {
				return err
			}
			if !ast.OutputType().IsExactType(want) {
				return fmt.Errorf("deduced type %s, want %s", ast.OutputType(), want)
			}
		}
		return expectValue(out, evalErr, m.TypedResult.GetResult())
	case *ctest.SimpleTest_EvalError, *ctest.SimpleTest_AnyEvalErrors:
		if evalErr == nil && !types.IsError(out) {
			return fmt.Errorf("want an evaluation error, got %v", out)
		}
		return nil
	default:
		return fmt.Errorf("unsupported result matcher %T", m)
	}
}

func expectValue(out ref.Val, evalErr error, want *celpb.Value) error {
	if evalErr != nil {
		return fmt.Errorf("evaluation error: %v", evalErr)
	}
	got, err := cel.ValueAsProto(out)
	if err != nil {
		return fmt.Errorf("result %v: %v", out, err)
	}
	if !sameValue(got, want) {
		return fmt.Errorf("got %s, want %s", prototext.MarshalOptions{}.Format(got), prototext.MarshalOptions{}.Format(want))
	}
	return nil
}

// sameValue compares two values as the conformance suite means them: maps
// regardless of entry order, NaN equal to NaN.
func sameValue(a, b *celpb.Value) bool {
	switch av := a.GetKind().(type) {
	case *celpb.Value_NullValue:
		_, ok := b.GetKind().(*celpb.Value_NullValue)
		return ok
	case *celpb.Value_BoolValue:
		bv, ok := b.GetKind().(*celpb.Value_BoolValue)
		return ok && av.BoolValue == bv.BoolValue
	case *celpb.Value_Int64Value:
		bv, ok := b.GetKind().(*celpb.Value_Int64Value)
		return ok && av.Int64Value == bv.Int64Value
	case *celpb.Value_Uint64Value:
		bv, ok := b.GetKind().(*celpb.Value_Uint64Value)
		return ok && av.Uint64Value == bv.Uint64Value
	case *celpb.Value_DoubleValue:
		bv, ok := b.GetKind().(*celpb.Value_DoubleValue)
		if !ok {
			return false
		}
		if math.IsNaN(av.DoubleValue) && math.IsNaN(bv.DoubleValue) {
			return true
		}
		return av.DoubleValue == bv.DoubleValue
	case *celpb.Value_StringValue:
		bv, ok := b.GetKind().(*celpb.Value_StringValue)
		return ok && av.StringValue == bv.StringValue
	case *celpb.Value_BytesValue:
		bv, ok := b.GetKind().(*celpb.Value_BytesValue)
		return ok && bytes.Equal(av.BytesValue, bv.BytesValue)
	case *celpb.Value_TypeValue:
		bv, ok := b.GetKind().(*celpb.Value_TypeValue)
		return ok && av.TypeValue == bv.TypeValue
	case *celpb.Value_EnumValue:
		bv, ok := b.GetKind().(*celpb.Value_EnumValue)
		return ok && av.EnumValue.GetType() == bv.EnumValue.GetType() && av.EnumValue.GetValue() == bv.EnumValue.GetValue()
	case *celpb.Value_ObjectValue:
		bv, ok := b.GetKind().(*celpb.Value_ObjectValue)
		if !ok {
			return false
		}
		am, err1 := av.ObjectValue.UnmarshalNew()
		bm, err2 := bv.ObjectValue.UnmarshalNew()
		if err1 != nil || err2 != nil {
			return false
		}
		return types.DefaultTypeAdapter.NativeToValue(am).Equal(types.DefaultTypeAdapter.NativeToValue(bm)) == types.True
	case *celpb.Value_ListValue:
		bv, ok := b.GetKind().(*celpb.Value_ListValue)
		if !ok || len(av.ListValue.GetValues()) != len(bv.ListValue.GetValues()) {
			return false
		}
		for i, x := range av.ListValue.GetValues() {
			if !sameValue(x, bv.ListValue.GetValues()[i]) {
				return false
			}
		}
		return true
	case *celpb.Value_MapValue:
		bv, ok := b.GetKind().(*celpb.Value_MapValue)
		if !ok || len(av.MapValue.GetEntries()) != len(bv.MapValue.GetEntries()) {
			return false
		}
		for _, e := range av.MapValue.GetEntries() {
			found := false
			for _, f := range bv.MapValue.GetEntries() {
				if sameValue(e.GetKey(), f.GetKey()) {
					found = sameValue(e.GetValue(), f.GetValue())
					break
				}
			}
			if !found {
				return false
			}
		}
		return true
	}
	return false
}
