// Built like projections/ (linking ledger::projections): must NOT compile.
#include "adapters/postgres/read_model_store.h"
