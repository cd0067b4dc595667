// Positive control for the layering tests: a file built like domain/ finds
// the headers of domain/ and events/.
#include "domain/admission.h"
#include "events/event.h"
