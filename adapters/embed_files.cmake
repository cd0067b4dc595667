# Writes files into a C++ source as a sorted list of (name, text) pairs,
# returned by `const std::vector<std::pair<std::string, std::string>>&
# ledger::adapters::FUNCTION()`, so nothing reads the source tree at run time.
#   -DOUT=file.cc -DFUNCTION=name -DBASE=dir -DPATTERNS="dir/*.sql|dir2/*.json"
# A file's name is its path relative to BASE.
string(REPLACE "|" ";" patterns "${PATTERNS}")
file(GLOB files ${patterns})
list(SORT files)
set(body "#include <string>\n#include <utility>\n#include <vector>\nnamespace ledger::adapters {\n")
string(APPEND body "const std::vector<std::pair<std::string, std::string>>& ${FUNCTION}() {\n")
string(APPEND body "  static const std::vector<std::pair<std::string, std::string>> kFiles = {\n")
foreach(f ${files})
  file(RELATIVE_PATH name ${BASE} ${f})
  file(READ ${f} text)
  string(FIND "${text}" ")__file__\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${f} holds the raw-string delimiter )__file__\"")
  endif()
  string(APPEND body "    {\"${name}\", R\"__file__(${text})__file__\"},\n")
endforeach()
string(APPEND body "  };\n  return kFiles;\n}\n}  // namespace ledger::adapters\n")
file(WRITE ${OUT} "${body}")
