// The C ABI of the ledger's CEL module (cel-go, built as a Go c-archive from
// adapters/cel/go/cabi). Only adapters/cel/cel_engine.cc includes it.
//
// Contracts:
//  - Engines and programs are opaque handles (never 0 when valid), released
//    with their *_free function; a released handle must not be used again.
//  - C never holds a Go pointer: every string and array the module returns
//    is a malloc'd copy the caller releases with ledger_cel_string_free /
//    ledger_cel_issues_free. Input strings are read during the call only
//    (pointer + length, not NUL-terminated) and copied by Go.
//  - Every function is safe to call from many threads at once; one program
//    may be evaluated concurrently.
//  - Positions are character (Unicode code point) offsets in the
//    expression, -1 when unknown.
#ifndef LEDGER_ADAPTERS_CEL_LEDGER_CEL_H
#define LEDGER_ADAPTERS_CEL_LEDGER_CEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
  LEDGER_CEL_OK = 0,
  LEDGER_CEL_INVALID = 1,        // parse / type-check issues (see the issues out-parameter)
  LEDGER_CEL_EVAL_FAILED = 2,    // a runtime error or a non-bool result (message set)
  LEDGER_CEL_COST_EXCEEDED = 3,  // over the engine's cost limit (message set)
  LEDGER_CEL_BAD_HANDLE = 4,     // an unknown or released handle
  LEDGER_CEL_INTERNAL = 5        // anything else (message set where there is one)
};

// C (cgo compiles this header too): typedef'd structs, names in the C ABI's
// snake_case.
// NOLINTBEGIN(modernize-use-using, readability-identifier-naming)
typedef struct ledger_cel_issue {
  int64_t position;
  char* message;
} ledger_cel_issue;

typedef struct ledger_cel_input {
  const char* app_id;
  size_t app_id_len;
  const char* org_id;
  size_t org_id_len;
  const char* actor_id;
  size_t actor_id_len;
  const char* actor_type;
  size_t actor_type_len;
  const char* model;
  size_t model_len;
  int64_t time_unix_ms;
  int64_t size_bytes;
  int64_t estimated_tokens;
  int64_t actual_tokens;
} ledger_cel_input;
// NOLINTEND(modernize-use-using, readability-identifier-naming)

#ifndef LEDGER_CEL_NO_PROTOTYPES

// A new engine whose programs stop at `cost_limit` cost units per
// evaluation. 0 on failure, with *error set (free it).
uint64_t ledger_cel_engine_new(uint64_t cost_limit, char** error);
void ledger_cel_engine_free(uint64_t engine);

// Parses and type-checks. LEDGER_CEL_OK, or LEDGER_CEL_INVALID with
// *issues / *issue_count set.
int ledger_cel_check(uint64_t engine, const char* expr, size_t expr_len, ledger_cel_issue** issues,
                     size_t* issue_count);

// Checks and plans a program: LEDGER_CEL_OK with *program set, or
// LEDGER_CEL_INVALID with issues.
int ledger_cel_compile(uint64_t engine, const char* expr, size_t expr_len, uint64_t* program, ledger_cel_issue** issues,
                       size_t* issue_count);
void ledger_cel_program_free(uint64_t program);

// Evaluates: LEDGER_CEL_OK with *result 0/1, or an error status with *message.
int ledger_cel_evaluate(uint64_t program, const ledger_cel_input* input, int* result, char** message);

void ledger_cel_issues_free(ledger_cel_issue* issues, size_t issue_count);
void ledger_cel_string_free(char* s);

// Tests only: runs one file of the CEL conformance suite (a SimpleTestFile
// in protobuf text format) through the ledger's environment; a JSON report
// {name, passed, failed, skipped, cases[{section,name,outcome,detail}], error}.
char* ledger_cel_conformance_run(const char* textproto, size_t len, uint64_t cost_limit);

#endif  // LEDGER_CEL_NO_PROTOTYPES

#ifdef __cplusplus
}
#endif

#endif  // LEDGER_ADAPTERS_CEL_LEDGER_CEL_H
