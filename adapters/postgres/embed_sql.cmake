# Writes every *.sql file of DIR into a C++ source as a sorted list of
# (name, text) pairs: ledger::adapters::embedded_sql().
file(GLOB files ${DIR}/*.sql)
list(SORT files)
set(body "#include <string>\n#include <utility>\n#include <vector>\nnamespace ledger::adapters {\nconst std::vector<std::pair<std::string, std::string>>& embedded_sql() {\n  static const std::vector<std::pair<std::string, std::string>> kFiles = {\n")
foreach(f ${files})
  get_filename_component(name ${f} NAME)
  file(READ ${f} text)
  string(APPEND body "    {\"${name}\", R\"__sql__(${text})__sql__\"},\n")
endforeach()
string(APPEND body "  };\n  return kFiles;\n}\n}  // namespace ledger::adapters\n")
file(WRITE ${OUT} "${body}")
