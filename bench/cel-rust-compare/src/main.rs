// cel-rust (crate `cel` 0.15) on the expressions of bench/cel_bench.cc: compile,
// and one evaluation with the variables set in an inner scope of one root
// context each time (as a service would per request). `mixed` leaves out
// the day-of-week clause (the ledger's extension function).
use cel::{Context, Program};
use std::time::Instant;

fn main() {
    let cases = [
        ("token_limit", "estimated_tokens < 5000"),
        ("model_field", "request.model != 'gpt-4-32k'"),
        ("mixed", "request.model in ['gpt-4o', 'gpt-4o-mini', 'claude-3-5'] && actor.type == 'user' && !app_id.startsWith('test-')"),
    ];
    for (name, expr) in cases {
        let n = 20_000;
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(Program::compile(expr).unwrap());
        }
        let compile_ns = t.elapsed().as_nanos() as f64 / n as f64;
        let program = Program::compile(expr).unwrap();
        let n = 1_000_000;
        let root = Context::default();
        let t = Instant::now();
        for _ in 0..n {
            let mut ctx = root.new_inner_scope();
            ctx.add_variable_from_value("estimated_tokens", 1200i64);
            ctx.add_variable_from_value("app_id", "app-123");
            let mut req = std::collections::HashMap::new();
            req.insert("model".to_string(), "gpt-4o".to_string());
            ctx.add_variable("request", req).unwrap();
            let mut actor = std::collections::HashMap::new();
            actor.insert("type".to_string(), "user".to_string());
            ctx.add_variable("actor", actor).unwrap();
            let v = program.execute(&ctx).unwrap();
            std::hint::black_box(v);
        }
        let eval_ns = t.elapsed().as_nanos() as f64 / n as f64;
        println!("{name}: compile {compile_ns:.0} ns, evaluate (inner scope of one root context) {eval_ns:.0} ns");
    }
}
