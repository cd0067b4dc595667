// Built like domain/: the command layer above is out of sight too.
#include "commands/command.h"
