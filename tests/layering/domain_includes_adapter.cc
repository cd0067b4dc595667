// Built like domain/ (linking only ledger::domain): must NOT compile.
#include "adapters/kafka/kafka.h"
