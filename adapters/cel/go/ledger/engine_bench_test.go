package ledger

// The same three expressions as bench/cel_bench.cc, evaluated in Go without
// the C ABI: the difference to cel-bench is the cost of crossing cgo and
// copying the input. Run: (cd adapters/cel/go && go test -run '^$' -bench . ./ledger)

import "testing"

var benchCases = []struct{ name, expr string }{
	{"token_limit", "estimated_tokens < 5000"},
	{"model_field", "request.model != 'gpt-4-32k'"},
	{"mixed", "timestamp.getDayOfWeek(request.time) < 6 && request.model in ['gpt-4o', 'gpt-4o-mini', 'claude-3-5'] && " +
		"actor.type == 'user' && !app_id.startsWith('test-')"},
}

func benchInput() *Input {
	return &Input{AppID: "app-123", OrgID: "org-acme", ActorID: "u-1", ActorType: "user", Model: "gpt-4o",
		TimeUnixMs: 1736942400000, SizeBytes: 2048, EstimatedTokens: 1200}
}

func BenchmarkEvaluateInGo(b *testing.B) {
	e, err := NewEngine(100000)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range benchCases {
		b.Run(c.name, func(b *testing.B) {
			p, iss := e.Compile(c.expr)
			if p == nil {
				b.Fatal(iss)
			}
			in := benchInput()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if v, err := p.Evaluate(in); err != nil || !v {
					b.Fatal(v, err)
				}
			}
		})
	}
}

func BenchmarkCompileInGo(b *testing.B) {
	e, err := NewEngine(100000)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range benchCases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if p, iss := e.Compile(c.expr); p == nil {
					b.Fatal(iss)
				}
			}
		})
	}
}
