// Command cabi is the C ABI of the ledger's CEL module, built with
// `go build -buildmode=c-archive`; the contract is in ../../ledger_cel.h.
package main

/*
#cgo CFLAGS: -I${SRCDIR}/../..
#define LEDGER_CEL_NO_PROTOTYPES
#include <stdlib.h>
#include "ledger_cel.h"
*/
import "C"

import (
	"encoding/json"
	"errors"
	"runtime/cgo"
	"unsafe"

	"policyledger/cel/ledger"
)

func main() {}

func goString(p *C.char, n C.size_t) string {
	if p == nil || n == 0 {
		return ""
	}
	return C.GoStringN(p, C.int(n))
}

func writeIssues(iss []ledger.Issue, out **C.ledger_cel_issue, count *C.size_t) {
	*count = C.size_t(len(iss))
	if len(iss) == 0 {
		*out = nil
		return
	}
	size := C.size_t(unsafe.Sizeof(C.ledger_cel_issue{}))
	arr := (*C.ledger_cel_issue)(C.malloc(size * C.size_t(len(iss))))
	items := unsafe.Slice(arr, len(iss))
	for i, is := range iss {
		items[i].position = C.int64_t(is.Position)
		items[i].message = C.CString(is.Message)
	}
	*out = arr
}

func engineOf(h C.uint64_t) (*ledger.Engine, bool) {
	if h == 0 {
		return nil, false
	}
	defer func() { _ = recover() }() // cgo.Handle.Value panics on an unknown handle
	e, ok := cgo.Handle(uintptr(h)).Value().(*ledger.Engine)
	return e, ok
}

func programOf(h C.uint64_t) (p *ledger.Program, ok bool) {
	if h == 0 {
		return nil, false
	}
	defer func() {
		if recover() != nil {
			p, ok = nil, false
		}
	}()
	p, ok = cgo.Handle(uintptr(h)).Value().(*ledger.Program)
	return p, ok
}

//export ledger_cel_engine_new
func ledger_cel_engine_new(costLimit C.uint64_t, errOut **C.char) C.uint64_t {
	e, err := ledger.NewEngine(uint64(costLimit))
	if err != nil {
		if errOut != nil {
			*errOut = C.CString(err.Error())
		}
		return 0
	}
	return C.uint64_t(cgo.NewHandle(e))
}

//export ledger_cel_engine_free
func ledger_cel_engine_free(h C.uint64_t) {
	if _, ok := engineOf(h); ok {
		cgo.Handle(uintptr(h)).Delete()
	}
}

//export ledger_cel_check
func ledger_cel_check(h C.uint64_t, expr *C.char, n C.size_t, issues **C.ledger_cel_issue, count *C.size_t) C.int {
	*issues, *count = nil, 0
	e, ok := engineOf(h)
	if !ok {
		return C.LEDGER_CEL_BAD_HANDLE
	}
	iss := e.Check(goString(expr, n))
	if len(iss) == 0 {
		return C.LEDGER_CEL_OK
	}
	writeIssues(iss, issues, count)
	return C.LEDGER_CEL_INVALID
}

//export ledger_cel_compile
func ledger_cel_compile(h C.uint64_t, expr *C.char, n C.size_t, program *C.uint64_t, issues **C.ledger_cel_issue, count *C.size_t) C.int {
	*program, *issues, *count = 0, nil, 0
	e, ok := engineOf(h)
	if !ok {
		return C.LEDGER_CEL_BAD_HANDLE
	}
	p, iss := e.Compile(goString(expr, n))
	if p == nil {
		writeIssues(iss, issues, count)
		return C.LEDGER_CEL_INVALID
	}
	*program = C.uint64_t(cgo.NewHandle(p))
	return C.LEDGER_CEL_OK
}

//export ledger_cel_program_free
func ledger_cel_program_free(h C.uint64_t) {
	if _, ok := programOf(h); ok {
		cgo.Handle(uintptr(h)).Delete()
	}
}

//export ledger_cel_evaluate
func ledger_cel_evaluate(h C.uint64_t, in *C.ledger_cel_input, result *C.int, message **C.char) C.int {
	*result, *message = 0, nil
	p, ok := programOf(h)
	if !ok {
		return C.LEDGER_CEL_BAD_HANDLE
	}
	input := ledger.Input{
		AppID:           goString(in.app_id, in.app_id_len),
		OrgID:           goString(in.org_id, in.org_id_len),
		ActorID:         goString(in.actor_id, in.actor_id_len),
		ActorType:       goString(in.actor_type, in.actor_type_len),
		Model:           goString(in.model, in.model_len),
		TimeUnixMs:      int64(in.time_unix_ms),
		SizeBytes:       int64(in.size_bytes),
		EstimatedTokens: int64(in.estimated_tokens),
		ActualTokens:    int64(in.actual_tokens),
	}
	v, err := p.Evaluate(&input)
	if err != nil {
		*message = C.CString(err.Error())
		if errors.Is(err, ledger.ErrCostExceeded) {
			return C.LEDGER_CEL_COST_EXCEEDED
		}
		return C.LEDGER_CEL_EVAL_FAILED
	}
	if v {
		*result = 1
	}
	return C.LEDGER_CEL_OK
}

//export ledger_cel_issues_free
func ledger_cel_issues_free(issues *C.ledger_cel_issue, n C.size_t) {
	if issues == nil {
		return
	}
	for _, is := range unsafe.Slice(issues, int(n)) {
		C.free(unsafe.Pointer(is.message))
	}
	C.free(unsafe.Pointer(issues))
}

//export ledger_cel_string_free
func ledger_cel_string_free(s *C.char) {
	C.free(unsafe.Pointer(s))
}

//export ledger_cel_conformance_run
func ledger_cel_conformance_run(text *C.char, n C.size_t, costLimit C.uint64_t) *C.char {
	rep := ledger.RunConformanceFile(C.GoBytes(unsafe.Pointer(text), C.int(n)), uint64(costLimit))
	out, err := json.Marshal(rep)
	if err != nil {
		out = []byte(`{"error":"cannot encode the report"}`)
	}
	return C.CString(string(out))
}
