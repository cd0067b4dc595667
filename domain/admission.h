// The admission core (seed 001), whole; its parts live in domain/admission/ (see domain/README.md).
#pragma once

#include "domain/admission/ceiling_rules.h"
#include "domain/admission/commands.h"
#include "domain/admission/decision.h"
#include "domain/admission/hierarchy.h"
#include "domain/admission/model.h"
#include "domain/admission/registry.h"
#include "domain/admission/reservations.h"
